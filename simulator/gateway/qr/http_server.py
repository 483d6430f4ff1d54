"""The QR API's HTTP server: aiohttp on its own loop in a daemon thread, within limits.

Limits (docs/reliability.md):

* a connection waiting ``idle_timeout`` s for a request is closed (aiohttp
  3.14 closes one that never sends a request on its keep-alive timer too;
  earlier versions do not, so this server does it itself), and so is one whose
  request is not answered ``request_timeout`` s after its first byte: slow
  headers or a slow body;
* at most ``max_connections`` connections are open at once
  (:mod:`simulator.gateway.listener`);
* request line and each header at most ``MAX_HEADER_LINE`` bytes, at most
  ``MAX_HEADERS`` headers, a body of at most ``validation.MAX_BODY`` bytes,
  never decompressed (the API takes plain JSON: a compressed body is just not
  JSON).

A request aiohttp cannot even parse is answered 400 in the API's error shape
(``INVALID_REQUEST``) and the connection closed, without a log record: bad
input is the client's business. What aiohttp logs otherwise (a bug) becomes
one ``error`` event, never a traceback on stderr.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from simulator.gateway.listener import Listener, Slot
from simulator.gateway.problems import SOURCE
from simulator.gateway.qr.http import QrApi, error_reply, first_line
from simulator.gateway.service_thread import ServiceThread

DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_IDLE_TIMEOUT = 120.0  # real seconds a connection may wait for a request
DEFAULT_REQUEST_TIMEOUT = 10.0  # real seconds from a request's first byte to its answer
MAX_HEADER_LINE = 8190  # bytes in the request line or in one header (aiohttp's default)
MAX_HEADERS = 64


class HttpApplication(Protocol):
    """What :class:`JsonHttpServer` serves: an aiohttp application and where its
    limit and error lines go."""

    def application(self, *, outer: Any = None) -> web.Application: ...

    def report_limit(self, line: str) -> None: ...

    def report_error(self, line: str) -> None: ...


class JsonHttpServer(ServiceThread):
    """Runs an :class:`HttpApplication` on loopback in a daemon thread with its own loop.

    ``long_answers``: the request timeout covers the request's arrival (headers
    and body) only, not the handler's answer, which may take as long as the
    handler says (a payment, a WebSocket).
    """

    what = "the HTTP server"
    thread_name = "possim-http"
    label = "HTTP API"  # how its log lines start
    long_answers = False

    def __init__(
        self,
        app: HttpApplication,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self._app = app
        self._max_connections = max_connections
        self._idle_timeout = idle_timeout
        self._request_timeout = request_timeout
        self._runner: web.AppRunner | None = None
        self._listener: Listener | None = None
        self._logger = _EventLogger(self._report_error, self.label)
        self._handler_options: dict[str, Any] = {
            "access_log": None,
            "logger": self._logger,
            "keepalive_timeout": idle_timeout,
            "max_line_size": MAX_HEADER_LINE,
            "max_field_size": MAX_HEADER_LINE,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,
        }

    @property
    def base_url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    @property
    def open_connections(self) -> int:
        """Connections open right now (0 when not running)."""
        return 0 if self._listener is None else self._listener.open_connections

    async def _listen(self) -> tuple[str, int]:
        runner = web.AppRunner(
            self._app.application(outer=self._track),
            handle_signals=False,
            shutdown_timeout=1.0,
            **self._handler_options,
        )
        await runner.setup()
        self._runner = runner  # cleaned up by _shutdown from here on
        self._listener = Listener(
            self.label, self._protocol, max_connections=self._max_connections, report=self._report
        )
        return await self._listener.open(self._host, self._port)

    async def _shutdown(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()  # closes the connections aiohttp holds

    def _protocol(self, slot: Slot) -> asyncio.Protocol:
        assert self._runner is not None and self._runner.server is not None
        slot.on_data = lambda: self._request_begins(slot)
        slot.close_after(self._idle_timeout)
        return _JsonErrors(
            self._runner.server, loop=asyncio.get_running_loop(), **self._handler_options
        )

    def _request_begins(self, slot: Slot) -> None:
        if slot.idle_since is not None:
            slot.busy()
            slot.close_after(self._request_timeout)

    @web.middleware
    async def _track(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """Time each request on its connection, from its first byte to its answer."""
        slot = None if self._listener is None else self._listener.slot_for(request.transport)
        if slot is not None:
            self._request_begins(slot)  # pipelined: its bytes came during the last one
            if self.long_answers:
                await request.read()  # within client_max_size and the request timeout
                slot.clear_deadline()
        try:
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            if slot is not None:
                slot.idle()
                slot.close_after(self._idle_timeout)

    def _report(self, line: str) -> None:
        self._app.report_limit(line)

    def _report_error(self, line: str) -> None:
        self._app.report_error(line)

    def _report_loop_error(self, line: str) -> None:
        self._report_error(line)


class QrHttpServer(JsonHttpServer):
    """Runs a :class:`QrApi` on loopback in a daemon thread with its own loop."""

    what = "the QR API server"
    thread_name = "possim-qr-http"
    label = "QR API"

    def __init__(
        self,
        api: QrApi,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
    ) -> None:
        super().__init__(
            api,
            host,
            port,
            allow_remote=allow_remote,
            max_connections=max_connections,
            idle_timeout=idle_timeout,
            request_timeout=request_timeout,
        )
        self.api = api  # scenarios arm its faults


class _JsonErrors(RequestHandler):
    """aiohttp's answer to a request it cannot parse, in the API's error shape."""

    def handle_error(
        self,
        request: Any,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 or not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)  # a bug: logged
        if request.writer.output_size > 0:  # what RequestHandler.handle_error does too
            raise ConnectionError("an answer is under way: no room for an error")
        response = error_reply(status, f"malformed HTTP request: {first_line(exc)}")
        response.force_close()
        return response


class _EventLogger(logging.Logger):
    """aiohttp's server logger: ERROR records become one ``error`` line each."""

    def __init__(self, report: Callable[[str], None], label: str) -> None:
        super().__init__(f"possim.{SOURCE}.{label}", logging.ERROR)
        self.propagate = False
        self.addHandler(_OneLine(report, label))


class _OneLine(logging.Handler):
    def __init__(self, report: Callable[[str], None], label: str) -> None:
        super().__init__(logging.ERROR)
        self._report = report
        self._label = label

    def emit(self, record: logging.LogRecord) -> None:
        self._report(_one_line(record, self._label))


def _one_line(record: logging.LogRecord, label: str) -> str:
    line = f"{label}: {record.getMessage()}"
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        line += f": {type(exc).__name__}: {first_line(exc)}"
    return line
