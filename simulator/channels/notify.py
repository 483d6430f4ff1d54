"""Alipay's async notifications (opendocs.alipay.com/open/270/105902, "异步通知说明").

A notification is an HTTP POST to the trade's ``notify_url``, the parameters
form-encoded (``application/x-www-form-urlencoded; charset=utf-8``) and RSA2
signed like a request, except that the merchant verifies over every parameter
but ``sign`` and ``sign_type``. The merchant answers the seven characters
``success``; anything else (or nothing) and Alipay sends it again: "一般情况下，
25 小时以内完成 8 次通知（通知的间隔频率一般是：4m,10m,10m,1h,2h,6h,15h）".

Deliveries wait on the channel's clock, so on a virtual clock the 25 hours cost
nothing. At most ``MAX_PENDING`` wait at once (the oldest is dropped beyond it)
and the log of attempts keeps the last ``MAX_LOG``.
"""

from __future__ import annotations

import threading
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping

import attrs

from drivers.clock import Clock
from simulator.errors import ClockStalled

RETRY_SECONDS: tuple[float, ...] = (240, 600, 600, 3600, 7200, 21600, 54000)
SEND_TIMEOUT = 5.0  # real seconds the merchant has to answer one delivery
MAX_PENDING = 1000
MAX_LOG = 1000
MAX_ANSWER = 1024  # bytes of the merchant's answer read


@attrs.define
class Delivery:
    url: str
    params: dict[str, str]
    due: float
    attempt: int = 0  # deliveries made so far
    lose_next: bool = False  # notify_lost: this attempt never leaves
    copies: int = 1  # notify_duplicated: sent this many times at once
    final: bool = False  # a forged copy: sent once, never retried


@attrs.frozen
class Attempt:
    """One delivery as the log keeps it."""

    url: str
    out_trade_no: str
    trade_status: str
    attempt: int
    notify_time: str
    outcome: str  # "success", "lost", "no answer: ..." or the merchant's answer


def answer_text(status: int, answer: bytes) -> str:
    """Alipay: the merchant's answer, stripped (``success`` is a delivery)."""
    return answer.decode("utf-8", "replace").strip()


def post_form(
    url: str,
    params: Mapping[str, str],
    *,
    content_type: str = "application/x-www-form-urlencoded; charset=utf-8",
    outcome: Callable[[int, bytes], str] = answer_text,
) -> str:
    """POST the form; the ``outcome`` of the merchant's answer, or why there was none."""
    body = urllib.parse.urlencode(params).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=SEND_TIMEOUT) as answer:
            return outcome(answer.status, bytes(answer.read(MAX_ANSWER)))
    except urllib.error.HTTPError as exc:
        return f"no answer: HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        return f"no answer: {type(exc).__name__}: {exc}"


class Notifier:
    """Pending deliveries and a thread that makes them when due."""

    def __init__(
        self,
        clock: Clock,
        *,
        retry_seconds: tuple[float, ...] = RETRY_SECONDS,
        send: Callable[[str, Mapping[str, str]], str] = post_form,
        restamp: Callable[[dict[str, str]], dict[str, str]] | None = None,
        on_tick: Callable[[], float | None] | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        self.clock = clock
        self.retry_seconds = retry_seconds
        self._send = send
        self._restamp = restamp  # re-signs a retry with a fresh notify_time
        self._on_tick = on_tick  # the channel's own due work (buyers confirming); next due
        self._on_attempt = on_attempt
        self._lock = threading.Lock()
        self._pending: list[Delivery] = []
        self.log: deque[Attempt] = deque(maxlen=MAX_LOG)
        self.dropped = 0
        self._stop = False
        self._changed = False
        self._thread: threading.Thread | None = None

    def queue(self, delivery: Delivery) -> None:
        with self._lock:
            if len(self._pending) >= MAX_PENDING:
                self._pending.pop(0)
                self.dropped += 1
            self._pending.append(delivery)
            self._changed = True
        self.clock.notify()

    def wake(self) -> None:
        with self._lock:
            self._changed = True
        self.clock.notify()

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- the thread ---------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="possim-alipay-notify", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        thread, self._thread = self._thread, None
        if thread is None:
            return
        with self._lock:
            self._stop = True
        self.clock.notify()
        thread.join(timeout)

    def _run(self) -> None:
        with self.clock.actor():  # time waits for a delivery under way
            while True:
                extra = self._on_tick() if self._on_tick is not None else None
                self.run_due()
                with self._lock:
                    if self._stop:
                        return
                    self._changed = False
                    dues = [d.due for d in self._pending]
                if extra is not None:
                    dues.append(extra)
                timeout = None if not dues else max(0.0, min(dues) - self.clock.monotonic())
                try:
                    self.clock.wait_until(self._should_wake, timeout)
                except ClockStalled:
                    continue  # an idle channel: nobody needed time to move

    def _should_wake(self) -> bool:
        return self._stop or self._changed

    def run_due(self) -> None:
        """Make every delivery that is due now (the thread does; tests may too)."""
        while True:
            now = self.clock.monotonic()
            with self._lock:
                due = [d for d in self._pending if d.due <= now]
                if not due:
                    return
                first = min(due, key=lambda d: d.due)
                self._pending.remove(first)
            self._deliver(first)

    def _deliver(self, delivery: Delivery) -> None:
        params = delivery.params
        if delivery.attempt > 0 and self._restamp is not None and not delivery.final:
            params = self._restamp(params)
        delivery.attempt += 1
        answers: list[str] = []
        if delivery.lose_next:
            delivery.lose_next = False
            answers.append("lost")
        else:
            answers.extend(self._send(delivery.url, params) for _ in range(delivery.copies))
            delivery.copies = 1
        for outcome in answers:
            attempt = Attempt(
                delivery.url,
                params.get("out_trade_no", params.get("orderId", "")),
                params.get("trade_status", params.get("respCode", "")),
                delivery.attempt,
                params.get("notify_time", ""),
                outcome,
            )
            self.log.append(attempt)
            if self._on_attempt is not None:
                self._on_attempt(attempt)
        if "success" in answers or delivery.final:
            return
        if delivery.attempt > len(self.retry_seconds):
            return  # 8 deliveries made: Alipay gives up
        delivery.due = self.clock.monotonic() + self.retry_seconds[delivery.attempt - 1]
        delivery.params = params
        self.queue(delivery)
