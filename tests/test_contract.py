from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.errors import FixtureError
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    PaymentOrder,
    PaymentOutcome,
    TransactionDetail,
)

ORDER = PaymentOrder("card", "sale", 1234, "202601151030000001", "20260115103000")
DETAIL = TransactionDetail(
    merchant_id="898310048990001",
    terminal_id="POSSIM01",
    batch_no="000001",
    stan="000007",
    order_no=ORDER.order_no,
    rrn="601510000001",
    auth_code="A1B2C3",
    amount_fen=1234,
    masked_pan="621483******3655",
    date="0115",
    time="103000",
    card_label="UnionPay Debit",
    response_code="00",
)


def test_newland_request_uses_the_vendor_codes() -> None:
    extras = IntentContract.load("newland").build_request(ORDER)
    assert extras["msg_tp"] == "0200"
    assert extras["pay_tp"] == "0"
    assert extras["proc_cd"] == "000000"
    assert extras["amt"] == "000000001234"
    assert extras["order_no"] == ORDER.order_no


def test_request_and_result_round_trip() -> None:
    contract = IntentContract.load("newland")
    assert contract.parse_request(contract.build_request(ORDER)) == ORDER
    result = contract.build_result(PaymentOutcome(True, detail=DETAIL))
    assert result.result_code == "RESULT_OK"
    assert json.loads(result.extras["txndetail"])["systraceno"] == "000007"
    assert contract.parse_result(result) == PaymentOutcome(True, detail=DETAIL)


def test_cancelled_result_carries_the_reason() -> None:
    contract = IntentContract.load("newland")
    result = contract.build_result(PaymentOutcome(False, "51 余额不足"))
    assert result.result_code == "RESULT_CANCELED"
    assert contract.parse_result(result) == PaymentOutcome(False, "51 余额不足")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"pay_tp": "99"}, "pay_tp='99' is not one of"),
        ({"msg_tp": "0100"}, "msg_tp must be '0200'"),
        ({"amt": "12.34"}, "amt='12.34' must be digits"),
    ],
)
def test_malformed_requests_are_refused_with_the_reason(
    change: dict[str, str], problem: str
) -> None:
    contract = IntentContract.load("newland")
    extras = {**contract.build_request(ORDER), **change}
    with pytest.raises(ContractViolation, match=problem.replace("(", r"\(")):
        contract.parse_request(extras)


def test_missing_extra_is_named() -> None:
    contract = IntentContract.load("newland")
    extras = contract.build_request(ORDER)
    del extras["order_no"]
    with pytest.raises(ContractViolation, match="missing extra 'order_no'"):
        contract.parse_request(extras)


def test_malformed_profile_names_file_and_rule(tmp_path: Path) -> None:
    profile = tmp_path / "broken.yaml"
    profile.write_text(
        "name: broken\ncomponent: x\nrequest:\n  amt: {format: '{:012d}'}\n"
        "result: {ok: A, canceled: B, reason_key: r, detail_key: d, detail: {}}\n",
        encoding="utf-8",
    )
    with pytest.raises(FixtureError, match=r"broken\.yaml:4: request\.amt: expected"):
        IntentContract.load(str(profile))


GOOD_PROFILE = """\
name: mine
component: x
request:
  pay_tp:
    from: method
    map: {card: "0"}
  amt: {from: amount_fen, format: "{:012d}"}
result:
  ok: A
  canceled: B
  reason_key: r
  detail_key: d
  detail:
    respcode: {from: response_code}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ('    map: {card: "0"}', "    map: [card]", 6, "request.pay_tp.map: expected a mapping"),
        ("from: amount_fen,", "from: amount,", 7, "request.amt.from: 'amount' is not one of"),
        ("from: amount_fen,", "from: [amount],", 7, "request.amt.from: ['amount'] is not one"),
        ('format: "{:012d}"', 'format: "{:012d"', 7, "request.amt.format: "),
        ('format: "{:012d}"', 'fromat: "{:012d}"', 7, "request.amt: unknown field 'fromat'"),
        ("  respcode: {from: response_code}", "  respcode: {}", 14, "result.detail.respcode"),
        ("  canceled: B\n", "", 9, "result.canceled: missing"),
        ("  ok: A", "  ok: [A]", 9, "result.ok: expected a value"),
        ("result:", "reslut:", 1, "result: missing"),
        (
            "    respcode: {from: response_code}\n",
            "    respcode: {from: response_code}\nannouncements:\n  card: ok\n",
            15,
            "announcements: moved out of vendor profiles",
        ),
        ("  ok: A", "  ok: A\n  ok: C", 10, "duplicate key 'ok' (first on line 9)"),
        ("  ok: A", "  ok: [A", 10, "not valid YAML"),
    ],
)
def test_malformed_profile_errors_carry_the_line(
    tmp_path: Path, old: str, new: str, line: int, problem: str
) -> None:
    assert old in GOOD_PROFILE
    profile = tmp_path / "mine.yaml"
    profile.write_text(GOOD_PROFILE.replace(old, new), encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        IntentContract.load(str(profile))
    assert caught.value.path == profile
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{profile}:{line}: ")


def test_a_good_profile_loads(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text(GOOD_PROFILE, encoding="utf-8")
    contract = IntentContract.load(str(profile))
    assert contract.build_request(ORDER) == {"pay_tp": "0", "amt": "000000001234"}
