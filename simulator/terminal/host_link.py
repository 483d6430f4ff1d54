"""The terminal's ISO 8583 link to the acquirer host (TCP, length-framed).

A reader thread takes every reply off the socket as it arrives so that the
requesting thread can wait for it through the :class:`~drivers.clock.Clock`:
on the virtual clock a host that never answers costs no real time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import deque
from collections.abc import Mapping
from typing import ClassVar

import attrs

from drivers.clock import Clock
from simulator.errors import Iso8583Error, SimulatorError
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.wire.iso8583 import Fields, Framing, Iso8583Codec, answers, summarize
from simulator.wire.mac import MessageMac


class HostUnavailable(SimulatorError):
    """The acquirer host cannot be reached or dropped the connection."""


class HostUnreachable(HostUnavailable):
    """No connection could be made: the request never left the terminal."""


class ConnectionLost(HostUnavailable):
    """The connection failed after the request was sent: it may have been processed."""


@attrs.frozen
class LinkIsoMessage(EventPayload):
    """An ISO 8583 message on the terminal's link: a request ``out``, a reply ``in``."""

    source: ClassVar[str] = "host_link"
    kind: ClassVar[str] = "iso8583"

    direction: str  # "out" (to the host) or "in"
    mti: str
    fields: Mapping[str, Mapping[str, str]]  # number -> {name, value}, card data redacted
    # MTI, STAN, amount, masked PAN, RRN, response code.
    headline: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"{'->' if self.direction == 'out' else '<-'} {self.headline}"


@attrs.frozen
class StaleReply(EventPayload):
    """A reply that answers no pending request (a late one): discarded."""

    source: ClassVar[str] = "host_link"
    kind: ClassVar[str] = "stale_reply"

    mti: str
    headline: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"<- discarded {self.headline}: it answers no pending request"


class Iso8583HostLink:
    def __init__(
        self,
        host: str,
        port: int,
        *,
        codec: Iso8583Codec,
        framing: Framing,
        clock: Clock,
        bus: EventBus,
        tpdu: bytes = b"",
        connect_timeout: float = 5.0,
        mac: MessageMac | None = None,
    ) -> None:
        self.address = (host, port)
        self._codec = codec
        self._framing = framing
        self._clock = clock
        self._bus = bus
        self._tpdu = tpdu
        self._connect_timeout = connect_timeout
        # With a MAC key every request is MACed and a reply whose MAC fails is not
        # used (MacError is an Iso8583Error: the authorisation reverses).
        self._mac = mac
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._replies: deque[bytes] = deque()
        self._closed_reason: str | None = None
        self._lock = threading.Lock()

    def exchange(self, request: Mapping[str, str], timeout: float) -> Fields | None:
        """Send ``request``; the reply, or ``None`` if none came within ``timeout``."""
        payload = self._codec.encode(request) if self._mac is None else self._mac.encode(request)
        sock = self._connected()
        with self._lock:
            # Replies already here came after their own request timed out (and was
            # reversed): none of them can answer this one.
            stale, self._replies = list(self._replies), deque()
        for late in stale:
            self._discard(self._decode(late)[1])
        self._publish("out", request)
        self._clock.work_begun()
        try:
            sock.sendall(self._framing.frame(payload, self._tpdu))
        except OSError as exc:
            self._clock.work_done()
            self._drop_connection(f"send failed: {exc}")
            raise ConnectionLost(f"cannot send to {self._where()}: {exc}") from None
        deadline = self._clock.monotonic() + timeout
        while True:
            remaining = deadline - self._clock.monotonic()
            if remaining < 0 or not self._clock.wait_until(self._reply_or_closed, remaining):
                return None
            with self._lock:
                body = self._replies.popleft() if self._replies else None
            if body is None:
                raise ConnectionLost(
                    f"{self._where()} closed the connection: {self._closed_reason}"
                )
            message, reply = self._decode(body)
            if not answers(request, reply):
                self._discard(reply)
                continue
            self._publish("in", reply)
            if self._mac is not None:
                self._mac.verify_reply(message, reply)
            return reply

    def _decode(self, body: bytes) -> tuple[bytes, Fields]:
        _, message = self._framing.split(body)
        return message, self._codec.decode(message)

    def _discard(self, reply: Fields) -> None:
        self._bus.publish(StaleReply(reply.get("t", ""), summarize(reply)))

    def close(self) -> None:
        self._drop_connection("closed by the terminal")
        if self._reader is not None:
            self._reader.join(timeout=5)

    # -- internals ------------------------------------------------------------

    def _connected(self) -> socket.socket:
        with self._lock:
            if self._sock is not None:
                return self._sock
            try:
                sock = socket.create_connection(self.address, timeout=self._connect_timeout)
            except OSError as exc:
                raise HostUnreachable(f"cannot connect to {self._where()}: {exc}") from None
            sock.settimeout(None)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
            self._closed_reason = None
            self._replies.clear()
            self._reader = threading.Thread(
                target=self._read_loop, args=(sock,), name="possim-host-link", daemon=True
            )
            self._reader.start()
            return sock

    def _read_loop(self, sock: socket.socket) -> None:
        reason = "connection closed by the host"
        try:
            while True:
                body = self._framing.read_frame(sock)
                if body is None:
                    break
                with self._lock:
                    self._replies.append(body)
                # The reply is consumed: the host's work is done.
                self._clock.work_done()
        except (OSError, Iso8583Error) as exc:
            reason = str(exc)
        with self._lock:
            if self._sock is sock:
                self._sock = None
                self._closed_reason = reason
        sock.close()
        self._clock.notify()

    def _drop_connection(self, reason: str) -> None:
        with self._lock:
            sock, self._sock = self._sock, None
            self._closed_reason = reason
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _reply_or_closed(self) -> bool:
        return bool(self._replies) or self._sock is None

    def _where(self) -> str:
        return f"acquirer host {self.address[0]}:{self.address[1]}"

    def _publish(self, direction: str, fields: Mapping[str, str]) -> None:
        described = self._codec.describe(fields)
        self._bus.publish(
            LinkIsoMessage(direction, fields.get("t", ""), described, summarize(fields))
        )
