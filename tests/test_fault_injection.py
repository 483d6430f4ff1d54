"""Fault steps hit exactly the exchange they name, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.clock import VirtualClock
from simulator.events import EventBus
from simulator.gateway.faults import HostFaults, ReplyFault
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import ScenarioResult, run_scenario


def _run(tmp_path: Path, steps: str) -> ScenarioResult:
    path = tmp_path / "fault.yaml"
    path.write_text(f"name: fault\nseed: 1\nsteps:\n{steps}", encoding="utf-8")
    result = run_scenario(load_scenario(path), tmp_path / "out")
    assert result.passed, result.failure_text
    return result


def _events(result: ScenarioResult, source: str, kind: str) -> list[dict[str, Any]]:
    lines = (result.artifacts / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    return [e for e in events if e["source"] == source and e["kind"] == kind]


def test_times_reaches_into_the_reversal(tmp_path: Path) -> None:
    # Two lost replies: the 0200's and the first 0400's; the second reversal attempt lands.
    result = _run(
        tmp_path,
        "  - gateway_fault: {drop_response: true, times: 2}\n"
        '  - sale: "12.34"\n'
        "  - insert_card: unionpay_debit\n"
        "  - enter_pin: card\n"
        '  - expect_screen: {screen: cancelled, contains: "reversed", within: 70s}\n'
        "  - remove_card:\n"
        "  - expect_gateway: {exact: true, messages: "
        '[{mti: "0200"}, {mti: "0400"}, {mti: "0400"}, {mti: "0410", "39": "00"}]}\n'
        "  - expect_ledger: {status: reversed, count: 1}\n",
    )
    faults = _events(result, "gateway", "fault")
    assert [e["detail"]["mti"] for e in faults] == ["0200", "0400"]
    sent = [e for e in _events(result, "host_link", "iso8583") if e["detail"]["direction"] == "out"]
    assert [e["at"] for e in sent] == [0.0, 30.0, 60.0]


def test_qr_faults_spare_the_customers_phone(tmp_path: Path) -> None:
    # Armed while the customer confirms on the phone: the phone's call goes through and
    # the terminal's next order query takes the 503; the poll after it sees SUCCESS.
    result = _run(
        tmp_path,
        '  - sale: {amount: "1200.00", method: scan}\n'
        '  - scan_code: "134567890123456789"\n'
        "  - expect_screen: waiting_payment\n"
        "  - qr_gateway_fault: {status: 503}\n"
        "  - customer_confirms:\n"
        "  - expect_callback: {result: OK}\n"
        "  - expect_qr_order: {state: SUCCESS, channel: wechat}\n",
    )
    (fault,) = _events(result, "gateway", "fault")
    assert str(fault["detail"]["path"]).startswith("/v1/orders/")
    assert fault["at"] == 5.0
    paid = _events(result, "cashier_app", "callback")
    assert [e["at"] for e in paid] == [10.0]


def test_a_pulled_card_never_answers_again(tmp_path: Path) -> None:
    result = _run(
        tmp_path,
        "  - card_fault: {remove_at_apdu: 3}\n"
        '  - sale: "12.34"\n'
        "  - insert_card: unionpay_debit\n"
        '  - expect_callback: {result: CANCELED, reason_contains: "removed"}\n'
        "  - expect_gateway: {exact: true, messages: []}\n",
    )
    answered = _events(result, "card_reader", "apdu")
    assert len(answered) == 2


def test_a_reply_fault_for_one_kind_of_message_lets_the_others_pass() -> None:
    clock = VirtualClock()
    faults = HostFaults(clock, EventBus(clock))
    faults.arm(ReplyFault(drop=True, message_kind="void"))
    faults.arm(ReplyFault(delay=5.0))
    void_only, any_kind = ReplyFault(drop=True, message_kind="void"), ReplyFault(delay=5.0)
    assert faults.take_for("sale") == any_kind  # the void's fault waits for a void
    assert faults.take_for("sale") is None
    assert faults.take_for("void") == void_only
    assert faults.take_for("void") is None
