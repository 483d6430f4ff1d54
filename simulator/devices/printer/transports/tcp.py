"""The virtual printer as a network printer: raw TCP on port 9100 ("JetDirect").

:class:`TcpPrinter` listens (on loopback unless told otherwise), feeds what a
client sends to the :class:`~simulator.devices.printer.port.PrinterPort` and
sends the printer's status replies back on the same connection, so
``escpos.printer.Network`` -- or any ESC/POS client -- prints to it.

Like a real network printer it serves one connection at a time: a second
client's connection waits in the listen backlog until the first one closes
(or has been idle for ``idle_timeout`` seconds, if set). Malformed bytes,
resets and half-closed connections end that connection at most; the listener
keeps serving, and records what went wrong in ``errors`` (the newest
:data:`ERRORS_KEPT`) and tells each ``on_error`` hook as it happens. Each
client is a :class:`~simulator.devices.printer.connections.Connection` of the
port, so the printer's problems are located in that client's stream.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import threading
import time
from collections.abc import Callable
from types import TracebackType

from simulator.devices.printer.connections import Connection
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.retention import Retained
from simulator.devices.printer.transports.pty import ERRORS_KEPT, drain_replies

LOOPBACK = "127.0.0.1"
PRINTER_PORT = 9100
READ_SIZE = 4096


class TcpPrinter:
    """A virtual printer listening on TCP (see the module docstring)."""

    def __init__(
        self,
        port: PrinterPort,
        *,
        host: str = LOOPBACK,
        tcp_port: int = 0,
        idle_timeout: float | None = None,
    ) -> None:
        self.port = port
        self.idle_timeout = idle_timeout
        self.errors: Retained[str] = Retained(ERRORS_KEPT)
        self.on_error: list[Callable[[str], None]] = []  # called from the server thread
        self.connections = 0  # connections served so far
        self.bytes_in = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind((host, tcp_port))
            self._listener.listen(8)
        except OSError:
            self._listener.close()
            raise
        self._listener.setblocking(False)
        self.host, self.tcp_port = self._listener.getsockname()[:2]
        self._client: socket.socket | None = None
        self._connection: Connection | None = None
        self._last_activity = 0.0
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="possim-printer-tcp", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.tcp_port}"

    # -- the server thread ----------------------------------------------------------

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        selector.register(self._listener, selectors.EVENT_READ)
        try:
            while not self._stopping:
                timeout = None
                if self._client is not None and self.idle_timeout is not None:
                    idle = time.monotonic() - self._last_activity
                    timeout = max(0.0, self.idle_timeout - idle)
                events = selector.select(timeout)
                if not events and self._client is not None:
                    self._drop(selector, "idle timeout")
                    continue
                for key, _ in events:
                    if key.fd == self._wake_r:
                        return
                    if key.fileobj is self._listener:
                        self._accept(selector)
                    else:
                        self._serve(selector)
        finally:
            if self._client is not None:
                self._drop(selector, None)
            selector.close()

    def _accept(self, selector: selectors.BaseSelector) -> None:
        try:
            client, peer = self._listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._note(f"accept failed: {exc}")
            return
        client.setblocking(False)
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._client = client
        self._connection = self.port.open_connection(f"tcp {peer[0]}:{peer[1]}")
        self.connections += 1
        self._last_activity = time.monotonic()
        # One connection at a time: the next waits in the backlog.
        selector.unregister(self._listener)
        selector.register(client, selectors.EVENT_READ)

    def _drop(self, selector: selectors.BaseSelector, why: str | None) -> None:
        client = self._client
        if client is None:
            return
        connection = self._connection
        if why is not None:
            name = connection.name if connection is not None else "connection"
            self._note(f"{name} closed: {why}")
        selector.unregister(client)
        client.close()
        self._client = None
        self._connection = None
        if connection is not None:
            self.port.close_connection(connection, why or "connection closed")
        selector.register(self._listener, selectors.EVENT_READ)

    def _serve(self, selector: selectors.BaseSelector) -> None:
        client = self._client
        assert client is not None
        try:
            data = client.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # reset by the peer, ...
            self._drop(selector, str(exc))
            return
        if not data:  # the client closed (or half-closed) its side: the job is over
            self._drop(selector, None)
            return
        self._last_activity = time.monotonic()
        self.bytes_in += len(data)
        try:
            self.port.feed(data, self._connection)
            reply = drain_replies(self.port)
        except Exception as exc:  # the printer must outlive any input
            self._note(f"printer failed on {len(data)} bytes: {exc!r}")
            return
        if reply:
            try:
                client.setblocking(True)
                client.settimeout(5.0)
                client.sendall(reply)
                client.setblocking(False)
            except OSError as exc:
                self._drop(selector, f"reply not delivered: {exc}")

    def _note(self, message: str) -> None:
        self.errors.append(message)
        for hook in list(self.on_error):
            hook(message)

    # -- life cycle -------------------------------------------------------------------

    def close(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5.0)
        self._listener.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def __enter__(self) -> TcpPrinter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
