"""The simulated Alipay on loopback, python-alipay-sdk pointed at it, a merchant's notify URL."""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from drivers.clock import Clock
from simulator.channels.alipay.channel import TEST_APP_ID, TEST_APP_KEY, AlipayChannel
from simulator.channels.alipay.server import AlipayServer
from simulator.channels.keys import test_key

AUTH_CODE = "287654321098765432"  # 28 + 16 digits: a well-formed Alipay payment code


def sdk_for(server: AlipayServer, key_dir: Path, *, app_key: str = TEST_APP_KEY) -> Any:
    """python-alipay-sdk, unmodified, at possim's gateway, verifying with possim's public key.

    The SDK has no gateway option (``debug`` picks between Alipay's two hosts);
    its one attribute for the gateway, ``_gateway``, is the least invasive knob.
    """
    from alipay import AliPay

    sdk = AliPay(
        appid=TEST_APP_ID,
        app_notify_url=None,
        app_private_key_string=test_key(app_key, key_dir).private_pem_pkcs1(),
        alipay_public_key_string=server.channel.signing_key.public_key()
        .public_bytes(*_spki())
        .decode("ascii"),
        sign_type="RSA2",
    )
    sdk._gateway = server.gateway_url
    return sdk


def _spki() -> tuple[Any, Any]:
    from cryptography.hazmat.primitives import serialization

    return serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo


@contextmanager
def alipay_server(clock: Clock, key_dir: Path) -> Iterator[AlipayServer]:
    server = AlipayServer(AlipayChannel.with_test_keys(clock, key_dir=key_dir))
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Merchant:
    """A merchant's notify_url: records each POST's form and answers ``reply``."""

    def __init__(self, clock: Clock, reply: str = "success") -> None:
        self.clock = clock
        self.reply = reply
        self.received: list[dict[str, str]] = []
        self._lock = threading.Lock()
        merchant = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8")
                with merchant._lock:
                    merchant.received.append(dict(urllib.parse.parse_qsl(body)))
                    merchant.content_types.append(self.headers.get("Content-Type", ""))
                answer = merchant.reply.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
                merchant.clock.notify()

            def log_message(self, *args: Any) -> None:
                pass

        self.content_types: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/alipay/notify"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def __enter__(self) -> Merchant:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
