"""Notifies to the merchant's ``notify_url``, retried on WeChat's schedule, on the clock.

WeChat (支付结果通知, pay.weixin.qq.com v2 and v3 alike): "如果微信收到商户的应答不符合
规范或超时，微信会判定本次通知失败，重新发送通知，直到成功为止 ... 通知频率为
15s/15s/30s/3m/10m/20m/30m/30m/30m/60m/3h/3h/3h/6h/6h - 总计 24h4m". That is
:data:`RETRY_SCHEDULE`: the waits before the 2nd, 3rd, ... attempt.

One daemon thread, an actor of the clock, waits for the earliest due delivery
with ``clock.wait_until``, so on a virtual clock the hours between retries cost
no real time. It POSTs with the standard library (``timeout`` real seconds for each
step: connecting, sending, each read of the answer; no proxy) while still busy, so virtual time
stands still until the merchant has answered. At most ``max_pending``
deliveries wait; beyond that the oldest is dropped (docs/reliability.md).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping

import attrs

from drivers.clock import Clock

RETRY_SCHEDULE = (
    15,
    15,
    30,
    180,
    600,
    1200,
    1800,
    1800,
    1800,
    3600,
    10800,
    10800,
    10800,
    21600,
    21600,
)
DEFAULT_TIMEOUT = 5.0
DEFAULT_MAX_PENDING = 10_000
MAX_ANSWER = 64 * 1024  # bytes of the merchant's answer read
MAX_HISTORY = 1_000
# The merchant's receiver is reached directly, never through the environment's proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@attrs.frozen
class Notice:
    """One notify: where, what, and how to tell the merchant took it."""

    label: str  # out_trade_no, for the history
    url: str
    body: bytes
    headers: Mapping[str, str]
    accepted: Callable[[int, bytes], bool]
    retries: bool = True  # a forged notify is sent once


@attrs.frozen
class Attempt:
    label: str
    number: int  # 1 for the first attempt
    at: float  # clock.monotonic() when it was made
    accepted: bool
    outcome: str  # "HTTP 200", or what went wrong
    forged: bool = False


class Notifier:
    def __init__(
        self,
        clock: Clock,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_pending: int = DEFAULT_MAX_PENDING,
        schedule: tuple[float, ...] = RETRY_SCHEDULE,
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._max_pending = max_pending
        self._schedule = schedule
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, int, Notice]] = []  # due, seq, attempts made, notice
        self._seq = itertools.count()
        self._changed = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.history: deque[Attempt] = deque(maxlen=MAX_HISTORY)
        self.attempts = 0  # made so far (the history keeps the last MAX_HISTORY)
        self.notices = 0  # notices handed over so far (retries not counted)
        self._attempted = threading.Condition()
        self.dropped = 0

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="possim-wechat-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with self._lock:
            self._stopping = True
            self._changed += 1
        self._clock.notify()
        thread.join(timeout)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def wait_for_attempts(self, count: int, timeout: float) -> bool:
        """Block until ``count`` attempts were made in all (real seconds; for tests)."""
        with self._attempted:
            return self._attempted.wait_for(lambda: self.attempts >= count, timeout)

    def send(self, notice: Notice, delay: float = 0.0, attempts_made: int = 0) -> None:
        with self._lock:
            if len(self._queue) >= self._max_pending:
                oldest = min(range(len(self._queue)), key=lambda i: self._queue[i][1])
                self._queue[oldest] = self._queue[-1]
                self._queue.pop()
                heapq.heapify(self._queue)
                self.dropped += 1
            due = self._clock.monotonic() + delay
            if attempts_made == 0:
                self.notices += 1
            heapq.heappush(self._queue, (due, next(self._seq), attempts_made, notice))
            self._changed += 1
        self._clock.notify()

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
                        lambda seen=seen: self._changed != seen,  # type: ignore[misc]
                        None if due is None else due - now,
                    )
                    continue
                with self._lock:
                    _, _, made, notice = heapq.heappop(self._queue)
                self._attempt(notice, made + 1)

    def _attempt(self, notice: Notice, number: int) -> None:
        status, answer, outcome = self._post(notice)
        accepted = status is not None and notice.accepted(status, answer)
        attempt = Attempt(
            notice.label, number, self._clock.monotonic(), accepted, outcome, not notice.retries
        )
        with self._attempted:
            self.history.append(attempt)
            self.attempts += 1
            self._attempted.notify_all()
        if not accepted and notice.retries and number <= len(self._schedule):
            self.send(notice, self._schedule[number - 1], attempts_made=number)

    def _post(self, notice: Notice) -> tuple[int | None, bytes, str]:
        request = urllib.request.Request(
            notice.url, data=notice.body, headers=dict(notice.headers), method="POST"
        )
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                return response.status, response.read(MAX_ANSWER), f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            return error.code, error.read(MAX_ANSWER), f"HTTP {error.code}"
        except (OSError, ValueError) as error:
            return None, b"", f"{type(error).__name__}: {str(error)[:80]}"
