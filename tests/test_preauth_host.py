"""The pre-authorisation family at the acquirer host: pre-auth (0100/030000/10), its void
(0100/200000/11), completion (0200/000000/20 and the 0220 advice 24) and its void
(0200/200000/21) -- every rule and refusal code, the tolerance, expiry on the virtual
clock, reversals, the ledger's money and the batch totals.

Requests are built by hand from the CUP-style message table (docs/gateway.md cites it),
so the host is checked against the wire, not against the terminal's request builder.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from backoffice_helpers import MID as BACKOFFICE_MID
from test_gateway_host import DE7, MID, TID, purchase

from simulator.cli import main
from simulator.clock import VirtualClock
from simulator.errors import FixtureError
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.statements import open_ledger
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.ledger import Ledger, Status
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.preauth_rules import PreauthRules
from simulator.wire.batch_totals import BatchTotals
from simulator.wire.iso8583 import Iso8583Codec, Iso8583Spec

BATCH = "000001"
DAY = 24 * 3600


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def host(clock: VirtualClock) -> AcquirerHost:
    return AcquirerHost(
        Ledger(":memory:", clock),
        IssuerDirectory.load(),
        MagicAmounts.load(),
        clock,
        random.Random(0),
        Iso8583Codec(Iso8583Spec.load()),
        preauth_rules=PreauthRules.load(),
    )


def preauth(host: AcquirerHost, amount: int, stan: str) -> dict[str, str]:
    request = {**purchase(amount, stan), "t": "0100", "3": "030000", "25": "06"}
    request["60"] = f"10{BATCH}"
    reply = host.handle(request)
    assert reply is not None
    return reply


def follow_up(
    kind: str, stan: str, amount: int, original: dict[str, str], **overrides: str
) -> dict[str, str]:
    """A pre-auth void, completion, completion advice or completion void of ``original``."""
    mti, code, type_code = {
        "preauth_void": ("0100", "200000", "11"),
        "completion": ("0200", "000000", "20"),
        "advice": ("0220", "000000", "24"),
        "completion_void": ("0200", "200000", "21"),
    }[kind]
    request = {
        "t": mti,
        "3": code,
        "4": f"{amount:012d}",
        "7": DE7,
        "11": stan,
        "25": "06",
        "37": original["37"],
        "38": original["38"],
        "41": TID,
        "42": MID,
        "49": "156",
        "60": f"{type_code}{BATCH}",
    }
    return {**request, **overrides}


def answer(host: AcquirerHost, request: dict[str, str]) -> dict[str, str]:
    reply = host.handle(request)
    assert reply is not None
    return reply


def test_a_pre_auth_holds_money_but_charges_nothing(host: AcquirerHost) -> None:
    reply = preauth(host, 50000, "000001")
    assert (reply["t"], reply["39"]) == ("0110", "00")
    assert reply["37"] and reply["38"]
    (row,) = host.ledger.transactions()
    assert (row.kind, row.status, row.charged, row.credited) == (
        "preauth",
        Status.APPROVED,
        False,
        False,
    )
    assert host.ledger.totals().net_amount() == 0
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals()


def test_filling_station_completion_charges_what_was_drawn(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    reply = answer(host, follow_up("completion", "000002", 31240, auth))
    assert (reply["t"], reply["39"], reply["38"]) == ("0210", "00", auth["38"])
    assert reply["37"] != auth["37"]
    assert host.ledger.totals().net_amount() == 31240
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals(1, 31240, 0, 0)


def test_the_completion_advice_is_answered_0230_and_charges(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    reply = answer(host, follow_up("advice", "000002", 48000, auth))
    assert (reply["t"], reply["39"]) == ("0230", "00")
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals(1, 48000, 0, 0)


def test_completion_within_the_tolerance_is_approved_beyond_it_refused(
    host: AcquirerHost,
) -> None:
    # Default tolerance 15% (firmware_fixtures/gateway/preauth.yaml): 800.00 -> 920.00 at most.
    first = preauth(host, 80000, "000001")
    assert answer(host, follow_up("completion", "000002", 92000, first))["39"] == "00"
    second = preauth(host, 80000, "000003")
    refused = answer(host, follow_up("completion", "000004", 92001, second))
    assert refused["39"] == "61"
    assert "37" not in refused and "38" not in refused
    assert host.ledger.totals().net_amount() == 92000


def test_the_tolerance_is_the_acquirers_setting(clock: VirtualClock) -> None:
    strict = AcquirerHost(
        Ledger(":memory:", clock),
        IssuerDirectory.load(),
        MagicAmounts.load(),
        clock,
        random.Random(0),
        Iso8583Codec(Iso8583Spec.load()),
        preauth_rules=PreauthRules(completion_tolerance_percent=0),
    )
    auth = preauth(strict, 50000, "000001")
    assert answer(strict, follow_up("completion", "000002", 50001, auth))["39"] == "61"
    assert answer(strict, follow_up("completion", "000003", 50000, auth))["39"] == "00"


def test_a_pre_auth_is_completed_once(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    assert answer(host, follow_up("completion", "000002", 10000, auth))["39"] == "00"
    assert answer(host, follow_up("completion", "000003", 10000, auth))["39"] == "94"
    assert host.ledger.totals().net_amount() == 10000


def test_an_uncompleted_pre_auth_expires_after_its_validity(
    host: AcquirerHost, clock: VirtualClock
) -> None:
    late = preauth(host, 50000, "000001")
    on_time = preauth(host, 50000, "000002")
    clock.advance(29 * DAY)
    assert answer(host, follow_up("completion", "000003", 50000, on_time))["39"] == "00"
    clock.advance(DAY)  # 30 days after the pre-auth: the hold is released
    expired = answer(host, follow_up("completion", "000004", 50000, late))
    assert expired["39"] == "25"
    assert host.ledger.totals().net_amount() == 50000


def test_the_completion_must_quote_the_pre_auths_auth_code(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    wrong = follow_up("completion", "000002", 100, auth, **{"38": "999999"})
    assert answer(host, wrong)["39"] == "25"
    missing = follow_up("completion", "000003", 100, auth)
    del missing["38"]
    assert answer(host, missing)["39"] == "30"
    unknown = follow_up("completion", "000004", 100, auth, **{"37": "260115999999"})
    assert answer(host, unknown)["39"] == "25"


def test_a_sale_is_not_a_pre_auth_and_a_completion_is_not_a_sale(host: AcquirerHost) -> None:
    sale = answer(host, {**purchase(1000, "000001"), "60": f"22{BATCH}"})
    assert answer(host, follow_up("completion", "000002", 1000, sale))["39"] == "25"
    auth = preauth(host, 50000, "000003")
    completion = answer(host, follow_up("completion", "000004", 1000, auth))
    # A plain void (DE60.1 23) cannot void a completion: it is not a sale.
    void = {**follow_up("completion_void", "000005", 1000, completion), "60": f"23{BATCH}"}
    assert answer(host, void)["39"] == "25"


def test_pre_auth_void_releases_the_hold_and_blocks_completion(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    assert answer(host, follow_up("preauth_void", "000002", 40000, auth))["39"] == "64"
    reply = answer(host, follow_up("preauth_void", "000003", 50000, auth))
    assert (reply["t"], reply["39"]) == ("0110", "00")
    assert answer(host, follow_up("preauth_void", "000004", 50000, auth))["39"] == "94"
    assert answer(host, follow_up("completion", "000005", 100, auth))["39"] == "12"
    assert host.ledger.totals().net_amount() == 0
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals()


def test_completion_void_credits_and_frees_the_pre_auth(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    completion = answer(host, follow_up("completion", "000002", 31240, auth))
    # A completed pre-auth cannot be voided: void the completion first.
    assert answer(host, follow_up("preauth_void", "000003", 50000, auth))["39"] == "12"
    assert answer(host, follow_up("completion_void", "000004", 100, completion))["39"] == "64"
    reply = answer(host, follow_up("completion_void", "000005", 31240, completion))
    assert (reply["t"], reply["39"], reply["38"]) == ("0210", "00", auth["38"])
    again = answer(host, follow_up("completion_void", "000006", 31240, completion))
    assert again["39"] == "94"
    assert host.ledger.totals().net_amount() == 0
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals(1, 31240, 1, 31240)
    # The pre-auth stands again: it can be voided now.
    assert answer(host, follow_up("preauth_void", "000007", 50000, auth))["39"] == "00"


def test_a_retransmitted_completion_is_charged_once(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    request = follow_up("completion", "000002", 31240, auth)
    first = answer(host, request)
    assert answer(host, request) == first
    assert host.ledger.totals().net_amount() == 31240


def test_a_lost_completion_reversed_frees_the_pre_auth(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    answer(host, follow_up("completion", "000002", 31240, auth))
    reversal = {
        "t": "0400",
        "3": "000000",
        "4": f"{31240:012d}",
        "11": "000002",
        "25": "06",
        "39": "98",
        "41": TID,
        "42": MID,
        "49": "156",
        "60": f"20{BATCH}",
        "90": f"0200000002{DE7}".ljust(42, "0"),
    }
    assert answer(host, reversal)["39"] == "00"
    assert host.ledger.totals().net_amount() == 0
    assert host.ledger.batch_totals(TID, BATCH) == BatchTotals()
    assert answer(host, follow_up("completion", "000003", 31240, auth))["39"] == "00"


def test_a_pre_auth_with_a_completion_cannot_be_reversed(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    answer(host, follow_up("completion", "000002", 31240, auth))
    reversal = {
        "t": "0400",
        "3": "030000",
        "11": "000001",
        "41": TID,
        "42": MID,
        "90": f"0100000001{DE7}".ljust(42, "0"),
    }
    refused = answer(host, reversal)
    assert (refused["39"], refused["37"]) == ("12", auth["37"])
    assert host.ledger.totals().net_amount() == 31240


def test_follow_ups_of_another_merchant_are_not_found(host: AcquirerHost) -> None:
    auth = preauth(host, 50000, "000001")
    other = follow_up("completion", "000002", 100, auth, **{"42": "898440154119999"})
    assert answer(host, other)["39"] == "25"


def test_possim_gateway_reconcile_counts_completions_not_pre_auths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A day of pre-auths on a real host's ledger file reconciles: completions (request
    and advice) are card payments, a completion void a void of one; pre-auths and their
    voids are no lines."""
    clock = VirtualClock()
    path = tmp_path / "ledger.sqlite"
    host = AcquirerHost(
        Ledger(path, clock),
        IssuerDirectory.load(),
        MagicAmounts.load(),
        clock,
        random.Random(0),
        Iso8583Codec(Iso8583Spec.load()),
    )

    def at(request: dict[str, str]) -> dict[str, str]:
        return {**request, "42": BACKOFFICE_MID}

    def auth(amount: int, stan: str) -> dict[str, str]:
        request = {**purchase(amount, stan), "t": "0100", "3": "030000", "25": "06"}
        return answer(host, at({**request, "60": f"10{BATCH}"}))

    station = auth(50000, "000001")
    assert answer(host, at(follow_up("completion", "000002", 31240, station)))["39"] == "00"
    hotel = auth(80000, "000003")
    assert answer(host, at(follow_up("advice", "000004", 90000, hotel)))["39"] == "00"
    voided = auth(20000, "000005")
    assert answer(host, at(follow_up("preauth_void", "000006", 20000, voided)))["39"] == "00"
    undone = auth(10000, "000007")
    completion = answer(host, at(follow_up("completion", "000008", 6000, undone)))
    assert answer(host, at(follow_up("completion_void", "000009", 6000, completion)))["39"] == "00"
    host.ledger.close()
    report = tmp_path / "report.json"
    argv = ["gateway", "reconcile", "--date", f"{clock.now():%Y-%m-%d}", "--ledger", str(path)]
    assert main([*argv, "--json", str(report)]) == 0
    printed = capsys.readouterr().out
    assert json.loads(report.read_text("utf-8"))["matched_total"] == 4
    # 312.40 + 900.00 + 60.00 - 60.00: completions charged, pre-auths not.
    card_row = next(line for line in printed.splitlines() if line.startswith("card"))
    assert card_row.split()[:4] == ["card", "4", "1212.40", "1212.40"]
    db = open_ledger(path)
    try:
        lines = [
            (e.kind, e.amount_fen) for e in day_entries(db, clock.now().date(), BACKOFFICE_MID)
        ]
    finally:
        db.close()
    assert lines == [("payment", 31240), ("payment", 90000), ("payment", 6000), ("void", 6000)]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("completion_tolerance_percent: 15\nvalidity_days: 400\n", "validity_days: expected"),
        ("completion_tolerance_percent: -1\nvalidity_days: 30\n", "completion_tolerance_percent"),
        ("completion_tolerance_percent: 15\n", "missing field 'validity_days'"),
        ("completion_tolerance: 15\nvalidity_days: 30\n", "unknown field 'completion_tolerance'"),
        ("- 15\n", "expected a mapping"),
    ],
)
def test_bad_pre_auth_rules_name_the_file_line_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FixtureError, match=message) as raised:
        PreauthRules.load(path)
    assert str(path) in str(raised.value) or path.name in str(raised.value)
