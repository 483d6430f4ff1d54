"""A built-in gateway with its QR API on loopback, a signed client, a notify receiver."""

from __future__ import annotations

import json
import random
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from drivers.clock import Clock
from simulator.events import EventBus
from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign, verify

MID = "898310048990001"
TID = "POSSIM01"
KEY = "possim-test-merchant-key-0001"
WECHAT = "134567890123456789"  # 18 digits, 10-15
ALIPAY = "2834567890123456"  # 16 digits, 25-30
UNIONPAY = "6234567890123456789"  # 19 digits, 62


class Client:
    def __init__(self, base_url: str, key: str = KEY) -> None:
        self.base_url = base_url
        self.key = key

    def post(
        self, path: str, body: Any, *, signature: str | None = "auto", raw: bytes | None = None
    ) -> tuple[int, dict[str, Any]]:
        data = raw if raw is not None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if signature == "auto":
            headers[SIGNATURE_HEADER] = sign(self.key, data)
        elif signature is not None:
            headers[SIGNATURE_HEADER] = signature
        request = urllib.request.Request(
            self.base_url + path, data=data, method="POST", headers=headers
        )
        return self._send(request)

    def get(self, path: str, params: dict[str, str], *, signed: bool = True) -> tuple[int, Any]:
        query = urlencode(params)
        headers = {SIGNATURE_HEADER: sign(self.key, query.encode())} if signed else {}
        request = urllib.request.Request(f"{self.base_url}{path}?{query}", headers=headers)
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    # -- the calls --------------------------------------------------------------

    def micropay(self, out_trade_no: str, amount_fen: int, code: str, **extra: Any) -> Any:
        body = {
            "merchant_id": MID,
            "terminal_id": TID,
            "out_trade_no": out_trade_no,
            "amount_fen": amount_fen,
            "auth_code": code,
            "description": "test",
            **extra,
        }
        return self.post("/v1/micropay", body)

    def query(self, out_trade_no: str) -> Any:
        return self.get(f"/v1/orders/{out_trade_no}", {"merchant_id": MID})

    def reverse(self, out_trade_no: str) -> Any:
        body = {"merchant_id": MID, "terminal_id": TID}
        return self.post(f"/v1/orders/{out_trade_no}/reverse", body)

    def refund(self, out_trade_no: str, out_refund_no: str, fen: int) -> Any:
        body = {"merchant_id": MID, "out_refund_no": out_refund_no, "refund_fen": fen}
        return self.post(f"/v1/orders/{out_trade_no}/refund", body)

    def precreate(self, out_trade_no: str, fen: int, channel: str, url: str, **extra: Any) -> Any:
        body = {
            "merchant_id": MID,
            "terminal_id": TID,
            "out_trade_no": out_trade_no,
            "amount_fen": fen,
            "channel": channel,
            "notify_url": url,
            **extra,
        }
        return self.post("/v1/precreate", body)

    def sim(self, action: str, **body: Any) -> Any:
        return self.post(f"/v1/sim/{action}", body)


@contextmanager
def running_gateway(tmp_path: Path, clock: Clock) -> Iterator[tuple[BuiltinGateway, Client]]:
    bus = EventBus(clock)
    gateway = BuiltinGateway(tmp_path / "ledger.sqlite", clock=clock, bus=bus, rng=random.Random(1))
    gateway.start()
    try:
        yield gateway, Client(gateway.qr_base_url)
    finally:
        gateway.stop()


class Receiver:
    """A notify receiver on loopback: answers from ``answers`` (then 200 SUCCESS)."""

    def __init__(self, clock: Clock, answers: Callable[[int], int] = lambda n: 200) -> None:
        self.clock = clock
        self.answers = answers
        self.received: list[tuple[float, dict[str, Any], bool]] = []  # (monotonic, body, sig ok)
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify(KEY, raw, self.headers.get(SIGNATURE_HEADER))
                with receiver._lock:
                    receiver.received.append((receiver.clock.monotonic(), json.loads(raw), ok))
                    status = receiver.answers(len(receiver.received))
                body = json.dumps({"code": "SUCCESS" if status == 200 else "FAIL"}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                receiver.clock.notify()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def count(self) -> int:
        with self._lock:
            return len(self.received)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class DripReceiver:
    """A notify receiver that never finishes answering: it reads the request, then
    sends a status line and one header byte at a time, every ``every`` seconds,
    for as long as the connection stays open -- each read on the gateway's side
    gets data in time, the answer never completes."""

    def __init__(self, clock: Clock, every: float = 0.1) -> None:
        self.clock = clock
        self.every = every
        self.attempts: list[float] = []  # monotonic clock time of each connection
        self.hung_up = threading.Event()  # the gateway closed a connection mid-answer
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}/notify"
        threading.Thread(target=self._serve, name="drip-receiver", daemon=True).start()

    def count(self) -> int:
        with self._lock:
            return len(self.attempts)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            with self._lock:
                self.attempts.append(self.clock.monotonic())
            self.clock.notify()
            threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(5)
                conn.recv(65536)  # the request (small: one recv is enough)
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Drip: ")
                while not self._stop.wait(self.every):  # the hostile peer's pace
                    conn.sendall(b"a")
            except OSError:
                if not self._stop.is_set():
                    self.hung_up.set()
                    self.clock.notify()

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
