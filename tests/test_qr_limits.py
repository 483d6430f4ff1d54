"""The QR API's limits (docs/reliability.md, docs/qr_api.md "Errors"): whatever a
client sends, the answer is a 4xx in the API's error shape or the connection is
closed -- never a 5xx, never a traceback -- and slow or idle clients are cut off.

Bodies go through the real aiohttp server on loopback; malformed HTTP and slow
clients are written on raw sockets.
"""

from __future__ import annotations

import gzip
import json
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from gateway_helpers import (
    TIMEOUT,
    close_all,
    closed_by_peer,
    limit_lines,
    running,
)
from qr_helpers import MID, TID, WECHAT, Client

from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign
from simulator.gateway.qr.validation import MAX_JSON_DEPTH

SHORT = 0.5  # seconds: the timeouts under test
MICROPAY = {
    "merchant_id": MID,
    "terminal_id": TID,
    "out_trade_no": "L1",
    "amount_fen": 100,
    "auth_code": WECHAT,
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running(tmp_path_factory.mktemp("qr-limits")) as (running_gateway, _):
        yield running_gateway


def nested(depth: int) -> bytes:
    """A micropay body whose ``description`` is an array ``depth`` levels deep
    (the body itself is level 1)."""
    body = json.dumps({**MICROPAY, "description": "HOLE"})
    inner = "[" * (depth - 1) + "]" * (depth - 1)
    return body.replace('"HOLE"', inner).encode()


def refused_and_nothing_changed(
    gateway: BuiltinGateway, raw: bytes, message: str, path: str = "/v1/micropay"
) -> None:
    before = gateway.qr.snapshot()
    status, answer = Client(gateway.qr_base_url).post(path, None, raw=raw)
    assert (status, answer["error_code"]) == (400, "INVALID_REQUEST"), answer
    assert message in answer["message"]
    assert gateway.qr.snapshot() == before


# -- bodies ------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1000, 8000])
def test_json_nested_too_deep_is_400(gateway: BuiltinGateway, depth: int) -> None:
    refused_and_nothing_changed(gateway, nested(depth), "nests arrays or objects deeper than")


def test_json_nested_to_the_limit_is_read(gateway: BuiltinGateway) -> None:
    status, answer = Client(gateway.qr_base_url).post("/v1/micropay", None, raw=nested(8))
    assert (status, answer["message"]) == (
        400,
        "field 'description' must be a string of at most 128 characters",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("description", "\ud800", "lone surrogate"),
        ("notify_url", "http://example.com/\udfff", "lone surrogate"),
        ("notify_url", "http://[::1/notify", "must be an http(s) URL"),
        ("notify_url", "http://127.0.0.1:99999/notify", "must be an http(s) URL"),
    ],
)
def test_values_that_cannot_be_stored_are_400(
    gateway: BuiltinGateway, field: str, value: Any, message: str
) -> None:
    raw = json.dumps({**MICROPAY, field: value}).encode()
    refused_and_nothing_changed(gateway, raw, message)


def test_a_number_too_long_to_convert_is_400(gateway: BuiltinGateway) -> None:
    raw = json.dumps(MICROPAY).replace('"amount_fen": 100', '"amount_fen": ' + "9" * 5000)
    refused_and_nothing_changed(gateway, raw.encode(), "not JSON")


def test_a_compressed_body_is_not_json(gateway: BuiltinGateway) -> None:
    """The API takes plain JSON; a gzip bomb is never inflated."""
    bomb = gzip.compress(b" " * 10_000_000)  # 10 MB of spaces, ~10 KB compressed
    for body in (gzip.compress(json.dumps(MICROPAY).encode()), bomb, b"not gzip at all"):
        status, answer = http_exchange(
            gateway,
            b"POST /v1/micropay HTTP/1.1\r\nHost: possim\r\nContent-Type: application/json\r\n"
            b"Content-Encoding: gzip\r\nContent-Length: %d\r\n"
            % len(body)
            + f"{SIGNATURE_HEADER}: {sign('x', body)}\r\n\r\n".encode()
            + body,
        )
        assert (status, answer["error_code"]) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /v1/orders/X?merchant_id=1 HTTP/1.1\r\nHost: a\r\n"
        + b"".join(b"X-%d: y\r\n" % n for n in range(200))
        + b"\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"POST /v1/micropay HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST /v1/micropay HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n",
        b"GET /v1/orders/\xff\xfe HTTP/1.1\r\nHost: a\r\n\r\n",
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)),  # a TLS hello
    ],
    ids=[
        "200 headers",
        "9000-byte header",
        "bad chunk",
        "huge length",
        "bytes in path",
        "HTTP/2",
        "TLS",
    ],
)
def test_malformed_http_is_400_in_the_error_shape_and_logs_nothing(
    gateway: BuiltinGateway, request_bytes: bytes, capfd: pytest.CaptureFixture[str]
) -> None:
    status, answer = http_exchange(gateway, request_bytes)
    assert status == 400
    assert answer["error_code"] == "INVALID_REQUEST"
    assert answer["message"].startswith("malformed HTTP request")
    assert capfd.readouterr().err == ""  # aiohttp logged a traceback per request here


def http_exchange(gateway: BuiltinGateway, request_bytes: bytes) -> tuple[int, Any]:
    with connect_to(gateway) as sock:
        sock.sendall(request_bytes)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data:
                head, _, rest = data.partition(b"\r\n\r\n")
                length = int(
                    next(
                        line.split(b":")[1]
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    )
                )
                if len(rest) >= length:
                    status = int(head.split(b" ")[1])
                    return status, json.loads(rest[:length])
    raise AssertionError(f"no complete answer: {data[:200]!r}")


def connect_to(gateway: BuiltinGateway, timeout: float = TIMEOUT) -> socket.socket:
    parts = urlsplit(gateway.qr_base_url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


# -- slow and idle clients ------------------------------------------------------------------


def test_an_idle_connection_is_closed(tmp_path: Path) -> None:
    with running(tmp_path, idle_timeout=SHORT) as (gateway, _):
        with connect_to(gateway) as sock:
            assert closed_by_peer(sock)
        # ... and after an answer, a connection kept alive is closed when idle too.
        with connect_to(gateway) as sock:
            sock.sendall(b"GET /openapi.yaml HTTP/1.1\r\nHost: possim\r\n\r\n")
            assert sock.recv(12) == b"HTTP/1.1 200"
            assert closed_by_peer(sock)


@pytest.mark.parametrize("slow", ["headers", "body"])
def test_a_request_trickling_in_is_closed_at_the_request_timeout(tmp_path: Path, slow: str) -> None:
    body = json.dumps(MICROPAY).encode()
    head = (
        b"POST /v1/micropay HTTP/1.1\r\nHost: possim\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(body)
    )
    with running(tmp_path, request_timeout=SHORT) as (gateway, _):
        with connect_to(gateway, timeout=SHORT / 5) as sock:
            if slow == "body":
                sock.sendall(head)
            closed = False
            for byte in head + body if slow == "headers" else body:
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    closed = True
                    break
                if closed_by_peer(sock):
                    closed = True
                    break
            assert closed, "the whole request went through, byte by byte"
        assert Client(gateway.qr_base_url).micropay("L2", 100, WECHAT)[0] == 200


def test_at_the_limit_idle_connections_make_room(tmp_path: Path) -> None:
    idle: list[socket.socket] = []
    with running(tmp_path, qr_max_connections=4) as (gateway, bus):
        try:
            idle = [connect_to(gateway) for _ in range(30)]
            for oldest in idle[:26]:
                assert closed_by_peer(oldest)
            status, answer = Client(gateway.qr_base_url).micropay("L3", 100, WECHAT)
            assert (status, answer["result"]) == (200, "SUCCESS")
            assert gateway.qr_server.open_connections <= 4
        finally:
            close_all(idle)
        (line,) = limit_lines(bus)
        assert line.startswith("QR API: 4 connections open (the limit)")
