"""Signed payment notifies, retried on the gateway's clock.

One daemon thread owns a queue of deliveries ordered by due time on
``clock.monotonic()``. It waits for the earliest one with
``clock.wait_until(...)``, so on a :class:`~simulator.clock.VirtualClock` the
waits between retries cost no real time: while the thread is idle (and every
other actor too) time jumps straight to the next due attempt. The thread is an
actor of the clock; a delivery (one blocking HTTP POST, answer within
``timeout`` real seconds) happens while it is busy, so virtual time stands
still until the receiver has answered.

A delivery succeeds on HTTP 200 with ``{"code": "SUCCESS"}``; anything else
(another status or body, a refused connection, no answer within the timeout)
schedules the next attempt ``schedule[n]`` seconds later, until the schedule
is used up. Every attempt is a ``notify`` event (source ``gateway``, phase
``send``) published just before the POST; a failed one is a second event
(phase ``failed``, with the retry time or "gave up"). Delivery is recorded in
the ledger (``notify_attempts``, ``notified_at``).
Pending retries live in memory only: a gateway restart drops them.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from drivers.clock import Clock
from simulator.events import EventBus
from simulator.gateway.qr.signing import SIGNATURE_HEADER, shown_url, sign

SOURCE = "gateway"


@attrs.frozen
class Delivery:
    order_id: int
    out_trade_no: str
    url: str
    body: bytes
    key: str = attrs.field(repr=False)
    schedule: tuple[float, ...]  # waits before retries 1, 2, ...
    attempt: int = 0  # attempts made so far


class Notifier:
    def __init__(
        self,
        clock: Clock,
        bus: EventBus,
        *,
        timeout: float = 5.0,
        on_attempt: Callable[[int, bool], None] | None = None,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._timeout = timeout
        self._on_attempt = on_attempt
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._changed = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy = 0  # deliveries being made right now

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="possim-qr-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread = self._thread
        if thread is None:
            return
        with self._lock:
            self._stopping = True
        self._clock.notify()
        thread.join(timeout)
        self._thread = None

    # -- scheduling --------------------------------------------------------------

    def send(
        self,
        *,
        order_id: int,
        out_trade_no: str,
        url: str,
        body: dict[str, Any],
        key: str,
        schedule: Sequence[float],
        delay: float = 0.0,
    ) -> None:
        """Deliver ``body`` to ``url`` ``delay`` s from now, retrying on ``schedule``."""
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        delivery = Delivery(order_id, out_trade_no, url, raw, key, tuple(schedule))
        self._push(self._clock.monotonic() + delay, delivery)

    @property
    def pending(self) -> int:
        """Deliveries queued or being made."""
        with self._lock:
            return len(self._queue) + self._busy

    def work_due(self, until: float) -> bool:
        """A delivery is being made, or one is due at or before ``until`` (clock time)."""
        with self._lock:
            return self._busy > 0 or (bool(self._queue) and self._queue[0][0] <= until)

    def _push(self, due: float, delivery: Delivery) -> None:
        with self._lock:
            heapq.heappush(self._queue, (due, next(self._seq), delivery))
            self._changed += 1
        self._clock.notify()

    # -- the thread ----------------------------------------------------------------

    def _run(self) -> None:
        with self._clock.actor():
            while True:
                with self._lock:
                    if self._stopping:
                        return
                    seen = self._changed
                    due = self._queue[0][0] if self._queue else None
                now = self._clock.monotonic()
                if due is None or due > now:
                    self._clock.wait_until(
                        self._changed_since(seen), None if due is None else due - now
                    )
                    continue
                with self._lock:
                    _, _, delivery = heapq.heappop(self._queue)
                    self._busy += 1
                try:
                    self._deliver(delivery)
                finally:
                    with self._lock:
                        self._busy -= 1
                    self._clock.notify()

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._stopping or self._changed != seen

    def _deliver(self, delivery: Delivery) -> None:
        attempt = delivery.attempt + 1
        request = urllib.request.Request(
            delivery.url,
            data=delivery.body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(delivery.key, delivery.body),
            },
        )
        # Published before the POST: once the receiver has the notify, the
        # terminal runs on at once, so an event after the answer would race
        # with its events. Only a failed attempt gets a second event.
        self._bus.publish(
            SOURCE,
            "notify",
            f"notify {delivery.out_trade_no} attempt {attempt}",
            phase="send",
            out_trade_no=delivery.out_trade_no,
            url=shown_url(delivery.url),
            attempt=attempt,
        )
        status: int | None = None
        problem = ""
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status, raw = response.status, response.read(65536)
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, b""
            exc.close()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problem = str(getattr(exc, "reason", exc))
            raw = b""
        ok = status == 200 and _says_success(raw)
        retry_in = None
        if not ok and attempt <= len(delivery.schedule):
            retry_in = delivery.schedule[attempt - 1]
        if not ok:
            outcome = problem or f"HTTP {status}"
            tail = f"retry in {retry_in:g} s" if retry_in is not None else "gave up"
            self._bus.publish(
                SOURCE,
                "notify",
                f"notify {delivery.out_trade_no} attempt {attempt} failed ({outcome}); {tail}",
                phase="failed",
                out_trade_no=delivery.out_trade_no,
                url=shown_url(delivery.url),
                attempt=attempt,
                status=status,
                retry_in=retry_in,
            )
        if self._on_attempt is not None:
            self._on_attempt(delivery.order_id, ok)
        if retry_in is not None:
            self._push(self._clock.monotonic() + retry_in, attrs.evolve(delivery, attempt=attempt))


def _says_success(raw: bytes) -> bool:
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return isinstance(answer, dict) and answer.get("code") == "SUCCESS"
