"""The terminal's receiver for the QR gateway's payment notifies (docs/qr_api.md).

A small HTTP listener on loopback (``POST /notify``). It verifies each
notify's HMAC-SHA256 signature (a forged one is answered 401, logged and
otherwise ignored), keeps the first notify per ``out_trade_no`` and answers
duplicates and late ones ``SUCCESS`` without acting on them again, and wakes
the clock so a flow waiting for the payment sees it at once.
"""

from __future__ import annotations

import enum
import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import attrs

from drivers.clock import Clock
from simulator.events import OMIT_NONE, SUMMARY_ONLY, EventBus, EventPayload
from simulator.terminal.qr_link import SIGNATURE_HEADER, verify

NOTIFY_PATH = "/notify"
_MAX_BODY = 64 * 1024
# serve_forever looks for shutdown() this often (its default, 0.5 s, is what
# every simulation would wait when it closes).
SHUTDOWN_POLL = 0.01


class Verdict(str, enum.Enum):
    ACCEPTED = "accepted"  # the first notify of an order a flow waits for
    DUPLICATE = "duplicate"  # a second one: answered SUCCESS, ignored
    LATE = "late"  # the flow had its answer already: ignored
    FORGED = "forged"  # a bad signature: answered 401


_VERDICT_TEXT = {
    Verdict.ACCEPTED: "notify accepted",
    Verdict.DUPLICATE: "duplicate notify ignored",
    Verdict.LATE: "late notify ignored (the order was already settled)",
}


@attrs.frozen
class NotifyJudged(EventPayload):
    """The receiver judged a payment notify (``verdict`` None: unreadable, 400)."""

    source: ClassVar[str] = "notify_receiver"
    kind: ClassVar[str] = "notify"

    verdict: Verdict | None = attrs.field(metadata=OMIT_NONE)
    out_trade_no: str | None = attrs.field(metadata=OMIT_NONE, default=None)
    event: str = attrs.field(metadata=SUMMARY_ONLY, default="")  # the notify's own event name

    def summary(self) -> str:
        if self.verdict is None:
            return "rejected an unreadable notify (400)"
        if self.verdict is Verdict.FORGED:
            return "rejected a notify with a bad signature (401)"
        return f"{self.event} {self.out_trade_no}: {_VERDICT_TEXT[self.verdict]}"


class NotifyReceiver:
    def __init__(
        self, *, api_key: str, clock: Clock, bus: EventBus, host: str = "127.0.0.1"
    ) -> None:
        self._key = api_key
        self._host = host
        self._clock = clock
        self._bus = bus
        self._lock = threading.Lock()
        self._first: dict[str, dict[str, Any]] = {}
        self._awaiting: set[str] = set()
        self.duplicates = 0
        self.rejected = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(min(length, _MAX_BODY))
                status, answer = receiver._receive(
                    self.path, raw, self.headers.get(SIGNATURE_HEADER)
                )
                body = json.dumps(answer).encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # events go to the bus, not stderr

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL},
            name="possim-notify-receiver",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}{NOTIFY_PATH}"

    # -- what the flows use ------------------------------------------------------------

    def expect(self, out_trade_no: str) -> None:
        """A flow now waits for this order's notify."""
        with self._lock:
            self._awaiting.add(out_trade_no)

    def done(self, out_trade_no: str) -> None:
        """The flow has its answer: later notifies for the order are late."""
        with self._lock:
            self._awaiting.discard(out_trade_no)

    def paid(self, out_trade_no: str) -> Mapping[str, Any] | None:
        """The order's (first, verified) notify, if one came. Cheap: a clock predicate."""
        return self._first.get(out_trade_no)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the listener's side -------------------------------------------------------------

    def _receive(self, path: str, raw: bytes, signature: str | None) -> tuple[int, dict[str, Any]]:
        if path.split("?")[0] != NOTIFY_PATH:
            return 404, {"code": "FAIL", "message": "no such path"}
        if not verify(self._key, raw, signature):
            with self._lock:
                self.rejected += 1
            self._bus.publish(NotifyJudged(Verdict.FORGED))
            return 401, {"code": "FAIL", "message": "SIGNATURE_INVALID"}
        try:
            notify = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            notify = None
        if not isinstance(notify, dict) or not isinstance(notify.get("out_trade_no"), str):
            self._bus.publish(NotifyJudged(None))
            return 400, {"code": "FAIL", "message": "unreadable notify"}
        order = notify["out_trade_no"]
        with self._lock:
            first = order not in self._first
            awaited = order in self._awaiting
            if first:
                self._first[order] = notify
            else:
                self.duplicates += 1
        if not first:
            verdict = Verdict.DUPLICATE
        elif not awaited:
            verdict = Verdict.LATE
        else:
            verdict = Verdict.ACCEPTED
        self._bus.publish(NotifyJudged(verdict, order, str(notify.get("event", ""))))
        self._clock.notify()
        return 200, {"code": "SUCCESS"}
