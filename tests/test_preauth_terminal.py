"""The pre-authorisation family end to end: the cashier app asks (Newland proc_cd 300000 /
330000 / 400000 / 440000), the acquiring app reads the card for the pre-auth and sends
the 0100/0200 messages the CUP-style host expects, the host decides, slips are printed,
the batch close counts completions and not pre-auths.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sim_helpers import everything_written, gateway_requests, insert, pin, remove, simulation
from test_card_void_refund import DEBIT, run
from vendor_helpers import card_paid, send, vendor_shop

from simulator.gateway.faults import ReplyFault
from simulator.shop import Shop
from simulator.terminal.cashier_app import IntentStarted, SaleResult
from simulator.terminal.config import TerminalConfig
from simulator.terminal.contract import IntentRequest
from simulator.terminal.journal import TxnState
from simulator.wire.batch_totals import BatchTotals

BATCH = "000001"
NEWLAND = "com.newland.caishen/com.newland.caishen.ui.activity.MainActivity"


def start(
    sim: Shop, operation: str, amount: int, order: str = "", **quote: str
) -> Callable[[], object]:
    return lambda: sim.hands.start_preauth(operation, amount, order, **quote)


def preauth(sim: Shop, amount: int) -> SaleResult:
    result = run(sim, start(sim, "preauth", amount), insert(DEBIT), pin(DEBIT.pin), remove)
    assert result.approved, result.outcome.reason
    return result


def receipts_text(sim: Shop) -> str:
    return "\n".join(receipt.text for receipt in sim.view.receipts())


def test_filling_station_pre_auth_then_completion(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        auth = preauth(sim, 50000)
        (request,) = gateway_requests(sim, "0100")
        # CUP message table (docs/gateway.md): 0100, DE3 030000, DE25 06, DE60.1 10.
        assert (request["3"], request["25"], request["60"]) == ("030000", "06", f"10{BATCH}")
        assert "55" in request and "2" in request
        assert sim.gateway.ledger.totals().net_amount() == 0  # held, not charged
        intents = sim.bus.of(IntentStarted)
        assert intents[-1].payload.extras["proc_cd"] == "300000"  # Newland's published code
        done = run(sim, start(sim, "preauth_completion", 31240, auth.order.order_no))
        assert done.approved, done.outcome.reason
        assert sim.bus.of(IntentStarted)[-1].payload.extras["proc_cd"] == "330000"
        (completion,) = [r for r in gateway_requests(sim, "0200") if r["60"].startswith("20")]
        preauth_row, completion_row = sim.terminal.journal.entries()
        assert (completion["3"], completion["25"], completion["4"]) == (
            "000000",
            "06",
            "000000031240",
        )
        assert completion["37"] == preauth_row.rrn and completion["38"] == preauth_row.auth_code
        assert completion["61"] == f"{BATCH}{preauth_row.stan}{preauth_row.transmission[:4]}"
        assert not {"2", "35", "52", "55"} & set(completion)
        assert (completion_row.operation, completion_row.state) == (
            "preauth_completion",
            TxnState.APPROVED,
        )
        assert sim.gateway.ledger.totals().net_amount() == 31240
        text = receipts_text(sim)
        assert "预授权 PRE-AUTH" in text and "RMB 500.00" in text
        assert "预授权完成 AUTH COMPLETE" in text and "RMB 312.40" in text
        assert DEBIT.pan not in everything_written(sim)
        # The batch close counts the completion, not the pre-auth.
        settled = run(sim, lambda: sim.hands.start_settlement())
        assert settled.approved, settled.outcome.reason
        (close,) = sim.terminal.journal.settlements()
        assert (close.debit_count, close.debit_total, close.credit_count) == (1, 31240, 0)
        assert close.state.value == "balanced"
        assert sim.gateway.ledger.batch_totals("POSSIM01", BATCH) == BatchTotals(1, 31240, 0, 0)


def test_completion_beyond_the_tolerance_is_refused_with_the_hosts_code(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        auth = preauth(sim, 80000)
        refused = run(sim, start(sim, "preauth_completion", 92001, auth.order.order_no))
        assert not refused.approved and "61" in refused.outcome.reason
        within = run(sim, start(sim, "preauth_completion", 92000, auth.order.order_no))
        assert within.approved, within.outcome.reason
        assert sim.gateway.ledger.totals().net_amount() == 92000


def test_pre_auth_void_and_completion_void(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        auth = preauth(sim, 50000)
        order = auth.order.order_no
        done = run(sim, start(sim, "preauth_completion", 20000, order))
        # Completed: the pre-auth cannot be voided before the completion is.
        early = run(sim, start(sim, "preauth_void", 50000, order))
        assert not early.approved and "void the completion first" in early.outcome.reason
        undone = run(sim, start(sim, "preauth_completion_void", 20000, done.order.order_no))
        assert undone.approved, undone.outcome.reason
        assert sim.bus.of(IntentStarted)[-1].payload.extras["proc_cd"] == "440000"
        released = run(sim, start(sim, "preauth_void", 50000, order))
        assert released.approved, released.outcome.reason
        assert sim.bus.of(IntentStarted)[-1].payload.extras["proc_cd"] == "400000"
        (void_request,) = gateway_requests(sim, "0100")[1:]
        assert (void_request["3"], void_request["60"]) == ("200000", f"11{BATCH}")
        assert sim.gateway.ledger.totals().net_amount() == 0
        text = receipts_text(sim)
        assert "预授权完成撤销 COMPLETE VOID" in text and "预授权撤销 PRE-AUTH VOID" in text
        late = run(sim, start(sim, "preauth_completion", 100, order))
        assert not late.approved and "voided" in late.outcome.reason


def advice_shop(tmp_path: Path) -> Shop:
    """An acquirer that takes completions as offline advices ([gateway] completion)."""
    config = TerminalConfig.from_mapping({"gateway": {"completion": "advice"}})
    return Shop(config, tmp_path, seed=0)


def test_offline_completion_is_approved_here_and_advised_with_a_0220(tmp_path: Path) -> None:
    with advice_shop(tmp_path) as sim:
        auth = preauth(sim, 50000)
        done = run(sim, start(sim, "preauth_completion", 31240, auth.order.order_no))
        assert done.approved, done.outcome.reason
        (advice,) = gateway_requests(sim, "0220")
        # CUP message table (docs/gateway.md): 预授权完成通知 0220, DE3 000000, DE60.1 24.
        assert (advice["3"], advice["25"], advice["60"]) == ("000000", "06", f"24{BATCH}")
        assert gateway_requests(sim, "0200") == []
        row = sim.terminal.journal.entries()[-1]
        assert (row.operation, row.state) == ("preauth_completion", TxnState.APPROVED)
        assert row.rrn  # the host's, from the 0230
        assert sim.gateway.ledger.totals().net_amount() == 31240
        settled = run(sim, lambda: sim.hands.start_settlement())
        assert settled.approved, settled.outcome.reason
        (close,) = sim.terminal.journal.settlements()
        assert (close.debit_count, close.debit_total, close.state.value) == (1, 31240, "balanced")


def test_an_unanswered_advice_is_owed_not_reversed(tmp_path: Path) -> None:
    with advice_shop(tmp_path) as sim:
        auth = preauth(sim, 50000)
        attempts = sim.terminal.config.timeouts.reversal_attempts
        sim.gateway.server.faults.arm(
            ReplyFault(drop=True, message_kind="preauth_completion"), attempts
        )
        done = run(sim, start(sim, "preauth_completion", 31240, auth.order.order_no))
        # Offline: the cashier is told approved although the host has not answered.
        assert done.approved, done.outcome.reason
        row = sim.terminal.journal.entries()[-1]
        assert row.state is TxnState.ADVICE_PENDING
        assert gateway_requests(sim, "0400") == []  # an advice is never reversed
        assert len(gateway_requests(sim, "0220")) == attempts
        # Still cut off when the batch is closed: the advice goes first, and is not answered.
        sim.gateway.server.faults.arm(
            ReplyFault(drop=True, message_kind="preauth_completion"), attempts
        )
        refused = run(sim, lambda: sim.hands.start_settlement())
        assert not refused.approved and "advice" in refused.outcome.reason
        # The network heals: the next batch close sends the advice first, then balances.
        settled = run(sim, lambda: sim.hands.start_settlement())
        assert settled.approved, settled.outcome.reason
        assert sim.terminal.journal.get(row.id).state is TxnState.APPROVED
        # The host recorded it once, whatever the repeats: charged once.
        assert sim.gateway.ledger.totals().net_amount() == 31240
        close = sim.terminal.journal.settlements()[-1]
        assert (close.debit_total, close.state.value) == (31240, "balanced")


def test_a_lost_pre_auth_answer_is_reversed_and_holds_nothing(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        sim.gateway.server.faults.arm(ReplyFault(drop=True, message_kind="preauth"), 1)
        lost = run(sim, start(sim, "preauth", 50000), insert(DEBIT), pin(DEBIT.pin), remove)
        assert not lost.approved and "reversed" in lost.outcome.reason
        (reversal,) = gateway_requests(sim, "0400")
        row = sim.terminal.journal.entries()[-1]
        # The 0400 names the 0100 in DE90 and carries the pre-auth's DE3 and DE25.
        assert (reversal["3"], reversal["25"]) == ("030000", "06")
        assert reversal["90"].startswith(f"0100{row.stan}{row.transmission}")
        assert row.state is TxnState.REVERSED
        (ledger_row,) = sim.gateway.ledger.transactions()
        assert (ledger_row.kind, ledger_row.status.value) == ("preauth", "reversed")
        # Nothing to complete: the terminal refuses before sending anything.
        late = run(sim, start(sim, "preauth_completion", 100, lost.order.order_no))
        assert not late.approved and "no approved pre-auth" in late.outcome.reason


# -- a completion quoting its pre-auth, through the vendors' contracts --------------------


def sunmi_pre_auth_family(trans_type: int, amount: int, **original: str) -> IntentRequest:
    """com/sm/l3/demo/PreAuthActivity.onClick (chuwuwang/sunmi-export-api-demo): transType
    3 预授权 / 4 预授权撤销 / 5 预授权完成 / 6 预授权完成撤销, amount a long in fen, and the
    original's oriAuthNo, oriTransDate and oriVoucherNo (strings)."""
    extras: dict[str, object] = {
        "transId": f"T{trans_type}{amount}",
        "appId": "com.sm.l3.demo",
        "transType": trans_type,
        "amount": amount,
        **original,
    }
    return IntentRequest(extras, action="sunmi.payment.L3")


def test_a_sunmi_completion_quoting_another_auth_code_is_refused_and_its_own_passes(
    tmp_path: Path,
) -> None:
    with vendor_shop(tmp_path, "sunmi") as sim:
        auth = send(sim, sunmi_pre_auth_family(3, 50000), *card_paid())
        assert auth.extras["resultCode"] == 0, auth.extras
        voucher, auth_no, date = (auth.extras[k] for k in ("voucherNo", "authNo", "transDate"))
        wrong = "X" if auth_no != "X" * len(auth_no) else "Y"
        quoted = {"oriVoucherNo": voucher, "oriTransDate": date}
        refused = send(
            sim, sunmi_pre_auth_family(5, 31240, oriAuthNo=wrong * len(auth_no), **quoted)
        )
        assert refused.extras["resultCode"] != 0
        assert f"auth code {wrong * len(auth_no)} is not pre-auth" in refused.extras["errorMsg"]
        other_day = "1231" if date != "1231" else "0101"
        late = send(
            sim,
            sunmi_pre_auth_family(
                5, 31240, oriAuthNo=auth_no, oriVoucherNo=voucher, oriTransDate=other_day
            ),
        )
        assert late.extras["resultCode"] != 0
        assert f"was not made on {other_day}" in late.extras["errorMsg"]
        # Refused by the acquiring app itself: the host never saw a completion.
        assert not [r for r in gateway_requests(sim, "0200") if r["60"].startswith("20")]
        done = send(sim, sunmi_pre_auth_family(5, 31240, oriAuthNo=auth_no, **quoted))
        assert done.extras["resultCode"] == 0, done.extras
        (completion,) = [r for r in gateway_requests(sim, "0200") if r["60"].startswith("20")]
    assert completion["38"] == auth_no and completion["4"] == "000000031240"
    assert done.extras["authNo"] == auth_no  # a completion keeps the pre-auth's auth code


def test_a_sunmi_follow_up_naming_no_pre_auth_by_its_voucher_number_is_refused(
    tmp_path: Path,
) -> None:
    # Appendix C 406 无效的原交易凭证号.
    with vendor_shop(tmp_path, "sunmi") as sim:
        result = send(sim, sunmi_pre_auth_family(5, 100, oriVoucherNo="000999"))
        assert gateway_requests(sim, "0200") == []
    assert result.extras["errorCode"] == 406
    assert "no card pre-auth with voucher number 000999" in result.extras["errorMsg"]


def test_a_newland_completion_names_its_pre_auth_by_order_no_and_the_app_quotes_it(
    tmp_path: Path,
) -> None:
    # pos-invoke/index.md 交易类: a request has no key for the auth code or the original
    # date (sysolddate ...: "该字段仅在返回数据中，请求数据不需要"); 330000 with order_no.
    def newland(proc_cd: str, amt: str, order_no: str) -> IntentRequest:
        extras = {
            "msg_tp": "0200",
            "pay_tp": "0",
            "proc_tp": "00",
            "proc_cd": proc_cd,
            "amt": amt,
            "order_no": order_no,
            "appid": "com.nld.trafficmanage",
        }
        return IntentRequest(extras, component=NEWLAND)

    with vendor_shop(tmp_path, "newland") as sim:
        auth = send(sim, newland("300000", "500.00", "P20261207001"), *card_paid())
        assert auth.result_code == "RESULT_OK", auth.extras
        detail = json.loads(auth.extras["txndetail"])
        done = send(sim, newland("330000", "312.40", detail["orderid_scan"]))
        assert done.result_code == "RESULT_OK", done.extras
        (completion,) = [r for r in gateway_requests(sim, "0200") if r["60"].startswith("20")]
    assert completion["38"] == detail["authcode"] and completion["37"] == detail["refernumber"]
    assert json.loads(done.extras["txndetail"])["transamount"] == "312.40"


def test_the_cashier_app_names_the_original_by_voucher_number_where_the_vendor_asks(
    tmp_path: Path,
) -> None:
    # Sunmi's 预授权完成撤销 (transType 6) requires oriVoucherNo (PreAuthActivity).
    with vendor_shop(tmp_path, "sunmi") as sim:
        auth = preauth(sim, 50000)
        done = run(sim, start(sim, "preauth_completion", 20000, auth.order.order_no))
        assert done.approved, done.outcome.reason
        undone = run(sim, start(sim, "preauth_completion_void", 20000, done.order.order_no))
        assert undone.approved, undone.outcome.reason
        _, completion_row, _ = sim.terminal.journal.entries()
        extras = sim.bus.of(IntentStarted)[-1].payload.extras
    assert extras["transType"] == 6 and extras["oriVoucherNo"] == completion_row.stan
