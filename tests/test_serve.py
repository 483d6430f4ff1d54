"""``possim serve``: a cashier app outside possim pays through the vendor's door while
the test plays the cardholder through the hands API (docs/cashier_apps.md).

The cashier app is examples/cashier_app/cashier.mjs: Node.js, no possim code, the
Intent extras of Newland's "pos-invoke" contract (star-pos/APIDocument
pos-invoke/index.md: startActivityForResult, every extra a String, amt in yuan,
RESULT_OK with ``txndetail`` / RESULT_CANCELED with ``reason``; docs/vendor_newland.md)
and of Sunmi's L3 app (action sunmi.payment.L3, typed extras, the
sunmi.payment.L3.RESULT broadcast; docs/vendor_sunmi.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from openapi_spec_validator import validate
from process_helpers import DEADLINE, possim, start_like_a_background_job
from serve_helpers import ShopClient, event_lines, served_shop

from simulator.devices import cards
from simulator.serve.api import HAND_NAMES, MAX_BODY, openapi_path
from simulator.serve.server import ServedShop, ServeError, ServeOptions
from simulator.terminal.config import TerminalConfig

REPO = Path(__file__).resolve().parent.parent
CASHIER_APP = REPO / "examples" / "cashier_app" / "cashier.mjs"
VENDOR_FIXTURES = REPO / "firmware_fixtures" / "vendors"
NEEDS_NODE = pytest.mark.system_package("node")


def start_cashier_app(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [shutil.which("node") or "node", str(CASHIER_APP), *args, "--url", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def outcome(app: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    out, err = app.communicate(timeout=DEADLINE)
    assert out.strip(), f"the cashier app printed nothing (exit {app.returncode}): {err}"
    answer: dict[str, Any] = json.loads(out)
    return app.returncode, answer


def vendor_profile(name: str) -> dict[str, Any]:
    profile: dict[str, Any] = yaml.safe_load(
        (VENDOR_FIXTURES / f"{name}.yaml").read_text(encoding="utf-8")
    )
    return profile


def assert_printed_and_spoke(shop: ShopClient, masked_pan: str, amount_fen: int) -> None:
    """The virtual printer printed both copies of the sale slip; the speaker spoke."""
    receipts = shop.get("/v1/view/receipts")
    assert [receipt["kind"] for receipt in receipts] == ["sale", "sale"]
    assert all(masked_pan in receipt["text"] for receipt in receipts)
    assert all("RMB 12.34" in receipt["text"] for receipt in receipts)
    status, png = shop.request("GET", "/v1/view/receipts/1.png")
    assert status == 200 and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert [said["text"] for said in shop.get("/v1/view/speech")] == ["收款成功，十二点三四元"]
    ledger = shop.get("/v1/view/ledger")
    assert [(row["amount"], row["status"]) for row in ledger] == [(amount_fen, "approved")]


@NEEDS_NODE
def test_a_node_cashier_app_pays_by_card_at_newland_while_the_test_is_the_cardholder(
    tmp_path: Path,
) -> None:
    with served_shop(tmp_path, "--vendor", "newland") as (command, shop):
        app = start_cashier_app(shop.url, "sale", "12.34", "--order", "NODE0001")
        try:
            shop.pay_by_card("unionpay_debit", "683915")
            code, answer = outcome(app)
        finally:
            app.kill()
        assert code == 0, answer
        # pos-invoke/index.md: RESULT_OK; the approved keys of the profile, every value a
        # String, txndetail a JSON string of the 附录 交易详情 keys.
        assert answer["result_code"] == "RESULT_OK" and "broadcast" not in answer
        approved = vendor_profile("newland")["result"]["approved"]
        assert set(answer["extras"]) == set(approved)
        assert all(isinstance(value, str) for value in answer["extras"].values())
        assert answer["extras"]["msg_tp"] == "0210"
        detail = answer["detail"]
        assert set(detail) == set(approved["txndetail"]["json"])
        assert all(isinstance(value, str) for value in detail.values())
        assert detail["transamount"] == "12.34"  # yuan with its decimal point
        assert detail["orderid_scan"] == "NODE0001"
        assert detail["priaccount"] == "621483******3655"
        assert answer["extras"]["cardtype"] == "00"  # 借记卡
        assert_printed_and_spoke(shop, "621483******3655", 1234)
        assert not event_lines(command, "683915"), "the PIN reached the log"


@NEEDS_NODE
def test_a_node_cashier_app_pays_by_card_at_sunmi_l3_and_hears_the_broadcast(
    tmp_path: Path,
) -> None:
    with served_shop(tmp_path, "--vendor", "sunmi") as (command, shop):
        assert shop.get("/v1/shop")["vendor"] == "sunmi"
        app = start_cashier_app(
            shop.url, "sale", "12.34", "--vendor", "sunmi", "--order", "L3SALE01"
        )
        try:
            shop.pay_by_card("unionpay_debit", "683915")
            code, answer = outcome(app)
        finally:
            app.kill()
        assert code == 0, answer
        # The L3 app answers by the broadcast sunmi.payment.L3.RESULT, not a result code.
        assert answer["broadcast"] == "sunmi.payment.L3.RESULT" and "result_code" not in answer
        extras = answer["extras"]
        assert set(extras) == set(vendor_profile("sunmi")["result"]["approved"])
        # Typed as the demo app reads them: int resultCode and transType, long amount.
        assert extras["resultCode"] == 0 and extras["transType"] == 0
        assert extras["amount"] == 1234 and isinstance(extras["amount"], int)
        assert extras["transId"] == "L3SALE01"
        assert extras["cardNo"] == "621483******3655"
        assert extras["answerCode"] == "00"
        assert all(
            isinstance(value, str)
            for key, value in extras.items()
            if key not in ("resultCode", "transType", "amount")
        )
        assert_printed_and_spoke(shop, "621483******3655", 1234)
        assert not event_lines(command, "683915"), "the PIN reached the log"


@NEEDS_NODE
def test_an_amount_in_fen_to_newland_gets_its_refusal_and_the_log_names_amt_and_the_rule(
    tmp_path: Path,
) -> None:
    with served_shop(tmp_path, "--vendor", "newland") as (command, shop):
        # The app's bug: 12-digit fen where Newland's amt is yuan ("100.01", 交易金额).
        app = start_cashier_app(shop.url, "sale", "12.34", "--amt", "000000001234")
        code, answer = outcome(app)
        assert code == 1, answer
        assert answer["result_code"] == "RESULT_CANCELED"
        assert set(answer["extras"]) == set(vendor_profile("newland")["result"]["failed"])
        assert "amt" in answer["reason"] and answer["reason"].startswith("交易金额错误")
        # The rule, in the served shop's log: the key, what it got, what Newland takes.
        command.wait_for(
            r"intent_refused newland .*amt='000000001234': expected yuan like '100\.01' "
            r"or '100', without leading zeros \(star-pos/APIDocument pos-invoke/index\.md\)"
        )
        assert shop.get("/v1/view/state")["busy"] is False
        assert shop.get("/v1/view/ledger") == []


@NEEDS_NODE
def test_an_amount_in_yuan_to_sunmi_gets_its_refusal_broadcast_and_the_log_names_amount(
    tmp_path: Path,
) -> None:
    with served_shop(tmp_path, "--vendor", "sunmi") as (command, shop):
        # The app's bug: a JSON 12.34 (a double) where the L3 app reads a long in fen.
        app = start_cashier_app(shop.url, "sale", "12.34", "--vendor", "sunmi", "--amt", "12.34")
        code, answer = outcome(app)
        assert code == 1, answer
        assert answer["broadcast"] == "sunmi.payment.L3.RESULT"
        extras = answer["extras"]
        assert set(extras) == set(vendor_profile("sunmi")["result"]["failed"])
        # Appendix C: 409 无效的金额, as an int; resultCode not 0.
        assert extras["resultCode"] == -1 and extras["errorCode"] == 409
        command.wait_for(r"intent_refused sunmi .*amount=12\.34: expected a long extra, got float")
        assert shop.get("/v1/view/ledger") == []


def test_an_intent_addressed_to_another_vendors_app_is_refused_naming_both(
    served: Any,
) -> None:
    _, client = served
    sunmi = {"action": "sunmi.payment.L3", "extras": {"transType": 0, "amount": 1}}
    status, body = client.request("POST", "/v1/intent", sunmi)
    assert status == 404, body
    assert "sunmi" in body["error"] and "sunmi.payment.L3" in body["error"]
    assert "newland" in body["error"] and "--vendor sunmi" in body["error"]
    status, body = client.request("POST", "/v1/intent", {"component": "a/.B", "extras": {}})
    assert status == 404 and "no app possim knows (component a/.B)" in body["error"]
    assert client.get("/v1/view/state")["busy"] is False


def test_a_non_loopback_address_without_a_token_is_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        possim("serve", "--host", "0.0.0.0", "--port", "0"),
        capture_output=True,
        text=True,
        timeout=DEADLINE,
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "0.0.0.0" in lines[0] and "--token" in lines[0]
    with pytest.raises(ServeError, match="needs a token"):
        ServedShop(TerminalConfig.load(), tmp_path, ServeOptions(host="::"), print)


@pytest.fixture
def served(tmp_path: Path) -> Any:
    options = ServeOptions(port=0, token="s3cret")
    lines: list[str] = []
    with ServedShop(TerminalConfig.load(), tmp_path, options, lines.append) as shop:
        yield shop, ShopClient(shop.url, token="s3cret")


def test_every_request_needs_the_token_when_one_is_set(served: Any) -> None:
    shop, client = served
    assert client.get("/v1/shop")["vendor"] == "newland"
    status, body = ShopClient(shop.url).request("GET", "/v1/shop")
    assert status == 401 and "token" in body["error"]
    status, body = ShopClient(shop.url, token="wrong").request("POST", "/v1/hands/open_cover", {})
    assert status == 401
    assert client.get("/v1/view/state")["printer"]["cover_open"] is False


def test_bad_requests_get_one_line_errors_and_the_shop_stays_up(served: Any) -> None:
    _, client = served
    status, body = client.request("POST", "/v1/hands/insert_card", {"card": "no_such_card"})
    assert status == 404 and "not a catalogue card" in body["error"]
    status, body = client.request("POST", "/v1/hands/type_pin", {"pin": 1234})
    assert status == 400 and body["error"].startswith("pin:")
    status, body = client.request("POST", "/v1/intent", {"component": "x", "extras": {}})
    assert status == 404 and "com.newland" in body["error"]
    status, body = client.request("POST", "/v1/intent", {"extras": {}})
    assert status == 400 and "component, an action or a uri" in body["error"]
    status, body = client.request("POST", "/v1/intent", ["not", "an", "object"])
    assert status == 400
    status, body = client.request("POST", "/v1/hands/scan", {"code": "x" * (MAX_BODY + 1)})
    assert status == 413 and str(MAX_BODY) in body["error"]
    status, body = client.request("GET", "/v1/view/receipts/1.png")
    assert status == 404 and "0 cut" in body["error"]
    status, body = client.request("GET", "/v1/events?after=abc")
    assert status == 400
    assert client.get("/v1/view/state")["busy"] is False


def test_the_event_stream_on_a_websocket_sees_what_the_hands_do(served: Any) -> None:
    shop, client = served

    async def watch() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        async with aiohttp.ClientSession() as session:
            url = f"{shop.url}/v1/events/ws?token=s3cret"
            async with session.ws_connect(
                url, timeout=aiohttp.ClientWSTimeout(ws_close=DEADLINE)
            ) as ws:
                acting = asyncio.get_running_loop().run_in_executor(
                    None, lambda: client.act("open_cover")
                )
                async for message in ws:
                    seen.append(json.loads(message.data))
                    if seen[-1]["kind"] == "printer_fault":
                        break
                await acting
        return seen

    seen = asyncio.run(asyncio.wait_for(watch(), DEADLINE))
    assert seen[-1]["summary"] == "printer cover opened"
    assert seen[-1]["source"] == "serve"
    assert client.get("/v1/view/state")["printer"]["cover_open"] is True
    replay = client.get("/v1/events?after=0")
    assert [event["seq"] for event in replay] == sorted(event["seq"] for event in replay)


def test_the_openapi_description_is_valid_served_in_docs_and_names_every_route(
    served: Any,
) -> None:
    shop, client = served
    document = yaml.safe_load(openapi_path().read_text(encoding="utf-8"))
    validate(document)
    assert client.get("/openapi.yaml") == openapi_path().read_bytes()
    docs_copy = REPO / "docs" / "shop_api.openapi.yaml"
    assert docs_copy.read_bytes() == openapi_path().read_bytes(), (
        f"regenerate: cp {openapi_path().relative_to(REPO)} docs/shop_api.openapi.yaml"
    )
    served_routes = {
        route.resource.canonical.replace(r"{index:\d+}", "{index}")
        for route in shop.api.application().router.routes()
        if route.method != "HEAD"
    }
    assert served_routes == set(document["paths"])
    assert {f"/v1/hands/{name}" for name in HAND_NAMES} <= set(document["paths"])


def test_ctrl_c_stops_a_shop_whose_payment_waits_for_a_card(tmp_path: Path) -> None:
    with served_shop(tmp_path) as (command, shop):
        intent = _intent_for(shop)

        def pay() -> None:
            with contextlib.suppress(OSError):  # the shop goes away mid-payment
                shop.request("POST", "/v1/intent", intent)

        payment = threading.Thread(target=pay, daemon=True)
        payment.start()
        shop.wait_for_screen("present_card")
        port = int(shop.url.rsplit(":", 1)[1])
        took = command.interrupt()
        assert command.process.returncode == 0, command.output
        print(f"possim serve stopped {took:.2f} s after SIGINT")
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=5).close()


def _intent_for(shop: ShopClient) -> dict[str, Any]:
    component = shop.get("/v1/shop")["component"]
    extras = {
        "msg_tp": "0200",
        "pay_tp": "0",
        "proc_tp": "00",
        "proc_cd": "000000",
        "amt": "1.00",
        "order_no": "CTRLC01",
        "appid": "com.possim.cashier",
        "time_stamp": "20260115103000",
    }
    return {"component": component, "extras": extras}


@NEEDS_NODE
def test_the_pos_served_fixture_hands_its_url_to_the_code_under_test(
    pos_served: ServedShop,
) -> None:
    view, hands = pos_served.shop.view, pos_served.shop.hands
    card = cards.load("unionpay_debit")

    def screen(wanted: str) -> None:
        shown = view.first(
            view.screens, lambda s: s.payload.screen.value == wanted, after=0, within=DEADLINE
        )
        assert shown is not None, f"no {wanted} screen; the shop shows {view.screen_text()}"

    app = start_cashier_app(pos_served.url, "sale", "0.50", "--order", "FIXTURE1")
    try:
        screen("present_card")
        hands.insert_card(card)
        screen("enter_pin")
        assert hands.type_pin(card.pin)
        screen("remove_card")
        assert hands.remove_card()
        code, answer = outcome(app)
    finally:
        app.kill()
    assert code == 0, answer
    assert answer["detail"]["orderid_scan"] == "FIXTURE1"
    assert [entry.amount_fen for entry in view.journal()] == [50]


EXTERNAL_SALE = """\
name: An outside cashier app sells by card
purpose: A Node.js cashier app starts the Newland acquiring app for RMB 12.34; the cardholder pays.
seed: 1
steps:
  - expect_intent:
      extras: {proc_cd: "000000", amt: "12.34", order_no: EXT00001}
      within: 60s
  - expect_screen: present_card
  - insert_card: unionpay_debit
  - expect_screen: enter_pin
  - enter_pin: card
  - expect_screen: remove_card
  - remove_card:
  - expect_callback: {result: OK}
  - expect_speech: "收款成功，十二点三四元"
  - expect_receipt: {copies: 2, contains: ["621483******3655", "RMB 12.34"]}
"""


@NEEDS_NODE
def test_a_scenario_leaves_the_cashier_side_to_an_outside_app(tmp_path: Path) -> None:
    scenario = tmp_path / "external_sale.yaml"
    scenario.write_text(EXTERNAL_SALE, encoding="utf-8")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = start_like_a_background_job(
        possim("run", str(scenario), "--serve-port", str(port)), cwd=tmp_path
    )
    try:
        shop = ShopClient(f"http://127.0.0.1:{port}")
        end = time.monotonic() + DEADLINE
        while not _answers(shop):  # served once the run has begun
            assert time.monotonic() < end, run.output
            time.sleep(0.05)
        app = start_cashier_app(shop.url, "sale", "12.34", "--order", "EXT00001")
        code, answer = outcome(app)
        assert run.process.wait(DEADLINE) == 0, run.output
    finally:
        run.stop()
    assert code == 0 and answer["detail"]["orderid_scan"] == "EXT00001", answer
    assert "1 passed, 0 failed" in run.output, run.output


def _answers(shop: ShopClient) -> bool:
    try:
        return shop.request("GET", "/v1/shop")[0] == 200
    except OSError:  # not listening yet
        return False
