"""Fuzzing the simulated Alipay: every request gets a well-formed answer (never a 5xx or a
traceback), and a refused request changes nothing."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.channels.alipay import signing
from simulator.channels.alipay.channel import TEST_APP_ID, TEST_APP_KEY, AlipayChannel
from simulator.channels.alipay.methods import METHODS
from simulator.channels.alipay.server import AlipayServer
from simulator.channels.keys import test_key
from simulator.clock import VirtualClock

SUCCESSES = ("10000", "10003")


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alipay-fuzz-keys")


@pytest.fixture(scope="module")
def channel(key_dir: Path) -> AlipayChannel:
    return AlipayChannel.with_test_keys(VirtualClock(), key_dir=key_dir)


@pytest.fixture(scope="module")
def server(channel: AlipayChannel) -> Iterator[AlipayServer]:
    running = AlipayServer(channel)
    running.start()
    yield running
    running.stop()


_texts = st.text(max_size=40)
_amounts = st.one_of(
    st.sampled_from(["0.01", "12.34", "0", "-1", "1.234", "1e3", "100000000.01", "2000.00"]),
    st.decimals(min_value=-10, max_value=10**9, places=2).map(str),
    st.integers(-5, 10**10),
    st.none(),
)
_codes = st.one_of(st.from_regex(r"2[5-9]\d{14,22}", fullmatch=True), _texts)
_biz = st.fixed_dictionaries(
    {},
    optional={
        "out_trade_no": st.one_of(st.sampled_from(["A1", "A2", "A3"]), _texts),
        "trade_no": _texts,
        "total_amount": _amounts,
        "refund_amount": _amounts,
        "auth_code": _codes,
        "scene": st.sampled_from(["bar_code", "wave_code", "", "security_code"]),
        "subject": _texts,
        "out_request_no": st.sampled_from(["r1", "r2"]),
        "bill_type": st.sampled_from(["trade", "x"]),
        "bill_date": st.sampled_from(["2026-01-14", "2026-01", "x"]),
    },
)
_plausible_biz = st.fixed_dictionaries(
    {
        "out_trade_no": st.sampled_from(["A1", "A2", "A3"]),
        "scene": st.just("bar_code"),
        "auth_code": st.from_regex(r"28\d{16}", fullmatch=True),
        "subject": st.just("fuzz"),
        "total_amount": st.sampled_from(["12.34", "2000.00"]),
        "refund_amount": st.sampled_from(["1.00", "12.34", "50.00"]),
        "out_request_no": st.sampled_from(["r1", "r2"]),
        "bill_type": st.just("trade"),
        "bill_date": st.just("2026-01-14"),
    }
)
_VALID_COMMON = {
    "app_id": TEST_APP_ID,
    "sign_type": "RSA2",
    "timestamp": "2026-01-15 10:30:00",
    "version": "1.0",
    "charset": "utf-8",
}
_BROKEN = {
    "app_id": st.one_of(_texts, st.just("")),
    "sign_type": st.sampled_from(["RSA", "MD5", ""]),
    "timestamp": st.sampled_from(["yesterday", "", "2026-13-45 99:00:00"]),
    "version": st.sampled_from(["2.0", ""]),
    "charset": st.sampled_from(["gbk", "latin-1", ""]),
    "format": st.sampled_from(["JSON", "xml"]),
    "notify_url": st.one_of(_texts, st.just("http://127.0.0.1:9/notify")),
}


@st.composite
def _common(draw: st.DrawFn) -> dict[str, str]:
    """Mostly valid public parameters, so most requests reach the trade methods."""
    common = dict(_VALID_COMMON)
    common["method"] = draw(st.one_of(st.sampled_from(sorted(METHODS)), _texts))
    for name in draw(st.lists(st.sampled_from(sorted(_BROKEN)), max_size=2, unique=True)):
        common[name] = draw(_BROKEN[name])
    return common


def _request(common: dict[str, str], biz: Any, signed: bool, raw_biz: str | None) -> dict[str, str]:
    params = dict(common)
    params["biz_content"] = raw_biz if raw_biz is not None else json.dumps(biz, ensure_ascii=False)
    if signed:
        key = test_key(TEST_APP_KEY, _KEY_DIR[0]).private_key
        params["sign"] = signing.sign(key, signing.sign_content(params), "RSA2")
    else:
        params["sign"] = "c2lnbg=="
    return params


_KEY_DIR: list[Path] = []


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    plausible=st.booleans(),
    method=st.sampled_from(sorted(METHODS)),
    good_biz=_plausible_biz,
    common=_common(),
    biz=_biz,
    signed=st.sampled_from([True, True, True, False]),
    raw_biz=st.one_of(
        st.none(), st.none(), st.none(), _texts, st.just("[1]"), st.just('{"a":' * 50)
    ),
)
def _any_request_is_answered_and_a_refusal_changes_nothing(
    channel: AlipayChannel,
    key_dir: Path,
    plausible: bool,
    method: str,
    good_biz: dict[str, Any],
    common: dict[str, str],
    biz: dict[str, Any],
    signed: bool,
    raw_biz: str | None,
) -> None:
    if plausible:  # half the requests are well-formed, to reach every trade method
        common, biz, signed, raw_biz = dict(_VALID_COMMON, method=method), good_biz, True, None
    _KEY_DIR[:] = [key_dir]
    params = _request(common, biz, signed, raw_biz)
    before = channel.book.snapshot()
    body, delay = channel.handle(params)
    answer = json.loads(body)
    (key,) = [k for k in answer if k != "sign"]
    assert key == "error_response" or key.endswith("_response")
    node = answer[key]
    assert isinstance(node["code"], str) and node["msg"]
    if node["code"] not in SUCCESSES:
        assert channel.book.snapshot() == before, node
    if "sign" not in answer:  # unsigned: only when there is no known app to sign for
        assert params.get("app_id") != TEST_APP_ID, node
        assert node["code"] in ("40001", "40002"), node
    assert delay == 0.0
    _SEEN.add(node["code"])


_SEEN: set[str] = set()


def test_any_request_is_answered_and_a_refusal_changes_nothing(
    channel: AlipayChannel, key_dir: Path
) -> None:
    """The fuzzing, then proof that it got past the gateway to real business (run here,
    not in a test of its own, so that no test depends on another's order or worker)."""
    _SEEN.clear()
    _any_request_is_answered_and_a_refusal_changes_nothing(channel=channel, key_dir=key_dir)
    assert {"10000", "40001", "40002", "40004"} <= _SEEN, _SEEN


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.binary(max_size=2048),
    query=st.text(max_size=200),
    method=st.sampled_from(["POST", "GET"]),
)
def test_raw_http_bytes_never_get_a_5xx(
    server: AlipayServer, body: bytes, query: str, method: str
) -> None:
    before = server.channel.book.snapshot()
    url = server.gateway_url + "?" + urllib.request.quote(query, safe="=&%+")
    request = urllib.request.Request(url, data=body if method == "POST" else None, method=method)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, text = refused.code, refused.read()
    assert status < 500, text
    if status == 200:
        assert isinstance(json.loads(text), dict)
    assert server.channel.book.snapshot() == before  # unsigned: nothing can change


def test_a_body_over_the_limit_is_refused_with_413(server: AlipayServer) -> None:
    request = urllib.request.Request(server.gateway_url, data=b"a=" + b"x" * 70_000)
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    assert refused.value.code == 413


def test_a_request_with_too_many_parameters_is_a_public_error(server: AlipayServer) -> None:
    body = "&".join(f"p{i}=1" for i in range(65)).encode()
    request = urllib.request.Request(server.gateway_url + "?method=alipay.trade.query", data=body)
    with urllib.request.urlopen(request, timeout=30) as answer:
        node = json.load(answer)["alipay_trade_query_response"]
    assert (node["code"], node["sub_code"]) == ("40001", "isv.missing-app-id")


def test_the_book_forgets_the_oldest_trade_beyond_its_bound() -> None:
    from datetime import datetime, timezone

    from simulator.channels.alipay.trades import Trade, TradeBook, TradeStatus

    book = TradeBook(max_trades=3)
    for n in range(5):
        book.add(
            Trade("app", f"T{n}", f"N{n}", 100, "s", TradeStatus.TRADE_SUCCESS,
                  datetime(2026, 1, 15, tzinfo=timezone.utc), "bar_code")
        )  # fmt: skip
    assert len(book) == 3 and book.evicted == 2
    assert book.find("app", "T0", None) is None and book.find("app", None, "N1") is None
    assert book.find("app", "T4", None) is not None


def test_a_body_that_never_arrives_is_answered_408(
    server: AlipayServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    from simulator.channels import http as server_module

    monkeypatch.setattr(server_module, "BODY_TIMEOUT", 0.5)
    host, port = server.address
    with socket.create_connection((host, port), timeout=60) as client:
        client.sendall(
            b"POST /gateway.do HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n\r\nmethod="
        )
        status_line = client.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1.1 408"), status_line


def test_the_server_listens_on_loopback_only(channel: AlipayChannel) -> None:
    from simulator.channels.errors import ChannelError

    with pytest.raises(ChannelError, match="loopback only"):
        AlipayServer(channel, host="0.0.0.0")
