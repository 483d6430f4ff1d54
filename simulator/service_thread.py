"""A listener on its own asyncio loop in a daemon thread, bound to loopback.

The ISO 8583 host (:mod:`simulator.gateway.server`), the QR HTTP API
(:mod:`simulator.gateway.qr.http`) and the channel simulators
(:mod:`simulator.channels.http`) share this life cycle: ``start()`` returns
once the socket is bound (or raises why it could not be), ``stop()`` asks the
loop to wind down and joins the thread. A subclass says how to listen and how
to shut down, and which error of its package it raises (``error``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import ipaddress
import sys
import threading
from typing import Any, TypeVar

from simulator.errors import SimulatorError

_Service = TypeVar("_Service", bound="ServiceThread")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ServiceThread(abc.ABC):
    #: How errors name the service ("the gateway server") and its thread.
    what: str
    thread_name: str
    #: What it raises: its package's error (GatewayError, ChannelServerError ...).
    error: type[SimulatorError] = SimulatorError

    def __init__(self, host: str, port: int, *, allow_remote: bool) -> None:
        if not allow_remote and not is_loopback(host):
            raise self.error(
                f"{self.what} listens on loopback only; {host!r} is not "
                "(pass allow_remote=True to listen there on purpose)"
            )
        self._host = host
        self._port = port
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._address: tuple[str, int] | None = None

    @abc.abstractmethod
    async def _listen(self) -> tuple[str, int]:
        """Start listening on the loop; the bound (host, port)."""

    @abc.abstractmethod
    async def _shutdown(self) -> None:
        """Stop listening and end what runs; called even when _listen failed."""

    @property
    def address(self) -> tuple[str, int]:
        if self._address is None:
            raise self.error(f"{self.what} is not running")
        return self._address

    def start(self) -> tuple[str, int]:
        """Start serving in a daemon thread; the bound (host, port)."""
        if self._thread is not None:
            raise self.error(f"{self.what} is already started")
        self._ready.clear()
        self._startup_error = None
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            self._thread = None
            failure = self._startup_error
            raise self.error(f"cannot listen on {self._host}:{self._port}: {failure}") from failure
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        """Wind the loop down and join the thread."""
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise self.error(f"{self.what} thread did not stop within {timeout} s")
        self._thread = None
        self._address = None

    def __enter__(self: _Service) -> _Service:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # startup failures reach start(); nothing else gets here
            if not self._ready.is_set():
                self._startup_error = exc
                self._ready.set()
            else:
                raise

    def _report_loop_error(self, line: str) -> None:
        """What the loop could not hand to anyone else, in one line (subclasses publish it)."""
        print(f"possim: {self.what}: {line}", file=sys.stderr, flush=True)

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # asyncio's default handler logs a traceback each time: under a flood of
        # bad connections that is a flood of tracebacks.
        line = str(context.get("message") or "unexpected error in the event loop")
        exc = context.get("exception")
        if exc is not None:
            line += f": {type(exc).__name__}: {exc}"
        self._report_loop_error(line)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.set_exception_handler(self._on_loop_error)
        self._stopping = asyncio.Event()
        try:
            self._address = await self._listen()
            self._ready.set()
            await self._stopping.wait()
        finally:
            await self._shutdown()
