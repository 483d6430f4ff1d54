"""The channel simulators on HTTP: aiohttp on its own loop in a daemon thread, on loopback.

:class:`ChannelHttpServer` serves a channel's aiohttp application (WeChat Pay,
Alipay and UnionPay each give theirs) with the limits every channel shares
(docs/reliability.md): request line and each header at most 8190 bytes and 64
headers, bodies never decompressed, at most ``max_connections`` open at once
(one more is closed as soon as it is accepted, unanswered), an idle kept-alive
connection closed after ``idle_timeout`` s. What differs is said by each
channel: its body size (the application's ``client_max_size``) and how long a
request may take to arrive -- ``request_timeout`` s from its first byte to its
last, then closed unanswered (WeChat), or ``None``: the handler reads the body
with :func:`read_body` and answers 408 after ``BODY_TIMEOUT`` s (Alipay,
UnionPay). Loopback only unless ``allow_remote``.

The life cycle (start once bound, stop, loopback only) is the gateway's
listeners' too: :class:`~simulator.service_thread.ServiceThread`.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from simulator.channels.errors import ChannelServerError
from simulator.channels.faults import ChannelFault, FaultError, Faults
from simulator.service_thread import ServiceThread

MAX_BODY = 64 * 1024  # every channel's (WeChat's is a setting)
MAX_CONNECTIONS = 256
IDLE_TIMEOUT = 60.0  # real seconds an idle kept-alive connection is kept (WeChat: 120)
MAX_HEADER_LINE = 8190
MAX_HEADERS = 64
MAX_FIELDS = 64  # parameters of one form-encoded request
BODY_TIMEOUT = 10.0  # real seconds for a request's body to arrive (read_body)
Handler = Callable[[web.Request], Awaitable[web.Response]]


async def read_body(request: web.Request) -> bytes | None:
    """The body, or None when it does not arrive within BODY_TIMEOUT (a slow client)."""
    if not request.can_read_body:
        return b""
    try:
        return await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except asyncio.TimeoutError:
        return None


def parse_params(query: bytes, body: bytes) -> dict[str, str]:
    """A form request's parameters, query string first, each decoded with its ``charset``
    (Alipay: "请确认charset参数放在了URL查询字符串中"); ValueError over MAX_FIELDS."""
    raw = query + (b"&" if query and body else b"") + body
    charset = "utf-8"
    for name, value in urllib.parse.parse_qsl(
        raw.decode("latin-1"), keep_blank_values=True, max_num_fields=MAX_FIELDS
    ):
        if name == "charset":
            charset = value.lower()
    if charset not in ("utf-8", "gbk", "gb2312"):
        charset = "utf-8"  # refused by the gateway's charset check, decoded leniently
    params: dict[str, str] = {}
    for part in (query, body):
        for name, value in urllib.parse.parse_qsl(
            part.decode("ascii", "replace"),
            keep_blank_values=True,
            encoding=charset,
            errors="replace",
            max_num_fields=MAX_FIELDS,
        ):
            params.setdefault(name, value)
    return params


def arm_faults(faults: Faults, fault_type: type[ChannelFault]) -> Handler:
    """``POST /possim/<channel>/faults``: arm the fault in the JSON body (400 saying why not)."""

    async def arm(request: web.Request) -> web.Response:
        try:
            data: Any = await request.json()
            if not isinstance(data, dict):
                raise FaultError("a fault is a JSON object")
            faults.arm(fault_type.from_data(data))
        except (ValueError, FaultError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"armed": len(faults.armed())})

    return arm


class ChannelHttpServer(ServiceThread):
    """Runs a channel's aiohttp application in a daemon thread
    (:class:`~simulator.service_thread.ServiceThread`'s life cycle)."""

    error = ChannelServerError

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        what: str = "the channel simulator",
        name: str = "possim-channel",
        allow_remote: bool = False,
        max_connections: int = MAX_CONNECTIONS,
        request_timeout: float | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.what, self.thread_name = what, name
        super().__init__(host, port, allow_remote=allow_remote)
        self._make_app = make_app
        self._idle_timeout = idle_timeout
        self._connections = _Connections(max_connections, request_timeout)
        self._runner: web.AppRunner | None = None
        self._server: asyncio.Server | None = None

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def open_connections(self) -> int:
        return self._connections.open

    async def _listen(self) -> tuple[str, int]:
        options: dict[str, Any] = {
            "access_log": None,
            "max_line_size": MAX_HEADER_LINE,
            "max_field_size": MAX_HEADER_LINE,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,
            "keepalive_timeout": self._idle_timeout,
        }
        app = self._make_app()
        if self._connections.request_timeout is not None:
            app.middlewares.append(_arrived)
        runner = self._runner = web.AppRunner(
            app, handle_signals=False, shutdown_timeout=1.0, **options
        )
        await runner.setup()
        manager = runner.server
        assert manager is not None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Counted(manager, self._connections, loop=loop, **options),
            self._host,
            self._port,
        )
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class _Connections:
    """How many connections are open (touched on the server's loop only)."""

    def __init__(self, maximum: int, request_timeout: float | None) -> None:
        self.maximum = maximum
        self.request_timeout = request_timeout
        self.open = 0
        self.refused = 0
        self.timed_out = 0


@web.middleware
async def _arrived(request: web.Request, handler: Any) -> web.StreamResponse:
    """A request whose body is in: its connection's clock stops until the next request
    begins (a slow answer, such as a ``slow`` fault's, is not the client's doing)."""
    try:
        await request.read()  # kept by aiohttp for the handler; 413 over client_max_size
    finally:
        protocol = request.protocol
        if isinstance(protocol, _Counted):
            protocol.request_done()
    response: web.StreamResponse = await handler(request)
    return response


class _Counted(RequestHandler):
    """aiohttp's handler, counted: one connection over the limit is closed at once."""

    def __init__(self, manager: Any, connections: _Connections, **options: Any) -> None:
        super().__init__(manager, **options)
        self._connections = connections
        self._deadline: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def data_received(self, data: bytes) -> None:
        timeout = self._connections.request_timeout
        if timeout is not None and self._deadline is None and self._transport is not None:
            self._deadline = asyncio.get_running_loop().call_later(timeout, self._too_slow)
        super().data_received(data)

    def request_done(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._transport is not None:
            self._connections.timed_out += 1
            self._transport.close()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._transport = transport
        self._connections.open += 1
        if self._connections.open > self._connections.maximum:
            self._connections.refused += 1
            transport.close()

    def connection_lost(self, exc: BaseException | None) -> None:
        self._connections.open -= 1
        self.request_done()
        self._transport = None
        super().connection_lost(exc)
