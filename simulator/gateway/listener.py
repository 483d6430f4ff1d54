"""Accepting TCP connections for the gateway's servers, within limits.

``loop.create_server`` has no connection limit, and out of file descriptors it
reports every pending connection with a traceback: CPython's
``BaseSelectorEventLoop._accept_connection`` (asyncio/selector_events.py)
logs "socket.accept() out of system resource" and carries on with its loop of
up to ``backlog`` accepts, so one burst of idle connections writes megabytes of
tracebacks and leaves purchases waiting in the backlog. :class:`Listener`
accepts itself instead:

* at most ``max_connections`` open at once. At the limit a new connection
  takes the place of the connection that has waited longest for a request;
  when every connection is busy with one, the new connection is closed at
  once (refused). So connections that send nothing cannot keep a terminal
  out: the newcomer is the last to be closed for the next one.
* out of file descriptors (EMFILE, ENFILE ...) the listener frees a descriptor
  it keeps in reserve, accepts the pending connection and closes it, so
  connections are refused promptly instead of waiting in the backlog.
* either way it reports one line when refusing starts and one summary once it
  has been quiet for ``QUIET_AFTER`` s -- never a line per connection.

A service hands the listener a protocol factory; each connection gets a
:class:`Slot` the service marks ``idle()`` (waiting for a request) or
``busy()``, and may give a deadline after which the listener closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import resource
import socket
from collections.abc import Callable

QUIET_AFTER = 10.0  # seconds without refusals that end an episode (and its summary line)
_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
# accept() errors that concern only the connection being accepted (accept(2), "Error handling")
_PEER_GONE = frozenset({errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR})

Report = Callable[[str], None]


class Slot:
    """One open connection as its listener sees it."""

    __slots__ = ("_deadline", "_listener", "idle_since", "number", "on_data", "transport")

    def __init__(self, listener: Listener, number: int) -> None:
        self._listener = listener
        self.number = number  # 1, 2, ... in the order accepted
        self.transport: asyncio.Transport | None = None
        self.idle_since: float | None = listener.now()  # None while busy with a request
        self.on_data: Callable[[], None] | None = None  # called on every data_received
        self._deadline: asyncio.TimerHandle | None = None

    def idle(self) -> None:
        """The connection waits for its next request (it may make room for another)."""
        self.idle_since = self._listener.now()

    def busy(self) -> None:
        self.idle_since = None

    def close_after(self, seconds: float | None) -> None:
        """Close the connection ``seconds`` from now unless this is called again first."""
        self.clear_deadline()
        if seconds is not None:
            self._deadline = self._listener.loop.call_later(seconds, self.close)

    def clear_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def close(self) -> None:
        self.clear_deadline()
        if self.transport is not None:
            self.transport.close()


class _Counted(asyncio.Protocol):
    """The service's protocol, and the listener told when the connection ends."""

    def __init__(self, slot: Slot, inner: asyncio.Protocol) -> None:
        self._slot = slot
        self._inner = inner

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._slot._listener._register(self._slot, transport)
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._slot.on_data is not None:
            self._slot.on_data()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._slot._listener._forget(self._slot)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _Episode:
    """One line when refusing starts, one summary when it has been quiet a while."""

    def __init__(self, listener: Listener) -> None:
        self._listener = listener
        self._started: float | None = None
        self._last = 0.0
        self._refused = 0
        self._evicted = 0
        self._timer: asyncio.TimerHandle | None = None

    def count(self, why: str, *, evicted: bool = False) -> None:
        now = self._listener.now()
        if evicted:
            self._evicted += 1
        else:
            self._refused += 1
        self._last = now
        if self._started is None:
            self._started = now
            self._listener.report(f"{self._listener.what}: {why}")
            self._timer = self._listener.loop.call_later(QUIET_AFTER, self._maybe_end)

    def _maybe_end(self) -> None:
        quiet_since = self._listener.now() - self._last
        if quiet_since < QUIET_AFTER:
            self._timer = self._listener.loop.call_later(QUIET_AFTER - quiet_since, self._maybe_end)
            return
        self.end()

    def end(self) -> None:
        if self._started is None:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        seconds = self._last - self._started
        self._listener.report(
            f"{self._listener.what}: back to normal; while at the limit, "
            f"{self._evicted} idle connection(s) closed for new ones and "
            f"{self._refused} new connection(s) refused, over {seconds:.0f} s"
        )
        self._started, self._refused, self._evicted = None, 0, 0


class Listener:
    """A listening socket with its own accept loop, within ``max_connections``."""

    def __init__(
        self,
        what: str,
        protocol_factory: Callable[[Slot], asyncio.Protocol],
        *,
        max_connections: int,
        report: Report,
        backlog: int = 1024,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"{what}: max_connections must be at least 1, not {max_connections}")
        self.what = what  # "ISO 8583 host" -- how report lines name the service
        self.report = report
        self.max_connections = max_connections
        self._factory = protocol_factory
        self._backlog = backlog
        self._slots: dict[Slot, None] = {}  # open connections, oldest first
        self._by_transport: dict[asyncio.BaseTransport, Slot] = {}
        self._accepted = 0
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._spare_fd: int | None = None
        self._room = asyncio.Event()  # set whenever a connection closes
        self._episode = _Episode(self)
        self.loop = asyncio.get_running_loop()

    def now(self) -> float:
        return self.loop.time()

    @property
    def open_connections(self) -> int:
        return len(self._slots)

    def slot_for(self, transport: asyncio.BaseTransport | None) -> Slot | None:
        return None if transport is None else self._by_transport.get(transport)

    async def open(self, host: str, port: int) -> tuple[str, int]:
        """Bind, listen and start accepting; the bound (host, port)."""
        infos = await self.loop.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(address)
            sock.listen(self._backlog)
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self._sock = sock
        self._spare_fd = _reserve_fd()
        self._accepting = self.loop.create_task(self._accept_loop())
        bound = sock.getsockname()
        return str(bound[0]), int(bound[1])

    async def close(self) -> None:
        """Stop accepting (the service closes the connections it holds)."""
        task, self._accepting = self._accepting, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
        self._episode.end()

    # -- accepting -----------------------------------------------------------------

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        listening = self._sock
        while True:
            # sock_accept() does not yield while connections are pending: without
            # this, a flood of them would starve every connection already open.
            await asyncio.sleep(0)
            try:
                sock, _ = await self.loop.sock_accept(listening)
            except OSError as exc:
                if exc.errno in _OUT_OF_FILES:
                    await self._shed(listening, exc)
                elif exc.errno not in _PEER_GONE:
                    # Not this connection's fault and not ours to fix: say so, go on.
                    self._episode.count(f"accept() failed ({exc}); retrying")
                    await asyncio.sleep(0.1)
                continue
            await self._admit(sock)

    async def _admit(self, sock: socket.socket) -> None:
        if len(self._slots) >= self.max_connections and not self._evict_idle():
            self._episode.count(
                f"{self.max_connections} connections open (the limit): refusing new "
                "connections until one closes"
            )
            sock.close()
            return
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._accepted += 1
        slot = Slot(self, self._accepted)
        self._slots[slot] = None
        try:
            protocol = _Counted(slot, self._factory(slot))
            await self.loop.connect_accepted_socket(lambda: protocol, sock)
        except OSError as exc:  # the peer went away already, say
            self._forget(slot)
            sock.close()
            if exc.errno in _OUT_OF_FILES:
                self._episode.count(f"out of file descriptors ({errno.errorcode[exc.errno]})")

    def _evict_idle(self) -> bool:
        """Close the connection idle longest (if idle long enough) to make room."""
        idle = [slot for slot in self._slots if slot.idle_since is not None]
        if not idle:
            return False
        longest = min(idle, key=_idle_since)
        self._episode.count(
            f"{self.max_connections} connections open (the limit): closing the longest-idle "
            "connection for each new one, refusing new ones while none is idle",
            evicted=True,
        )
        self._forget(longest)
        longest.close()
        return True

    async def _shed(self, listening: socket.socket, exc: OSError) -> None:
        """Out of file descriptors: refuse one pending connection with the spare one."""
        self._episode.count(
            f"out of file descriptors ({errno.errorcode.get(exc.errno or 0, exc.errno)} with "
            f"{self.open_connections} connections open, see ulimit -n): refusing new "
            "connections until some close"
        )
        if self._spare_fd is not None:
            os.close(self._spare_fd)
            self._spare_fd = None
            with contextlib.suppress(OSError):
                pending, _ = listening.accept()
                pending.close()
            self._spare_fd = _reserve_fd()
        if self._spare_fd is None:
            # Nothing to shed with: wait for a connection to close (or a moment).
            self._room.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._room.wait(), 1.0)

    def _register(self, slot: Slot, transport: asyncio.Transport) -> None:
        slot.transport = transport
        if slot in self._slots:
            self._by_transport[transport] = slot

    def _forget(self, slot: Slot) -> None:
        if slot not in self._slots:
            return
        del self._slots[slot]
        slot.clear_deadline()
        if slot.transport is not None:
            self._by_transport.pop(slot.transport, None)
        self._room.set()


def _idle_since(slot: Slot) -> float:
    return slot.idle_since if slot.idle_since is not None else float("inf")


def _reserve_fd() -> int | None:
    try:
        return os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None


def open_files_limit() -> int | None:
    """The process's soft limit on open files (``ulimit -n``); None if unlimited."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return None if soft == resource.RLIM_INFINITY else int(soft)
