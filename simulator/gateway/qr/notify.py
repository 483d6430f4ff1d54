"""Signed payment notifies, retried on the gateway's clock.

One daemon thread owns a queue of deliveries ordered by due time on
``clock.monotonic()``. It waits for the earliest one with
``clock.wait_until(...)``, so on a :class:`~simulator.clock.VirtualClock` the
waits between retries cost no real time: while the thread is idle (and every
other actor too) time jumps straight to the next due attempt. A due delivery
is handed to the :class:`~simulator.gateway.qr.delivery.Courier`, which POSTs
it in its receiver's lane: one receiver's notifies go one at a time, in order,
different receivers' side by side, so a receiver that answers slowly never
holds up another's. From hand-over to outcome a delivery is work in flight
(``clock.work_begun()`` / ``work_done()``): virtual time stands still until
the receiver has answered, or failed to.

A delivery succeeds on HTTP 200 with ``{"code": "SUCCESS"}``; anything else
(another status or body, a refused connection, no complete answer within
``timeout`` seconds -- connecting, sending and reading together) schedules the
next attempt ``schedule[n]`` seconds later, until the schedule is used up.
Every attempt is a ``notify`` event (source ``gateway``, phase ``send``)
published just before the POST; a failed one is a second event (phase
``failed``, with the retry time or "gave up"). Delivery is recorded in the
ledger (``notify_attempts``, ``notified_at``).

Pending retries live in memory only: a gateway restart drops them. At most
``max_pending`` deliveries are kept; beyond that the one that has failed most
often is dropped (phase ``dropped``) for the new one, and a ``limit`` event
says so once per episode.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs

from drivers.clock import Clock
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.gateway.problems import SOURCE, GatewayProblem, LimitReached
from simulator.gateway.qr.delivery import DEFAULT_MAX_IN_FLIGHT, Answer, Courier, receiver_of
from simulator.gateway.qr.signing import SIGNATURE_HEADER, shown_url, sign

DEFAULT_MAX_PENDING = 10_000  # deliveries queued or under way


@attrs.frozen
class NotifySent(EventPayload):
    """An attempt to deliver a payment notify starts (before the POST: once the
    receiver has it, the terminal runs on at once)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "notify"

    phase: str = attrs.field(default="send", init=False)
    out_trade_no: str
    url: str  # the receiver's, as shown_url() shows it
    attempt: int

    def summary(self) -> str:
        return f"notify {self.out_trade_no} attempt {self.attempt}"


@attrs.frozen
class NotifyFailed(EventPayload):
    """An attempt failed: retried in ``retry_in`` seconds (None: given up)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "notify"

    phase: str = attrs.field(default="failed", init=False)
    out_trade_no: str
    url: str
    attempt: int
    status: int | None  # the receiver's HTTP status; None: no answer
    retry_in: float | None
    outcome: str = attrs.field(metadata=SUMMARY_ONLY)  # "HTTP 500", or what went wrong

    def summary(self) -> str:
        tail = f"retry in {self.retry_in:g} s" if self.retry_in is not None else "gave up"
        return f"notify {self.out_trade_no} attempt {self.attempt} failed ({self.outcome}); {tail}"


@attrs.frozen
class NotifyDropped(EventPayload):
    """The notify queue was full: the delivery retried most often was dropped."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "notify"

    phase: str = attrs.field(default="dropped", init=False)
    out_trade_no: str
    url: str
    attempt: int
    pending: int = attrs.field(metadata=SUMMARY_ONLY)  # the queue's limit

    def summary(self) -> str:
        return (
            f"notify {self.out_trade_no} dropped after {self.attempt} attempt(s): "
            f"{self.pending} notifies pending"
        )


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
        max_pending: int = DEFAULT_MAX_PENDING,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
    ) -> None:
        self._clock = clock
        self._bus = bus
        self._on_attempt = on_attempt
        self._max_pending = max_pending
        self._courier = Courier(timeout, max_in_flight=max_in_flight, on_error=self._report_error)
        # An episode of a full queue, and the deliveries dropped in it.
        self._full = False
        self._dropped = 0
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, Delivery]] = []
        self._seq = itertools.count()
        self._changed = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._busy = 0  # deliveries handed to the courier and not finished

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._courier.start()
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
        self._courier.stop(timeout)
        with self._lock:
            abandoned, self._busy = self._busy, 0
        for _ in range(abandoned):  # handed over, never finished: no longer in flight
            self._clock.work_done()

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
            dropped, news = self._make_room()
            heapq.heappush(self._queue, (due, next(self._seq), delivery))
            self._changed += 1
        for line in news:
            self._bus.publish(LimitReached(line))
        if dropped is not None:
            self._publish_dropped(dropped)
        self._clock.notify()

    def _make_room(self) -> tuple[Delivery | None, list[str]]:
        """Under the lock: at the limit, drop the queued delivery that failed most often.

        The delivery dropped (if any) and the ``limit`` lines to publish.
        """
        pending = len(self._queue) + self._busy
        if pending < self._max_pending:
            if self._full and pending < self._max_pending * 0.9:
                line = f"notify queue below its limit again; {self._dropped} notifies dropped"
                self._full, self._dropped = False, 0
                return None, [line]
            return None, []
        news = []
        if not self._full:
            self._full = True
            news.append(
                f"notify queue full ({self._max_pending} pending): dropping the notifies "
                "retried most often to make room"
            )
        if not self._queue:
            return None, news  # every pending one is under way: the queue grows by one
        self._dropped += 1
        index = max(range(len(self._queue)), key=lambda i: _staleness(self._queue[i]))
        _, _, victim = self._queue[index]
        self._queue[index] = self._queue[-1]
        self._queue.pop()
        heapq.heapify(self._queue)
        return victim, news

    def _publish_dropped(self, delivery: Delivery) -> None:
        self._bus.publish(
            NotifyDropped(
                delivery.out_trade_no, shown_url(delivery.url), delivery.attempt, self._max_pending
            )
        )

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
                self._clock.work_begun()
                self._courier.run(
                    receiver_of(delivery.url), functools.partial(self._deliver, delivery)
                )

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self._stopping or self._changed != seen

    async def _deliver(self, delivery: Delivery) -> None:
        """One attempt, on the courier's loop; then the retry, if any."""
        try:
            ok = await self._attempt(delivery)
            if self._on_attempt is not None:
                self._on_attempt(delivery.order_id, ok)
        finally:
            with self._lock:
                self._busy -= 1
            # After the retry is queued: virtual time may move on from here.
            self._clock.work_done()
            self._clock.notify()

    async def _attempt(self, delivery: Delivery) -> bool:
        attempt = delivery.attempt + 1
        # Published before the POST: once the receiver has the notify, the
        # terminal runs on at once, so an event after the answer would race
        # with its events. Only a failed attempt gets a second event.
        self._bus.publish(NotifySent(delivery.out_trade_no, shown_url(delivery.url), attempt))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.key, delivery.body),
        }
        answer = await self._courier.post(delivery.url, delivery.body, headers)
        ok = answer.status == 200 and _says_success(answer.body)
        if ok:
            return True
        retry_in = None
        if attempt <= len(delivery.schedule):
            retry_in = delivery.schedule[attempt - 1]
        self._bus.publish(
            NotifyFailed(
                delivery.out_trade_no,
                shown_url(delivery.url),
                attempt,
                answer.status,
                retry_in,
                _outcome(answer),
            )
        )
        if retry_in is not None:
            self._push(self._clock.monotonic() + retry_in, attrs.evolve(delivery, attempt=attempt))
        return False

    def _report_error(self, line: str) -> None:
        self._bus.publish(GatewayProblem(line))


def _staleness(entry: tuple[float, int, Delivery]) -> tuple[int, float]:
    """Which queued delivery to drop first: the most attempts, then the latest due."""
    due, _, delivery = entry
    return delivery.attempt, due


def _outcome(answer: Answer) -> str:
    return answer.problem if answer.status is None else f"HTTP {answer.status}"


def _says_success(raw: bytes) -> bool:
    try:
        answer = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):  # whatever a receiver sends
        return False
    return isinstance(answer, dict) and answer.get("code") == "SUCCESS"
