"""What possim's WeChat Pay simulator keeps, and how a fault's time passes on the virtual clock."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from wechatpy.pay import WeChatPay

from drivers.clock import RealClock
from simulator.channels.wechat import keys as wechat_keys
from simulator.channels.wechat.core import NONCE_WINDOW_SECONDS, WechatCore
from simulator.channels.wechat.keys import KeysFileError
from simulator.channels.wechat.notify import Notice, Notifier
from simulator.channels.wechat.server import (
    DEFAULT_MAX_BODY,
    ChannelServerError,
    WechatPaySimulator,
)
from simulator.channels.wechat.trades import Trades
from simulator.clock import VirtualClock
from tests.wechat_helpers import PAYMENT_CODE, session_keys, wechat_pay


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def sim(
    clock: VirtualClock, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WechatPaySimulator]:
    with wechat_pay(clock, tmp_path_factory.getbasetemp() / "wechat-keys") as simulator:
        yield simulator


def test_a_body_over_the_limit_is_413_and_the_server_goes_on(sim: WechatPaySimulator) -> None:
    huge = b"<xml>" + b"a" * DEFAULT_MAX_BODY + b"</xml>"
    for path in ("/pay/micropay", "/v3/pay/transactions/codepay"):
        assert requests.post(sim.base_url + path, data=huge, timeout=30).status_code == 413
    assert requests.post(sim.base_url + "/pay/orderquery", data=b"<xml/>", timeout=30).ok


def test_a_slow_answer_takes_its_time_on_the_virtual_clock(
    sim: WechatPaySimulator, clock: VirtualClock
) -> None:
    keys = sim.core.keys
    pay = WeChatPay(appid=keys.appid, api_key=keys.api_key, mch_id=keys.mch_id)
    pay.API_BASE_URL = sim.base_url + "/"
    sim.core.faults.arm({"kind": "slow", "api": "micropay", "seconds": 30})
    start = clock.monotonic()
    pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip="127.0.0.1", out_trade_no="L-1")
    assert clock.monotonic() - start == 30  # virtual seconds, no real wait


def test_the_book_keeps_the_newest_orders() -> None:
    trades = Trades(VirtualClock(), max_trades=3)
    for n in range(5):
        trades.micropay(mch_id="m", appid="a", out_trade_no=f"O-{n}", amount_fen=1,
                        auth_code=PAYMENT_CODE, description="d")  # fmt: skip
    assert [t.out_trade_no for t in trades.all()] == ["O-2", "O-3", "O-4"]


def test_nonces_are_remembered_for_five_minutes_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    core = WechatCore(RealClock(), session_keys(tmp_path_factory.getbasetemp() / "wechat-keys"))
    assert not core.nonce_seen("m", "N-1", 1000.0)
    assert core.nonce_seen("m", "N-1", 1000.0 + NONCE_WINDOW_SECONDS)
    assert not core.nonce_seen("m", "N-2", 1001.0 + NONCE_WINDOW_SECONDS)
    assert not core.nonce_seen("m", "N-1", 1001.0 + NONCE_WINDOW_SECONDS)  # forgotten


def test_the_notify_queue_drops_its_oldest_at_the_limit() -> None:
    notifier = Notifier(VirtualClock(), max_pending=2)  # not started: nothing is sent
    for label in ("a", "b", "c"):
        notifier.send(Notice(label, "http://127.0.0.1:9/", b"", {}, lambda s, b: True), delay=60)
    assert (notifier.pending, notifier.dropped) == (2, 1)


def test_the_simulator_listens_on_loopback_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    keys = session_keys(tmp_path_factory.getbasetemp() / "wechat-keys")
    with pytest.raises(ChannelServerError, match="loopback only"):
        WechatPaySimulator(RealClock(), keys, host="0.0.0.0")


def test_the_test_keys_are_made_once_and_a_broken_file_is_named(tmp_path: Path) -> None:
    first = wechat_keys.load(tmp_path)
    assert wechat_keys.load(tmp_path) == first  # generated once, then read
    assert "PRIVATE KEY" in first.merchant_private_pem and first.public_key_id.startswith(
        "PUB_KEY_ID_"
    )
    (tmp_path / "keys.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(KeysFileError, match="delete it and possim generates new ones") as raised:
        wechat_keys.load(tmp_path)
    assert "\n" not in str(raised.value)


def test_the_control_endpoints(sim: WechatPaySimulator) -> None:
    base = sim.base_url
    refused = requests.post(f"{base}/possim/faults", json=[{"kind": "slow"}], timeout=30)
    assert refused.status_code == 400
    assert refused.json()["error"] == "WeChat fault: slow needs seconds > 0"
    armed = requests.post(
        f"{base}/possim/faults",
        json=[{"kind": "system_error", "api": "query"}, {"kind": "notify_lost"}],
        timeout=30,
    )
    assert armed.json() == {"armed": 2}
    assert [f.kind for f in sim.core.faults.armed()] == ["system_error", "notify_lost"]
    assert requests.delete(f"{base}/possim/faults", timeout=30).json() == {"armed": 0}
    missing = requests.post(f"{base}/possim/scan", json={"code_url": "weixin://x"}, timeout=30)
    assert (missing.status_code, missing.json()["error"]) == (404, "ORDERNOTEXIST")
    outcome = sim.core.trades.native(
        mch_id=sim.core.keys.mch_id, appid=sim.core.keys.appid, out_trade_no="C-1",
        amount_fen=100, description="d", notify_url="http://127.0.0.1:9/n",
    )  # fmt: skip
    assert outcome.trade is not None and outcome.trade.code_url is not None
    scanned = requests.post(
        f"{base}/possim/scan", json={"code_url": outcome.trade.code_url}, timeout=30
    )
    assert scanned.json() == {"trade_state": "SUCCESS"}
    again = requests.post(
        f"{base}/possim/scan", json={"code_url": outcome.trade.code_url}, timeout=30
    )
    assert (again.status_code, again.json()["error"]) == (409, "ORDERPAID")


def test_connections_over_the_limit_are_closed_and_the_rest_served(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    keys = session_keys(tmp_path_factory.getbasetemp() / "wechat-keys")
    with WechatPaySimulator(RealClock(), keys, max_connections=3) as simulator:
        host, port = simulator.base_url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port)), timeout=30) for _ in range(3)]
        extra = socket.create_connection((host, int(port)), timeout=30)
        try:
            assert extra.recv(1) == b""  # closed by the server, unanswered
            # The connections within the limit are served.
            request = b"POST /pay/orderquery HTTP/1.1\r\nHost: possim\r\nContent-Length: 6\r\n"
            held[0].sendall(request + b"Connection: close\r\n\r\n<xml/>")
            answer = b""
            while chunk := held[0].recv(4096):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200") and b"mch_id" in answer
        finally:
            extra.close()
            for connection in held:
                connection.close()


def test_a_request_that_trickles_in_is_cut_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    keys = session_keys(tmp_path_factory.getbasetemp() / "wechat-keys")
    with WechatPaySimulator(RealClock(), keys, request_timeout=1.0) as simulator:
        host, port = simulator.base_url.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=60) as slow:
            slow.sendall(b"POST /pay/orderquery HTTP/1.1\r\nHost: possim\r\nContent-Le")
            assert slow.recv(1) == b""  # closed unanswered, long before the 60 s socket timeout


def test_a_slow_answer_is_not_cut_off_as_a_slow_request(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    keys = session_keys(tmp_path_factory.getbasetemp() / "wechat-keys")
    with WechatPaySimulator(RealClock(), keys, request_timeout=0.2) as simulator:
        simulator.core.faults.arm({"kind": "slow", "api": "micropay", "seconds": 1})
        pay = WeChatPay(appid=keys.appid, api_key=keys.api_key, mch_id=keys.mch_id, timeout=60)
        pay.API_BASE_URL = simulator.base_url + "/"
        paid = pay.micropay.create("Cola", 1, PAYMENT_CODE, client_ip="127.0.0.1")
        assert paid["result_code"] == "SUCCESS"
        assert simulator.core.faults.armed() == []  # the answer was the slow one
