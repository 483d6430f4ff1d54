"""Faults a scenario arms on the built-in gateway, applied at its transport boundary.

* :class:`HostFaults` -- the ISO 8583 host (:mod:`simulator.gateway.server`): the
  next reply(ies) come late (``delay``, on the virtual clock), never
  (``drop``: the host decided and wrote its ledger, the answer is lost), or the
  host closes the connection instead of answering (``close``); or the request
  never reaches the host at all (``lose_request``: nothing decided or booked).
* :class:`HttpFaults` -- the QR API (:mod:`simulator.gateway.qr.http`): the
  terminal's next request(s) are answered with an HTTP error status before the
  service sees them, answered late, or processed and their answer lost.

Both consume one armed fault per request, in order, so a scenario says exactly
which exchange fails. Each keeps the virtual clock's contract (see
:mod:`simulator.gateway.server`): a request held back is handed back to the
clock at once (``work_done``), and a late reply is counted as new work
(``work_begun``) at the virtual instant it leaves, so the same scenario sees the
same timestamps on every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs
from aiohttp import web

from drivers.clock import Clock
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.gateway.problems import SOURCE

PEER_CLOSE_WAIT = 5.0  # real seconds for the terminal to close its end after ours
# The customers' phones and the back office's statement downloads are not the
# terminal's traffic.
_UNFAULTED_PREFIXES = ("/v1/sim/", "/v1/statements/", "/openapi")


@attrs.frozen
class ReplyFault:
    """What happens to one ISO 8583 reply."""

    delay: float = 0.0  # virtual seconds before it leaves
    drop: bool = False  # never sent
    close: bool = False  # the connection is closed instead
    message_kind: str | None = None  # only a reply to this kind of message; None: any
    # The request itself is lost on the way in: the host never sees it, decides
    # nothing and books nothing (a network partition; a reversal stays owed).
    lose_request: bool = False

    def describe(self) -> str:
        if self.lose_request:
            what = "request lost on the way in"
        elif self.close:
            what = "connection closed instead of the reply"
        elif self.drop:
            what = "reply dropped"
        else:
            what = f"reply delayed {self.delay:g} s"
        return what if self.message_kind is None else f"{what} ({self.message_kind})"


@attrs.frozen
class HostFaultStruck(EventPayload):
    """An armed fault strikes a reply to (or the request of) message ``mti``."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "fault"

    mti: str
    fault: ReplyFault

    def summary(self) -> str:
        return f"gateway_fault: {self.mti}: {self.fault.describe()}"

    def detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {"mti": self.mti, **attrs.asdict(self.fault)}
        if not self.fault.lose_request:
            del detail["lose_request"]  # the reply faults' events as they always were
        return detail


@attrs.frozen
class LateReplyNotSent(EventPayload):
    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "fault"

    def summary(self) -> str:
        return "late reply not sent: the terminal hung up"


class _Armed:
    """A thread-safe queue of faults, one taken per request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Any] = deque()

    def arm(self, fault: Any, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([fault] * times)

    def take(self) -> Any:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()


class HostFaults(_Armed):
    """Faults for the ISO 8583 host's next replies."""

    def __init__(self, clock: Clock, bus: EventBus) -> None:
        super().__init__()
        self._clock = clock
        self._bus = bus
        self._cancelled = threading.Event()

    def arm(self, fault: Any, times: int = 1) -> None:
        self._cancelled.clear()  # a server started again serves late replies again
        super().arm(fault, times)

    def take_for(self, kind: str) -> ReplyFault | None:
        """The first armed fault for a reply to a ``kind`` message (or to any)."""
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.message_kind in (None, kind):
                    del self._queue[index]
                    return fault  # type: ignore[no-any-return]
        return None

    def take_lost_request(self, kind: str) -> ReplyFault | None:
        """The next fault for a ``kind`` message if it loses the request, else None.

        Asked before the host decides; any other fault waits for the reply.
        """
        with self._lock:
            for index, fault in enumerate(self._queue):
                if fault.message_kind in (None, kind):
                    if not fault.lose_request:
                        return None
                    del self._queue[index]
                    return fault  # type: ignore[no-any-return]
        return None

    def cancel(self) -> None:
        """The server is stopping: late replies still waiting are never sent."""
        self.clear()
        self._cancelled.set()
        self._clock.notify()

    def announce(self, fault: ReplyFault, mti: str) -> None:
        """The fault event, published as the fault strikes."""
        self._bus.publish(HostFaultStruck(mti, fault))

    async def deliver(
        self,
        fault: ReplyFault,
        frame: bytes,
        mti: str,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        publish_reply: Callable[[], None],
    ) -> bool:
        """Apply ``fault`` to the reply ``frame`` (to request ``mti``).

        Returns like the server's ``_serve_frame``: False when nothing was sent
        and the caller still owes the clock its ``work_done``.
        """
        self.announce(fault, mti)
        if fault.drop or fault.lose_request:
            return False
        if fault.close:
            await self._close(reader, writer)
            return True
        # A thread of its own, not the loop's executor: asyncio.run would wait for it.
        threading.Thread(
            target=self._send_late,
            args=(asyncio.get_running_loop(), fault.delay, frame, writer, publish_reply),
            name="possim-gateway-late-reply",
            daemon=True,
        ).start()
        return True

    async def _close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Half-close and wait for the terminal to close its end: only then has it
        # seen the connection go, so handing the request back to the clock cannot
        # let time jump past the terminal's reaction.
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(_until_eof(reader), PEER_CLOSE_WAIT)
        writer.close()
        self._clock.work_done()

    def _send_late(
        self,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        frame: bytes,
        writer: asyncio.StreamWriter,
        publish_reply: Callable[[], None],
    ) -> None:
        # An actor waiting on the clock. Only once its deadline is registered is the
        # request handed back (time may move while the host holds the reply), and when
        # it wakes it counts the reply as work in flight before time can move on.
        with self._clock.actor():
            self._clock.work_done()
            self._clock.wait_until(self._cancelled.is_set, delay)
            if self._cancelled.is_set():
                return
            self._clock.work_begun()
        future = asyncio.run_coroutine_threadsafe(self._write(frame, writer, publish_reply), loop)
        try:
            delivered = future.result(PEER_CLOSE_WAIT)
        except Exception:  # the loop stopped under us
            delivered = False
        if not delivered:
            self._clock.work_done()

    async def _write(
        self, frame: bytes, writer: asyncio.StreamWriter, publish_reply: Callable[[], None]
    ) -> bool:
        if writer.is_closing():
            self._bus.publish(LateReplyNotSent())
            return False
        publish_reply()
        try:
            writer.write(frame)
            await writer.drain()
        except (ConnectionError, OSError):
            return False
        return True


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(4096):
        pass


@attrs.frozen
class HttpFault:
    """What happens to one of the terminal's QR API requests."""

    status: int | None = None  # answered with this status, never processed
    delay: float = 0.0  # virtual seconds added before the answer
    drop: bool = False  # processed, then the connection closed without an answer

    def describe(self) -> str:
        if self.status is not None:
            return f"answered HTTP {self.status} unprocessed"
        if self.drop:
            return "processed, answer lost"
        return f"answer delayed {self.delay:g} s"


@attrs.frozen
class HttpFaultStruck(EventPayload):
    """An armed fault strikes one of the terminal's QR API requests."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "fault"

    method: str = attrs.field(metadata=SUMMARY_ONLY)
    path: str
    fault: HttpFault

    def summary(self) -> str:
        return f"qr_gateway_fault: {self.method} {self.path}: {self.fault.describe()}"

    def detail(self) -> dict[str, Any]:
        return {"path": self.path, **attrs.asdict(self.fault)}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpFaults(_Armed):
    """Faults for the terminal's next QR API requests (an aiohttp middleware)."""

    def __init__(self, clock: Clock, bus: EventBus) -> None:
        super().__init__()
        self._clock = clock
        self._bus = bus

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(_UNFAULTED_PREFIXES):
            return await handler(request)
        fault: HttpFault | None = self.take()
        if fault is None:
            return await handler(request)
        self._bus.publish(HttpFaultStruck(request.method, request.path, fault))
        if fault.status is not None:
            return web.json_response(
                {"error_code": "SERVICE_UNAVAILABLE", "message": "qr_gateway_fault"},
                status=fault.status,
            )
        response = await handler(request)
        if fault.drop:
            if request.transport is not None:
                request.transport.close()
            raise asyncio.CancelledError  # nothing more is written to the closed socket
        # The terminal is a busy actor blocked on the answer: virtual time can only
        # move by being moved, which keeps the delay exact and the run reproducible.
        advance = getattr(self._clock, "advance", None)
        if advance is not None:
            advance(fault.delay)
        else:  # a real clock (possim gateway serving real terminals)
            await asyncio.sleep(fault.delay)
        return response
