"""Card voids (0200/200000) and refunds (0220/200000): the host's rules, every
refusal code, idempotent retransmissions, and the terminal end to end.

Host requests are built by hand (as in test_gateway_host.py) so the host is
checked against the wire, not against the terminal's own request builder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sim_helpers import (
    everything_written,
    gateway_requests,
    insert,
    pin,
    remove,
    simulation,
    swipe,
)
from test_gateway_host import DE7, MID, PAN, TID, TRACK2, make_host, purchase

from drivers.clock import RealClock
from simulator.devices import cards
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.ledger import Status
from simulator.shop import Shop
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.display import ScreenShown
from simulator.terminal.journal import TxnState

BATCH = "000001"
OTHER_PAN = "6225883582581141"


@pytest.fixture
def host() -> AcquirerHost:
    return make_host(RealClock())


def sale(host: AcquirerHost, amount: int, stan: str, batch: str = BATCH) -> dict[str, str]:
    reply = host.handle({**purchase(amount, stan), "60": f"22{batch}"})
    assert reply is not None
    return reply


def void(
    stan: str, rrn: str, amount: int, auth: str | None, batch: str = BATCH, tid: str = TID
) -> dict[str, str]:
    request = {
        "t": "0200",
        "3": "200000",
        "4": f"{amount:012d}",
        "7": DE7,
        "11": stan,
        "25": "00",
        "37": rrn,
        "41": tid,
        "42": MID,
        "49": "156",
        "60": f"23{batch}",
        "61": f"{batch}0000010115",
    }
    if auth is not None:
        request["38"] = auth
    return request


def refund(stan: str, rrn: str, amount: int, pan: str = PAN, batch: str = BATCH) -> dict[str, str]:
    return {
        "t": "0220",
        "2": pan,
        "3": "200000",
        "4": f"{amount:012d}",
        "7": DE7,
        "11": stan,
        "22": "021",
        "25": "00",
        "35": f"{pan}D30122011234567800000",
        "37": rrn,
        "41": TID,
        "42": MID,
        "49": "156",
        "60": f"25{batch}",
    }


def answer(host: AcquirerHost, request: dict[str, str]) -> dict[str, str]:
    reply = host.handle(request)
    assert reply is not None
    return reply


# -- the host: voids ---------------------------------------------------------------


def test_a_void_offsets_the_sale_which_stays_approved(host: AcquirerHost) -> None:
    original = sale(host, 12345, "000001")
    reply = answer(host, void("000002", original["37"], 12345, original["38"]))
    assert (reply["t"], reply["39"]) == ("0210", "00")
    assert reply["37"] != original["37"] and reply["38"] == original["38"]
    sale_row, void_row = host.ledger.transactions()
    assert (sale_row.mti, sale_row.processing_code, sale_row.status) == (
        "0200",
        "000000",
        Status.APPROVED,
    )
    assert (void_row.mti, void_row.processing_code, void_row.status) == (
        "0200",
        "200000",
        Status.APPROVED,
    )
    assert void_row.original_rrn == original["37"] and void_row.batch_no == BATCH
    assert void_row.masked_pan == sale_row.masked_pan == "621483******3655"
    assert host.ledger.totals().net_amount() == 0


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown_rrn", "25"),
        ("wrong_auth_code", "25"),
        ("other_terminal", "12"),
        ("declined_sale", "12"),
        ("settled_batch", "12"),
        ("already_voided", "94"),
        ("already_refunded", "12"),
        ("amount_differs", "64"),
        ("no_batch", "30"),
    ],
)
def test_every_void_refusal(host: AcquirerHost, case: str, code: str) -> None:
    amount = 2051 if case == "declined_sale" else 12345  # .51: insufficient funds
    original = sale(host, amount, "000001")
    rrn, auth = original["37"], original.get("38")
    request = void("000009", rrn, amount, auth)
    if case == "unknown_rrn":
        request["37"] = "999999999999"
    elif case == "wrong_auth_code":
        request["38"] = "000000" if auth != "000000" else "111111"
    elif case == "other_terminal":
        request["41"] = "POS00002"
    elif case == "settled_batch":
        request["60"] = "23000002"
    elif case == "already_voided":
        assert answer(host, void("000002", rrn, amount, auth))["39"] == "00"
    elif case == "already_refunded":
        assert answer(host, refund("000002", rrn, 100))["39"] == "00"
    elif case == "amount_differs":
        request["4"] = f"{amount - 1:012d}"
    elif case == "no_batch":
        del request["60"]
    reply = answer(host, request)
    assert (reply["t"], reply["39"]) == ("0210", code)
    assert "38" not in reply
    # A refused void takes nothing back: the sale's money is where it was.
    net = 0 if case == "declined_sale" else amount
    refunded = 100 if case == "already_refunded" else 0
    voided = amount if case == "already_voided" else 0
    assert host.ledger.totals().net_amount() == net - refunded - voided


def test_a_void_retransmission_gets_the_same_answer_and_voids_once(host: AcquirerHost) -> None:
    original = sale(host, 12345, "000001")
    request = void("000002", original["37"], 12345, original["38"])
    first = answer(host, request)
    again = answer(host, dict(request))
    assert again == first and first["39"] == "00"
    assert len(host.ledger) == 2
    # Same key, another transaction: a duplicate transmission, nothing recorded.
    other = answer(host, {**request, "4": "000000000001"})
    assert other["39"] == "94" and len(host.ledger) == 2


def test_a_reversed_void_gives_the_sale_back_and_it_can_be_voided_again(
    host: AcquirerHost,
) -> None:
    original = sale(host, 12345, "000001")
    assert answer(host, void("000002", original["37"], 12345, original["38"]))["39"] == "00"
    reversal = {
        "t": "0400",
        "3": "200000",
        "11": "000002",
        "41": TID,
        "42": MID,
        "90": f"0200000002{DE7}" + "0" * 22,
    }
    assert answer(host, reversal)["39"] == "00"
    assert [e.status for e in host.ledger.transactions()] == [Status.APPROVED, Status.REVERSED]
    assert host.ledger.totals().net_amount() == 12345
    assert answer(host, void("000003", original["37"], 12345, original["38"]))["39"] == "00"


def test_a_lost_void_reply_is_recorded_and_answered_on_retransmission(host: AcquirerHost) -> None:
    original = sale(host, 12345, "000001")
    request = void("000002", original["37"], 12345, original["38"])
    first = answer(host, request)  # decided and booked; say this reply never arrives
    assert host.ledger.transactions()[-1].status is Status.APPROVED
    again = answer(host, dict(request))
    assert (again["39"], again["37"]) == ("00", first["37"])
    assert len(host.ledger.transactions()) == 2  # the sale and one void


# -- the host: refunds -------------------------------------------------------------


def test_partial_refunds_up_to_the_sale_amount(host: AcquirerHost) -> None:
    rrn = sale(host, 10000, "000001")["37"]
    first = answer(host, refund("000002", rrn, 3000, batch="000002"))
    assert (first["t"], first["39"]) == ("0230", "00") and first["37"] != rrn
    assert "38" not in first
    assert answer(host, refund("000003", rrn, 7000, batch="000002"))["39"] == "00"
    assert answer(host, refund("000004", rrn, 1, batch="000002"))["39"] == "61"
    rows = host.ledger.transactions()
    assert [(e.mti, e.processing_code, e.status) for e in rows[1:]] == [
        ("0220", "200000", Status.APPROVED),
        ("0220", "200000", Status.APPROVED),
        ("0220", "200000", Status.DECLINED),
    ]
    assert {e.original_rrn for e in rows[1:]} == {rrn}
    assert host.ledger.totals().net_amount() == 0


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown_rrn", "25"),
        ("another_card", "25"),
        ("declined_sale", "12"),
        ("voided_sale", "12"),
        ("too_much", "61"),
        ("zero", "13"),
        ("no_card", "30"),
    ],
)
def test_every_refund_refusal(host: AcquirerHost, case: str, code: str) -> None:
    amount = 2051 if case == "declined_sale" else 12345
    original = sale(host, amount, "000001")
    request = refund("000009", original["37"], 100)
    if case == "unknown_rrn":
        request["37"] = "999999999999"
    elif case == "another_card":
        request = refund("000009", original["37"], 100, pan=OTHER_PAN)
    elif case == "voided_sale":
        assert answer(host, void("000002", original["37"], amount, original["38"]))["39"] == "00"
    elif case == "too_much":
        request["4"] = f"{amount + 1:012d}"
    elif case == "zero":
        request["4"] = "000000000000"
    elif case == "no_card":
        del request["2"], request["35"]
    reply = answer(host, request)
    assert (reply["t"], reply["39"]) == ("0230", code)


def test_a_refund_retransmission_refunds_once(host: AcquirerHost) -> None:
    rrn = sale(host, 12345, "000001")["37"]
    request = refund("000002", rrn, 5000)
    assert answer(host, request) == answer(host, dict(request))
    assert host.ledger.totals().net_amount() == 12345 - 5000


def test_the_pan_of_a_refund_is_stored_masked(host: AcquirerHost) -> None:
    rrn = sale(host, 12345, "000001")["37"]
    answer(host, refund("000002", rrn, 5000))
    assert all(PAN not in repr(entry) for entry in host.ledger.transactions())
    assert TRACK2 not in repr(host.ledger.transactions())


# -- the terminal ------------------------------------------------------------------


DEBIT = cards.load("unionpay_debit")


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


def card_sale(sim: Shop, amount: int) -> SaleResult:
    return run(sim, lambda: sim.terminal.start_sale(amount), insert(DEBIT), pin(DEBIT.pin), remove)


def test_terminal_void_sends_the_original_data_and_no_card_data(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        paid = card_sale(sim, 1234)
        assert paid.approved and paid.outcome.detail is not None
        order = paid.order.order_no
        voided = run(sim, lambda: sim.terminal.start_void(order, 1234, "card"))
        assert voided.approved, voided.outcome.reason
        (request,) = [r for r in gateway_requests(sim) if r["3"] == "200000"]
        sale_row, void_row = sim.terminal.journal.entries()
        assert request["37"] == sale_row.rrn and request["38"] == sale_row.auth_code
        assert request["61"] == f"{BATCH}{sale_row.stan}{sale_row.transmission[:4]}"
        assert request["60"] == f"23{BATCH}" and request["4"] == "000000001234"
        assert not {"2", "35", "52", "55"} & set(request)
        assert (void_row.operation, void_row.state, void_row.original_rrn) == (
            "void",
            TxnState.APPROVED,
            sale_row.rrn,
        )
        detail = voided.outcome.detail
        assert detail is not None and detail.orig_stan == sale_row.stan
        # A second void is refused by the terminal itself: nothing more goes out.
        again = run(sim, lambda: sim.terminal.start_void(order, 1234, "card"))
        assert not again.approved and "already voided" in again.outcome.reason
        assert len([r for r in gateway_requests(sim) if r["3"] == "200000"]) == 1
        written = everything_written(sim)
        assert DEBIT.pan not in written and DEBIT.track2 not in written


def test_terminal_refund_by_rrn_needs_the_card_and_no_pin(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        paid = card_sale(sim, 5000)
        assert paid.outcome.detail is not None
        rrn = paid.outcome.detail.rrn
        refunded = run(
            sim, lambda: sim.terminal.start_refund(rrn, 2000, "card"), insert(DEBIT), remove
        )
        assert refunded.approved, refunded.outcome.reason
        (request,) = gateway_requests(sim, "0220")
        assert request["37"] == rrn and request["4"] == "000000002000"
        assert request["2"] == "621483******3655"  # masked in the trace, sent in clear
        assert "52" not in request and "55" not in request
        entry = sim.terminal.journal.entries()[-1]
        assert (entry.operation, entry.state, entry.amount_fen) == (
            "refund",
            TxnState.APPROVED,
            2000,
        )
        assert sim.gateway.ledger.totals().net_amount() == 3000
        assert DEBIT.pin not in json_of_screens(sim)


def test_a_swiped_refund_asks_no_pin_even_when_the_sale_needed_one(tmp_path: Path) -> None:
    stripe = cards.load("magstripe_only")
    with simulation(tmp_path) as sim:
        paid = run(sim, lambda: sim.terminal.start_sale(990), swipe(stripe), pin(stripe.pin))
        assert paid.approved, paid.outcome.reason
        order = paid.order.order_no
        refunded = run(sim, lambda: sim.terminal.start_refund(order, 990, "card"), swipe(stripe))
        assert refunded.approved, refunded.outcome.reason
        (request,) = gateway_requests(sim, "0220")
        assert request["22"] == "021" and "52" not in request
        # Refunded in full: nothing more can be given back.
        again = run(sim, lambda: sim.terminal.start_refund(order, 1, "card"), swipe(stripe))
        assert not again.approved and "61" in again.outcome.reason
        assert sim.gateway.ledger.totals().net_amount() == 0


def test_terminal_refund_of_an_unknown_sale_is_refused_before_the_card(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run(sim, lambda: sim.terminal.start_refund("no-such-order", 100, "card"))
        assert not result.approved and "no card sale" in result.outcome.reason
        assert gateway_requests(sim, "0220") == []


def json_of_screens(sim: Shop) -> str:
    return " ".join(e.summary for e in sim.bus.of(ScreenShown))
