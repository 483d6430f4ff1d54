"""The terminal when the host refuses its reversal: the journal books what the host keeps.

A sale's answer is lost and its reversal cannot reach the host (the network is
down for it); meanwhile the merchant refunds the sale by the RRN on the host's
statement. When the reversal finally arrives the host refuses it (0410, DE39
12: money was already given back against the sale) and the terminal books the
sale as approved, so its batch, the ledger and the cardholder's statement
agree (docs/settlement.md, "Reversal").
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sim_helpers import gateway_requests, insert, pin, remove, simulation

from simulator.devices import cards
from simulator.gateway.faults import ReplyFault
from simulator.gateway.ledger import Status
from simulator.shop import Shop
from simulator.terminal.acquiring_events import ReversalRefused
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.display import ScreenId
from simulator.terminal.journal import SettlementState, TxnState

DEBIT = cards.load("unionpay_debit")
ATTEMPTS = 3  # the default configuration's reversal_attempts


def run(sim: Shop, start: Callable[[], object], *actions: Callable[[Shop], object]) -> SaleResult:
    with sim.clock.actor():
        handle = start()
        sim.clock.settle()
        for action in actions:
            action(sim)
            sim.clock.settle()
        result = handle.wait(3600.0)  # type: ignore[attr-defined]
    assert isinstance(result, SaleResult), sim.terminal.display.screen.text()
    return result


def present_card(sim: Shop) -> None:
    """Wait (on the virtual clock) for the terminal to ask for the card, then insert it."""
    asking = sim.clock.wait_until(
        lambda: sim.terminal.display.screen.id is ScreenId.PRESENT_CARD, 3600.0
    )
    assert asking, sim.terminal.display.screen.text()
    insert(DEBIT)(sim)


def lose_the_reversals(sim: Shop) -> None:
    """Every attempt of the next reversal never reaches the host."""
    sim.gateway.server.faults.arm(ReplyFault(lose_request=True, message_kind="reversal"), ATTEMPTS)


def sale_charged_but_reversal_owed(sim: Shop, amount: int) -> str:
    """A sale the host approved whose answer and reversal were lost: its RRN (host side)."""
    sim.gateway.server.faults.arm(ReplyFault(drop=True, message_kind="sale"))
    lose_the_reversals(sim)
    paid = run(sim, lambda: sim.terminal.start_sale(amount), insert(DEBIT), pin(DEBIT.pin), remove)
    assert not paid.approved and "reversal pending" in (paid.outcome.reason or "")
    (owed,) = sim.terminal.journal.entries(TxnState.REVERSAL_PENDING)
    charged = sim.gateway.ledger.find(sim.terminal.config.terminal_id, owed.stan, owed.transmission)
    assert charged is not None and charged.status is Status.APPROVED and charged.rrn
    return charged.rrn


def journal_net(sim: Shop) -> int:
    signs = {"sale": 1, "void": -1, "refund": -1}
    return sum(
        signs[e.operation] * e.amount_fen for e in sim.terminal.journal.entries(TxnState.APPROVED)
    )


def test_a_refused_reversal_books_the_sale_and_the_batch_balances(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        rrn = sale_charged_but_reversal_owed(sim, 10000)
        # The refund goes first: its own pending-reversal round is lost too.
        lose_the_reversals(sim)
        refunded = run(
            sim, lambda: sim.terminal.start_refund(rrn, 10000, "card"), present_card, remove
        )
        assert refunded.approved, refunded.outcome.reason

        closed = run(sim, sim.terminal.start_settlement)  # sends the reversal first

        assert closed.approved, closed.outcome.reason
        reversal = [r for r in gateway_requests(sim, "0400")][-1]
        assert reversal["90"].startswith("0200")
        sale_row = sim.terminal.journal.entries()[0]
        assert (sale_row.operation, sale_row.state, sale_row.rrn) == (
            "sale",
            TxnState.APPROVED,
            rrn,
        )
        assert "reversal refused (12)" in sale_row.reason
        (refused,) = sim.bus.of(ReversalRefused)
        assert refused.payload.rrn == rrn and refused.payload.operation == "sale"
        (settlement,) = sim.terminal.journal.settlements()
        assert settlement.state is SettlementState.BALANCED
        assert (settlement.debit_total, settlement.credit_total) == (10000, 10000)
        # The cardholder paid 10000 and got 10000 back: 0 on both sides, never -10000.
        assert sim.gateway.ledger.totals().net_amount() == journal_net(sim) == 0


def test_no_batch_close_while_a_reversal_is_unanswered(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        sale_charged_but_reversal_owed(sim, 10000)
        lose_the_reversals(sim)
        refused = run(sim, sim.terminal.start_settlement)
        assert not refused.approved and "still unanswered" in (refused.outcome.reason or "")
        assert gateway_requests(sim, "0500") == []
        assert sim.terminal.journal.settlements() == []
        # Once the reversal gets through, the batch closes, balanced.
        closed = run(sim, sim.terminal.start_settlement)
        assert closed.approved, closed.outcome.reason
        (settlement,) = sim.terminal.journal.settlements()
        assert settlement.state is SettlementState.BALANCED
        assert sim.gateway.ledger.totals().net_amount() == journal_net(sim) == 0
