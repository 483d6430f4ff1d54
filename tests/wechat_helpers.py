"""possim's WeChat Pay simulator on loopback, its test keys, and a merchant's notify receiver."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import attrs

from drivers.clock import Clock
from simulator.channels.wechat import keys as wechat_keys
from simulator.channels.wechat.keys import WechatTestKeys
from simulator.channels.wechat.server import WechatPaySimulator

PAYMENT_CODE = "134567890123456789"  # 18 digits starting 10-15: a WeChat 付款码
_KEYS: dict[str, WechatTestKeys] = {}
_KEYS_LOCK = threading.Lock()


def session_keys(folder: Path) -> WechatTestKeys:
    """Generated once per test session (RSA generation is the slow part)."""
    with _KEYS_LOCK:
        if "keys" not in _KEYS:
            _KEYS["keys"] = wechat_keys.load(folder)
        return _KEYS["keys"]


@contextmanager
def wechat_pay(clock: Clock, folder: Path) -> Iterator[WechatPaySimulator]:
    simulator = WechatPaySimulator(clock, session_keys(folder))
    simulator.start()
    try:
        yield simulator
    finally:
        simulator.stop()


@attrs.frozen
class Received:
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A merchant's notify_url: ``answer(headers, body)`` gives (status, body) back."""

    def __init__(self, answer: Callable[[dict[str, str], bytes], tuple[int, bytes]]) -> None:
        self.received: list[Received] = []
        self.answers: list[int] = []
        self._answer = answer
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                headers = {name: value for name, value in self.headers.items()}
                status, reply = receiver._answer(headers, body)
                self.send_response(status)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)
                receiver.received.append(Received(headers, body))
                receiver.answers.append(status)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/notify"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
