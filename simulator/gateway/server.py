"""The acquirer host on TCP: ISO 8583 frames in, ISO 8583 frames out.

An asyncio server in a background daemon thread, on loopback unless told
otherwise. Each connection carries any number of request frames (2-byte
big-endian length header, optional TPDU echoed back, message); each is decoded,
handed to :class:`~simulator.gateway.acquirer.AcquirerHost` and answered on the
same connection. Garbage (a bad length, an undecodable message, a connection
dropped mid-frame) closes that connection only; the server keeps serving.

Limits (docs/reliability.md): a connection that sends no frame for
``idle_timeout`` s is closed, and so is one whose frame is not complete
``frame_timeout`` s after its first byte (a slow sender holding a connection
open); a frame may not announce more than ``max_message`` bytes; at most
``max_connections`` are open at once (see :mod:`simulator.gateway.listener`).

Every message in and out is an ``iso8583`` event on the bus (card data
redacted); silence and garbage are ``no_reply`` and ``error`` events.

Virtual clock contract: the sender of a request called ``clock.work_begun()``;
the receiver of the reply calls ``work_done()``. So the server calls
``clock.work_done()`` exactly once for every request frame it does not answer,
after the ledger write and the events, as the very last thing -- and never for
a frame it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar

import attrs

from drivers.clock import Clock
from simulator.errors import SimulatorError
from simulator.events import OMIT_NONE, SUMMARY_ONLY, EventBus, EventPayload
from simulator.gateway.acquirer import ECHO_OTHER, AcquirerHost, Decision, message_kind
from simulator.gateway.faults import HostFaults
from simulator.gateway.listener import Listener, Slot
from simulator.gateway.problems import SOURCE, ConnectionProblem, GatewayProblem, LimitReached
from simulator.gateway.service_thread import ServiceThread
from simulator.wire.iso8583 import Framing, Iso8583Codec, is_request, response_mti, summarize
from simulator.wire.mac import MAC_REFUSED, MacError, MessageMac

DEFAULT_MAX_MESSAGE = 8192  # bytes; ISO 8583 messages are far smaller
DEFAULT_FRAME_TIMEOUT = 10.0  # real seconds from a frame's first byte to its last
DEFAULT_IDLE_TIMEOUT = 120.0  # real seconds a connection may wait between frames
DEFAULT_MAX_CONNECTIONS = 512
_SHUTDOWN_GRACE = 5.0  # seconds for connections to wind down on stop()


@attrs.frozen
class HostIsoMessage(EventPayload):
    """An ISO 8583 message as the acquirer host saw it: a request ``in``, a reply
    ``out`` (card data redacted)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "iso8583"

    direction: str
    mti: str
    fields: Mapping[str, Mapping[str, str]]  # number -> {name, value}
    peer: str  # "connection #N from HOST"
    note: str | None = attrs.field(metadata=OMIT_NONE, default=None)  # why the host decided so
    # MTI, STAN, amount, masked PAN, RRN, RC.
    headline: str = attrs.field(metadata=SUMMARY_ONLY, default="")

    def value(self, field: str) -> str | None:
        """Field ``field``'s (redacted) value; None if the message does not carry it."""
        described = self.fields.get(field)
        return None if described is None else described.get("value")

    def summary(self) -> str:
        return f"{self.direction:>3} {self.headline}"


@attrs.frozen
class NoReply(EventPayload):
    """The host decided to send no reply (a magic amount, a request it cannot answer)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "no_reply"

    direction: str = attrs.field(default="none", init=False)
    mti: str
    peer: str
    note: str
    headline: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"{self.headline}: no reply ({self.note})"


@attrs.frozen
class ConnectionIdle(EventPayload):
    """A connection sent no frame for the idle timeout: the host closed it."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "closed"

    peer: str
    idle_timeout: float = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"{self.peer}: no frame for {self.idle_timeout:g} s; connection closed"


class _FrameError(Exception):
    """This connection sent garbage: report it, drop the connection."""


class _Idle(Exception):
    """No frame began within the idle timeout: drop the connection."""


class GatewayServer(ServiceThread):
    def __init__(
        self,
        acquirer: AcquirerHost,
        codec: Iso8583Codec,
        framing: Framing,
        clock: Clock,
        bus: EventBus,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        max_message: int = DEFAULT_MAX_MESSAGE,
        frame_timeout: float | None = DEFAULT_FRAME_TIMEOUT,
        idle_timeout: float | None = DEFAULT_IDLE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        backlog: int = 1024,
        mac: MessageMac | None = None,
        trace: bool = True,
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self._acquirer = acquirer
        self._codec = codec
        self._framing = framing
        self._clock = clock
        self._bus = bus
        self._max_message = max_message
        self._frame_timeout = frame_timeout
        self._idle_timeout = idle_timeout
        self._max_connections = max_connections
        self._backlog = backlog
        # With a MAC key every request must carry a good MAC and every reply gets one.
        self._mac = mac
        # trace=False: no iso8583 event per message (errors still). Not needed for
        # long runs -- ``gateway serve`` gives its bus a bounded window -- but it
        # saves building the events where nobody reads them.
        self._trace = trace
        self.faults = HostFaults(clock, bus)  # armed by scenarios (gateway_fault)
        self._listener: Listener | None = None
        self._connections: set[asyncio.Task[Any]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    # -- lifecycle -------------------------------------------------------------

    what = "the gateway server"
    thread_name = "possim-gateway"

    def stop(self, timeout: float = 10.0) -> None:
        """Close the listener and every connection; join the thread."""
        self.faults.cancel()
        super().stop(timeout)

    @property
    def open_connections(self) -> int:
        """Connections open right now (0 when not running)."""
        return 0 if self._listener is None else self._listener.open_connections

    async def _listen(self) -> tuple[str, int]:
        self._listener = Listener(
            "ISO 8583 host",
            self._protocol,
            max_connections=self._max_connections,
            report=self._publish_limit,
            backlog=self._backlog,
        )
        return await self._listener.open(self._host, self._port)

    async def _shutdown(self) -> None:
        listener, self._listener = self._listener, None
        if listener is None:
            return
        await listener.close()
        await self._close_connections()

    def _protocol(self, slot: Slot) -> asyncio.Protocol:
        # A small read buffer: a connection flooding bytes is paused at twice this.
        reader = asyncio.StreamReader(limit=16 * 1024)
        return asyncio.StreamReaderProtocol(
            reader, lambda reader, writer: self._on_connection(reader, writer, slot)
        )

    async def _close_connections(self) -> None:
        # Closing the transports lets each handler see EOF and end on its own;
        # cancelling a handler's task instead makes asyncio's stream machinery
        # log a CancelledError traceback. Cancel only what does not end.
        for writer in list(self._writers):
            writer.close()
        tasks = set(self._connections)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=_SHUTDOWN_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    # -- one connection ----------------------------------------------------------

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, slot: Slot
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writers.add(writer)
        peer_info = writer.get_extra_info("peername")
        # Connections are numbered rather than named by their ephemeral port, so a
        # simulation's transcript is the same on every run.
        host = peer_info[0] if isinstance(peer_info, tuple) else str(peer_info)
        peer = f"connection #{slot.number} from {host}"
        unanswered_frame = False
        try:
            while True:
                slot.idle()
                body = await self._read_frame(reader, slot)
                if body is None:
                    return
                if not await self._serve_frame(body, writer, peer, reader):
                    self._clock.work_done()
        except _Idle:
            self._bus.publish(ConnectionIdle(peer, self._idle_timeout or 0.0))
        except _FrameError as exc:
            self._publish_error(peer, str(exc))
            unanswered_frame = True
        except (ConnectionError, OSError) as exc:
            self._publish_error(peer, f"connection lost: {exc}")
        except asyncio.CancelledError:
            pass  # server stopping
        except Exception as exc:  # a gateway bug: say so, hang up, keep serving the others
            self._publish_error(peer, f"internal error: {type(exc).__name__}: {exc}")
            unanswered_frame = True
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)
            self._writers.discard(writer)
            if unanswered_frame:
                self._clock.work_done()

    async def _read_frame(self, reader: asyncio.StreamReader, slot: Slot) -> bytes | None:
        """One frame body; None on a clean EOF between frames.

        Raises _Idle when no frame starts within the idle timeout and _FrameError
        for garbage, including a frame still incomplete at the frame timeout.
        """
        try:
            async with _deadline(self._idle_timeout):
                first = await reader.readexactly(1)
        except asyncio.IncompleteReadError:
            return None
        except asyncio.TimeoutError:
            raise _Idle from None
        slot.busy()
        try:
            async with _deadline(self._frame_timeout):
                return await self._read_rest(reader, first)
        except asyncio.TimeoutError:
            raise _FrameError(
                f"frame incomplete after {self._frame_timeout:g} s from its first byte"
            ) from None

    async def _read_rest(self, reader: asyncio.StreamReader, first: bytes) -> bytes:
        try:
            header = first + await reader.readexactly(self._framing.header_size - 1)
        except asyncio.IncompleteReadError:
            raise _FrameError("connection closed inside a frame header") from None
        try:
            length = self._framing.body_length(header)
        except SimulatorError as exc:
            raise _FrameError(str(exc)) from None
        if length == 0:
            raise _FrameError("frame header announces an empty message")
        if length > self._max_message:
            raise _FrameError(
                f"frame header announces {length} bytes, more than the {self._max_message} allowed"
            )
        if length <= self._framing.tpdu_length:
            raise _FrameError(
                f"frame of {length} bytes leaves no room for a message after the "
                f"{self._framing.tpdu_length}-byte TPDU"
            )
        try:
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise _FrameError(
                f"connection closed after {len(exc.partial)} of a {length}-byte frame"
            ) from None

    async def _serve_frame(
        self, body: bytes, writer: asyncio.StreamWriter, peer: str, reader: asyncio.StreamReader
    ) -> bool:
        """Answer one frame; False if nothing was sent (the caller owes work_done).

        Raises _FrameError for garbage that ends the connection.
        """
        tpdu, message = self._framing.split(body)
        try:
            request = self._codec.decode(message)
        except SimulatorError as exc:
            raise _FrameError(str(exc)) from None
        lost = self.faults.take_lost_request(message_kind(request))
        if lost is not None:  # never reached the host: nothing seen, decided or booked
            self.faults.announce(lost, request.get("t", ""))
            return False
        self._publish_message(request, "in", peer)
        try:
            decision = self._mac_refusal(message, request) or self._acquirer.decide(request)
        except Exception as exc:  # a host bug must not take the gateway down
            raise _FrameError(
                f"the host failed on {request.get('t', '????')}: {type(exc).__name__}: {exc}"
            ) from None
        if decision.reply is None:
            self._bus.publish(
                NoReply(request.get("t", ""), peer, decision.note, summarize(request))
            )
            return False
        try:
            # A MAC refusal goes out unsigned: the sender's key is not one we share.
            mac = None if decision.reply.get("39") == MAC_REFUSED else self._mac
            encoded = (
                self._codec.encode(decision.reply) if mac is None else mac.encode(decision.reply)
            )
            frame = self._framing.frame(encoded, self._framing.reply_tpdu(tpdu))
        except SimulatorError as exc:
            raise _FrameError(f"cannot encode the reply: {exc}") from None
        fault = self.faults.take_for(message_kind(request))
        if fault is not None:
            reply, note = decision.reply, decision.note
            return await self.faults.deliver(
                fault, frame, request.get("t", ""), reader, writer,
                lambda: self._publish_message(reply, "out", peer, note),
            )  # fmt: skip
        self._publish_message(decision.reply, "out", peer, decision.note)
        writer.write(frame)
        try:
            async with _deadline(self._frame_timeout):
                await writer.drain()
        except asyncio.TimeoutError:
            # A peer that sends but never reads would hold the connection forever.
            raise ConnectionError(f"replies unread for {self._frame_timeout:g} s") from None
        return True

    def _mac_refusal(self, message: bytes, request: Mapping[str, str]) -> Decision | None:
        """A request whose MAC does not verify is refused with A0 and never decided."""
        if self._mac is None:
            return None
        try:
            self._mac.verify(message, request)
        except MacError as exc:
            mti = request.get("t", "")
            if not is_request(mti):
                return Decision(None, f"{exc}; not a request: nothing to answer")
            reply = {key: request[key] for key in ("t", *ECHO_OTHER) if key in request}
            reply.update({"t": response_mti(mti), "39": MAC_REFUSED})
            return Decision(reply, f"{exc}: refused ({MAC_REFUSED})")
        return None

    # -- events ------------------------------------------------------------------

    def _publish_message(
        self, fields: Mapping[str, str], direction: str, peer: str, note: str | None = None
    ) -> None:
        if not self._trace:
            return
        message = HostIsoMessage(
            direction,
            fields.get("t", ""),
            self._codec.describe(fields),
            peer,
            note,
            summarize(fields),
        )
        self._bus.publish(message)

    def _publish_error(self, peer: str, problem: str) -> None:
        self._bus.publish(ConnectionProblem(f"{peer}: {problem}; connection closed", peer))

    def _publish_limit(self, line: str) -> None:
        self._bus.publish(LimitReached(line))

    def _report_loop_error(self, line: str) -> None:
        self._bus.publish(GatewayProblem(f"ISO 8583 host: {line}"))


if sys.version_info >= (3, 11):
    _deadline = asyncio.timeout  # needs no extra task per frame, unlike wait_for()

else:

    @contextlib.asynccontextmanager
    async def _deadline(seconds: float | None) -> AsyncIterator[None]:
        """asyncio.timeout() for Python 3.10: cancel the block ``seconds`` from now."""
        if seconds is None:
            yield
            return
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            yield
        except asyncio.CancelledError:
            if expired:
                raise asyncio.TimeoutError from None
            raise
        finally:
            handle.cancel()
