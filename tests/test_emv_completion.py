"""Terminal risk management (floor limit) and completion with the host's ARPC,
end to end through the simulated shop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from sim_helpers import insert, pin, remove, run_sale, simulation

from drivers.wire import ber_tlv as tlv
from simulator.devices import cards
from simulator.gateway.acquirer import Decision
from simulator.gateway.ledger import Status
from simulator.gateway.server import HostIsoMessage
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.journal import TxnState
from simulator.terminal.tracing import ApduExchanged

DEBIT = cards.load("unionpay_debit")
FLOOR_LIMIT_BIT = (3, 0x80)


def sent_tvr(sim: Shop) -> bytes:
    """Tag 95 of the 0200's DE55 as the terminal traced it."""
    for event in sim.bus.of(LinkIsoMessage):
        if event.payload.mti == "0200":
            return tlv.decode_flat(bytes.fromhex(event.payload.fields["55"]["value"]))["95"]
    raise AssertionError("no 0200 sent")


def test_floor_limit_is_read_from_the_terminal_config() -> None:
    config = TerminalConfig.from_mapping({"emv": {"floor_limit": "100.00"}})
    assert config.emv.floor_limit_fen == 10000
    assert TerminalConfig.load().emv.floor_limit_fen == 0


@pytest.mark.parametrize(("amount", "exceeded"), [(9999, False), (10000, True), (20000, True)])
def test_floor_limit_sets_the_tvr_bit_and_the_purchase_goes_online(
    amount: int, exceeded: bool, tmp_path: Path
) -> None:
    with simulation(tmp_path, floor_limit="100.00") as sim:
        result = run_sale(sim, amount, insert(DEBIT), pin(DEBIT.pin), remove)
        tvr = sent_tvr(sim)
    assert result.approved  # online-only: the host decides either way
    assert bool(tvr[FLOOR_LIMIT_BIT[0]] & FLOOR_LIMIT_BIT[1]) is exceeded


def test_a_wrong_arpc_makes_the_card_decline_and_the_terminal_reverse(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        acquirer = sim.gateway.acquirer
        original = acquirer.decide

        def tampered(fields: Mapping[str, str]) -> Decision:
            decision = original(fields)
            reply = decision.reply
            if reply is not None and "55" in reply:
                data = tlv.decode_flat(bytes.fromhex(reply["55"]))
                data["91"] = bytes(8) + data["91"][8:]  # a zero ARPC, the same ARC "00"
                reply["55"] = tlv.encode(data).hex().upper()
            return decision

        acquirer.decide = tampered  # type: ignore[method-assign]
        result = run_sale(sim, 1234, insert(DEBIT), pin(DEBIT.pin), remove)
        (entry,) = sim.terminal.journal.entries()
        (charge,) = sim.gateway.ledger.transactions()
        mtis = [e.payload.mti for e in sim.bus.of(HostIsoMessage)]
    assert not result.approved and "declined after host approval" in result.outcome.reason
    assert mtis == ["0200", "0210", "0400", "0410"]
    assert entry.state is TxnState.REVERSED
    assert charge.status is Status.REVERSED


def test_a_right_arpc_is_accepted_by_the_card(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 1234, insert(DEBIT), pin(DEBIT.pin), remove)
        apdus = [e.summary for e in sim.bus.of(ApduExchanged)]
        reply = next(
            e.payload.fields["55"]["value"]
            for e in sim.bus.of(LinkIsoMessage)
            if e.payload.mti == "0210"
        )
    assert result.approved
    assert apdus[-1].startswith("GENERATE AC: 80AE40")  # TC requested ...
    assert "91" in reply  # ... with the issuer authentication data sent back
