"""A reversal (0400/0401) against the sale's voids and refunds: the host's rules.

A reversal undoes a transaction whose answer the terminal never got. Once money
has been given back against a sale (an approved void or refund), undoing the
sale as well would credit the cardholder twice, so the host refuses that
reversal and the sale stands, as processors decline a reversal of a
transaction "already voided" (checkout.com, "Reversal declined"; the sources
are quoted in docs/gateway.md, "0400 / 0401 reversal"). Requests are built by
hand, as in test_card_void_refund.py.
"""

from __future__ import annotations

import pytest
from test_card_void_refund import BATCH, answer, refund, sale, void
from test_gateway_host import DE7, MID, TID, make_host

from drivers.clock import RealClock
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.ledger import Status
from simulator.wire.batch_totals import BatchTotals


@pytest.fixture
def host() -> AcquirerHost:
    return make_host(RealClock())


def reversal(original_stan: str, original_mti: str = "0200", mti: str = "0400") -> dict[str, str]:
    return {
        "t": mti,
        "3": "000000" if original_mti == "0200" else "200000",
        "11": original_stan,
        "41": TID,
        "42": MID,
        "90": f"{original_mti}{original_stan}{DE7}" + "0" * 22,
    }


@pytest.mark.parametrize("credit", ["full refund", "partial refund", "void"])
def test_a_reversal_of_a_sale_already_credited_is_refused_and_the_sale_stands(
    host: AcquirerHost, credit: str
) -> None:
    """The issue's sequence: sale 10000 fen -> 00; refund (or void) -> 00; 0400 of the sale."""
    original = sale(host, 10000, "000001")
    rrn, auth = original["37"], original["38"]
    amount = {"full refund": 10000, "partial refund": 2500, "void": 10000}[credit]
    if credit == "void":
        given_back = answer(host, void("000002", rrn, amount, auth))
    else:
        given_back = answer(host, refund("000002", rrn, amount))
    assert given_back["39"] == "00"
    net_before = host.ledger.totals().net_amount()

    reply = answer(host, reversal("000001"))

    assert (reply["t"], reply["39"]) == ("0410", "12")
    # The 0410 names what stands, so the terminal can book it.
    assert (reply["37"], reply["38"]) == (rrn, auth)
    sale_row = host.ledger.find(TID, "000001", DE7)
    assert sale_row is not None and sale_row.status is Status.APPROVED
    assert sale_row.reversal_received_at is not None
    assert host.ledger.totals().net_amount() == net_before == 10000 - amount
    # The terminal booked a sale and a credit: the host's batch still says so.
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals(1, 10000, 1, amount)


def test_a_refused_reversal_stays_refused_once_the_credit_is_undone(host: AcquirerHost) -> None:
    """A repeat (0401) or a copy delayed in the network gets the first answer."""
    original = sale(host, 10000, "000001")
    assert answer(host, refund("000002", original["37"], 10000))["39"] == "00"
    first = answer(host, reversal("000001"))
    assert first["39"] == "12"
    # The refund's own answer was lost: its reversal is accepted ...
    assert answer(host, reversal("000002", "0220"))["39"] == "00"
    assert host.ledger.totals().net_amount() == 10000
    # ... but the terminal that was told "the sale stands" is never contradicted.
    repeat = answer(host, reversal("000001", mti="0401"))
    assert (repeat["39"], repeat["37"]) == ("12", original["37"])
    sale_row = host.ledger.find(TID, "000001", DE7)
    assert sale_row is not None and sale_row.status is Status.APPROVED
    assert host.ledger.totals().net_amount() == 10000


def test_a_reversed_credit_no_longer_blocks_the_sale_reversal(host: AcquirerHost) -> None:
    original = sale(host, 10000, "000001")
    assert answer(host, void("000002", original["37"], 10000, original["38"]))["39"] == "00"
    assert answer(host, reversal("000002"))["39"] == "00"  # the void undone
    assert answer(host, reversal("000001"))["39"] == "00"  # then the sale
    statuses = [entry.status for entry in host.ledger.transactions()]
    assert statuses == [Status.REVERSED, Status.REVERSED]
    assert host.ledger.totals().net_amount() == 0


def test_declined_credits_do_not_block_a_reversal(host: AcquirerHost) -> None:
    original = sale(host, 10000, "000001")
    assert answer(host, refund("000002", original["37"], 10001))["39"] == "61"
    assert answer(host, reversal("000001"))["39"] == "00"
    assert host.ledger.totals().net_amount() == 0


def test_nothing_is_given_back_against_a_reversed_sale(host: AcquirerHost) -> None:
    original = sale(host, 10000, "000001")
    assert answer(host, reversal("000001"))["39"] == "00"
    assert answer(host, refund("000002", original["37"], 100))["39"] == "12"
    assert answer(host, void("000003", original["37"], 10000, original["38"]))["39"] == "12"
    # Repeats of the reversal change nothing.
    assert answer(host, reversal("000001", mti="0401"))["39"] == "00"
    assert host.ledger.totals().net_amount() == 0


def test_a_void_after_a_refund_and_a_refund_after_a_void_are_refused(host: AcquirerHost) -> None:
    refunded = sale(host, 10000, "000001")
    assert answer(host, refund("000002", refunded["37"], 100))["39"] == "00"
    assert answer(host, void("000003", refunded["37"], 10000, refunded["38"]))["39"] == "12"
    voided = sale(host, 20000, "000004")
    assert answer(host, void("000005", voided["37"], 20000, voided["38"]))["39"] == "00"
    assert answer(host, refund("000006", voided["37"], 100))["39"] == "12"
    assert host.ledger.totals().net_amount() == 10000 - 100
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals(2, 30000, 2, 20100)
