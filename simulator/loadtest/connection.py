"""One terminal's ISO 8583 connection, in plain blocking sockets.

A Locust user is a greenlet: Locust has monkey-patched ``socket``, so these
blocking calls yield to the other users while they wait. Everything on the wire
is possim's own, shared with the terminal's host link
(:mod:`simulator.terminal.host_link`): the codec and spec, the framing (length
header, TPDU: :meth:`~simulator.wire.iso8583.Framing.read_frame`), the MAC
(:class:`~simulator.wire.mac.MessageMac`) and which reply answers which request
(:func:`~simulator.wire.iso8583.answers`), all chosen by the same
:class:`~simulator.terminal.config.HostEndpoint` an ``iso8583://`` URL names.
Nothing here imports gevent or Locust: the same class works in a plain thread.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Mapping

import attrs

from simulator.errors import Iso8583Error
from simulator.terminal.config import HostEndpoint
from simulator.wire.iso8583 import Fields, Framing, Iso8583Codec, Iso8583Spec, answers
from simulator.wire.mac import MessageMac


class NoReply(Exception):
    """No usable reply: timeout, connection refused or lost, bad frame or MAC."""


@attrs.frozen
class HostWire:
    """How to talk to one host: codec, framing, TPDU, MAC; shared by every user."""

    endpoint: HostEndpoint
    codec: Iso8583Codec
    framing: Framing
    mac: MessageMac | None

    @classmethod
    def for_endpoint(cls, endpoint: HostEndpoint, mac_key: bytes | None = None) -> HostWire:
        codec = Iso8583Codec(Iso8583Spec.load(endpoint.spec))
        return cls(endpoint, codec, endpoint.framing(), endpoint.message_mac(codec, mac_key))

    def frame(self, request: Mapping[str, str]) -> bytes:
        encoded = self.codec.encode(request) if self.mac is None else self.mac.encode(request)
        return self.framing.frame(encoded, self.endpoint.tpdu)

    def decode(self, body: bytes) -> Fields:
        _, message = self.framing.split(body)
        reply = self.codec.decode(message)
        if self.mac is not None:
            self.mac.verify_reply(message, reply)
        return reply


class IsoConnection:
    """One TCP connection to the host, opened on first use and again after a loss."""

    def __init__(self, wire: HostWire, timeout: float) -> None:
        self.wire = wire
        self.timeout = timeout
        self._sock: socket.socket | None = None

    def exchange(self, request: Mapping[str, str]) -> tuple[Fields, float]:
        """Send ``request``; its reply and the seconds from writing it to reading the reply.

        Replies that answer another request (late ones) are skipped. :class:`NoReply`
        when none comes within the timeout or the connection fails; the connection
        is then closed (a late reply must not answer the next request).
        """
        data = self.wire.frame(request)
        sock = self._connected()
        started = time.perf_counter()
        try:
            sock.sendall(data)
            while True:
                body = self.wire.framing.read_frame(sock)
                if body is None:
                    raise NoReply("the host closed the connection")
                reply = self.wire.decode(body)
                if answers(request, reply):
                    return reply, time.perf_counter() - started
        except (OSError, Iso8583Error) as exc:
            self.close()
            raise NoReply(
                f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            ) from None
        except NoReply:
            self.close()
            raise

    def _connected(self) -> socket.socket:
        if self._sock is None:
            endpoint = self.wire.endpoint
            try:
                sock = socket.create_connection((endpoint.host, endpoint.port), self.timeout)
            except OSError as exc:
                raise NoReply(f"cannot connect to {endpoint.host}:{endpoint.port}: {exc}") from None
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.settimeout(self.timeout)
            self._sock = sock
        return self._sock

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
