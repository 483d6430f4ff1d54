from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.errors import FixtureError
from simulator.terminal.contract import (
    VENDORS,
    ContractViolation,
    IntentContract,
    IntentRequest,
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


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_shipped_profile_loads_and_round_trips_a_card_sale(vendor: str) -> None:
    contract = IntentContract.load(vendor)
    request = contract.build_request(ORDER)
    parsed = contract.parse_request(request)
    assert (parsed.method, parsed.operation, parsed.amount_fen) == ("card", "sale", 1234)
    assert parsed.order_no == ORDER.order_no
    approved = contract.parse_result(contract.build_result(PaymentOutcome(True, detail=DETAIL)))
    assert approved.approved and approved.detail is not None
    # What each vendor gives back of the payment: its voucher number, or the order's.
    assert "000007" in approved.detail.stan or approved.detail.order_no == ORDER.order_no


@pytest.mark.parametrize("vendor", VENDORS)
@pytest.mark.parametrize("failure", ["canceled", "declined", "invalid_amount", "unsupported"])
def test_every_failure_reads_back_as_a_failure_with_its_reason(vendor: str, failure: str) -> None:
    contract = IntentContract.load(vendor)
    result = contract.build_result(PaymentOutcome(False, "51 余额不足", failure=failure))
    outcome = contract.parse_result(result)
    assert not outcome.approved and "51 余额不足" in outcome.reason
    if failure == "canceled" and vendor != "newland":  # Newland: RESULT_CANCELED for both
        assert outcome.failure == "canceled"


def test_newland_result_keys_are_the_published_ones() -> None:
    # star-pos/APIDocument pos-invoke/index.md: 交易类 table and 附录 交易详情JSON结构.
    result = IntentContract.load("newland").build_result(PaymentOutcome(True, detail=DETAIL))
    assert result.result_code == "RESULT_OK"
    assert json.loads(result.extras["txndetail"])["systraceno"] == "000007"
    assert "cvm" not in json.loads(result.extras["txndetail"])  # possim's old invention
    assert result.to_json()["result_code"] == "RESULT_OK"


def test_missing_required_extra_is_named() -> None:
    contract = IntentContract.load("sunmi")
    extras = dict(contract.build_request(ORDER).extras)
    del extras["appId"]
    with pytest.raises(ContractViolation, match="missing extra 'appId'"):
        contract.parse_request(extras)


def test_a_wrong_java_type_is_refused_as_the_vendor_would_misread_it() -> None:
    # Sunmi's L3 reads amount with getLongExtra: a String is not a long.
    contract = IntentContract.load("sunmi")
    extras = {**contract.build_request(ORDER).extras, "amount": "12.34"}
    with pytest.raises(ContractViolation, match=r"amount='12.34': expected a long extra") as got:
        contract.parse_request(extras)
    assert got.value.failure == "invalid_amount"


def test_a_forged_wangpos_signature_is_refused() -> None:
    contract = IntentContract.load("wangpos")
    extras = dict(contract.build_request(ORDER).extras)
    params = json.loads(extras["params"])
    params["total_fee"] = "1"
    extras["params"] = json.dumps(params)
    with pytest.raises(ContractViolation, match="sign: does not match"):
        contract.parse_request(extras)


GOOD_PROFILE = """\
name: mine
title: Mine
source: my doc
transport: activity_result
address: {component: a/b}
request:
  op: {route: true}
  amt: {amount: fen, from: amount_fen}
operations:
  - {operation: sale, method: card, title: Sale, codes: {op: "1"}}
result:
  codes: {approved: A, canceled: B}
  approved:
    stan: {from: stan}
  failed:
    why: {from: reason}
failures:
  canceled: {code: B, text: c}
  timeout: {code: B, text: t}
  declined: {code: B, text: d}
  invalid_amount: {code: B, text: a}
  invalid_operation: {code: B, text: o}
  invalid_original: {code: B, text: r}
  invalid_request: {code: B, text: q}
  unsupported: {code: B, text: u}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ("  amt: {amount: fen, from: amount_fen}", "  amt: {amount: fen}", 8, "request.amt: "),
        ("from: amount_fen}", "from: amount}", 8, "request.amt.from: expected one of"),
        ("amount: fen,", "amount: cents,", 8, "request.amt.amount: expected yuan or fen"),
        ("amount: fen,", "amonut: fen,", 8, "request.amt.amonut: unknown field"),
        ("  op: {route: true}", "  op: {route: true, value: x}", 7, "exactly one of"),
        ('codes: {op: "1"}', 'codes: {nope: "1"}', 10, "'nope' is not a request key"),
        ("transport: activity_result", "transport: carrier_pigeon", 4, "transport: expected"),
        ("address: {component: a/b}", "address: {}", 5, "address: expected a component"),
        ("  unsupported: {code: B, text: u}\n", "", 18, "failures: missing unsupported"),
        ("  codes: {approved: A, canceled: B}", "  codes: {ok: A}", 12, "unknown status 'ok'"),
        ("result:", "reslut:", 11, "reslut: unknown field"),
        (
            "    stan: {from: stan}",
            "    stan: {from: stan}\n    stan: {from: rrn}",
            15,
            "duplicate",
        ),
        ("address: {component: a/b}", "address: {component: [a", 6, "not valid YAML"),
    ],
)
def test_malformed_profile_errors_carry_file_line_and_rule(
    tmp_path: Path, old: str, new: str, line: int, problem: str
) -> None:
    assert old in GOOD_PROFILE
    profile = tmp_path / "mine.yaml"
    profile.write_text(GOOD_PROFILE.replace(old, new), encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        IntentContract.load(str(profile))
    assert caught.value.path == profile
    assert problem in caught.value.problem
    assert caught.value.line == line
    assert str(caught.value).startswith(f"{profile}:{line}: ")


def test_announcements_in_a_profile_say_where_they_went(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text(GOOD_PROFILE + "announcements:\n  card: ok\n", encoding="utf-8")
    with pytest.raises(FixtureError, match=r"mine\.yaml:26: announcements: moved out"):
        IntentContract.load(str(profile))


def test_a_good_profile_loads(tmp_path: Path) -> None:
    profile = tmp_path / "mine.yaml"
    profile.write_text(GOOD_PROFILE, encoding="utf-8")
    contract = IntentContract.load(str(profile))
    assert contract.build_request(ORDER).extras == {"op": "1", "amt": "1234"}


def test_a_request_round_trips_through_json() -> None:
    request = IntentContract.load("sunmi").build_request(ORDER)
    assert IntentRequest.from_json(json.loads(json.dumps(request.to_json()))) == request
    with pytest.raises(ContractViolation, match="expected a component, an action or a uri"):
        IntentRequest.from_json({"extras": {}})
    with pytest.raises(ContractViolation, match="unknown key 'extra'"):
        IntentRequest.from_json({"action": "x", "extra": {}})
