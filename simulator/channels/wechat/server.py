"""The WeChat Pay simulator's HTTP server: both API versions on one loopback port.

It runs aiohttp on its own loop in a daemon thread (like the gateway's QR API; the
gateway's ``ServiceThread`` sits in a layer above the channels, hence this small
twin). Limits (docs/reliability.md): a body of at most ``max_body`` bytes (413),
request line and headers at most 8190 bytes each and 64 headers, bodies never
decompressed, an idle kept-alive connection closed after 120 s, at most
``max_connections`` open at once (one more is closed as soon as it is accepted), at
most ``max_trades`` orders kept, notifies bounded by the notifier, and a connection
closed unanswered when its request has not fully arrived ``request_timeout`` s after
its first byte (slow headers, slow body).
Loopback only unless ``allow_remote``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from drivers.clock import Clock
from simulator.channels.wechat import control, v2, v3
from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.keys import WechatTestKeys
from simulator.errors import SimulatorError

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_CONNECTIONS = 256
DEFAULT_REQUEST_TIMEOUT = 10.0  # real seconds from a request's first byte to its last
MAX_HEADER_LINE = 8190
MAX_HEADERS = 64
IDLE_TIMEOUT = 120.0  # real seconds a kept-alive connection may wait for its next request


class ChannelServerError(SimulatorError):
    """The channel simulator cannot start."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WechatPaySimulator:
    """WeChat Pay on ``base_url``: ``/pay/...`` (v2), ``/v3/...`` (v3), ``/possim/...``."""

    def __init__(
        self,
        clock: Clock,
        keys: WechatTestKeys | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        allow_remote: bool = False,
        max_body: int = DEFAULT_MAX_BODY,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        request_timeout: float = DEFAULT_REQUEST_TIMEOUT,
        core: WechatCore | None = None,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise ChannelServerError(
                f"the WeChat Pay simulator listens on loopback only; {host!r} is not "
                "(pass allow_remote=True to listen there on purpose)"
            )
        self.core = core or WechatCore(clock, keys)
        self._host, self._port, self._max_body = host, port, max_body
        self._connections = _Connections(max_connections, request_timeout)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._address: tuple[str, int] | None = None

    @property
    def base_url(self) -> str:
        if self._address is None:
            raise ChannelServerError("the WeChat Pay simulator is not running")
        host, port = self._address
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def open_connections(self) -> int:
        return self._connections.open

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body, middlewares=[_arrived])
        app.add_routes([*v2.routes(self.core), *v3.routes(self.core), *control.routes(self.core)])
        return app

    def start(self) -> str:
        """Serve in a daemon thread; the base URL once listening."""
        if self._thread is not None:
            raise ChannelServerError("the WeChat Pay simulator is already started")
        self._ready.clear()
        self._error = None
        self._thread = threading.Thread(target=self._run, name="possim-wechat", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise ChannelServerError(
                f"cannot listen on {self._host}:{self._port}: {self._error}"
            ) from self._error
        self.core.base_url = self.base_url
        self.core.notifier.start()
        return self.base_url

    def banner(self) -> list[str]:
        """What ``possim channels serve wechat`` prints once listening."""
        keys = self.core.keys
        return [
            f"WeChat Pay (v2 and v3) on {self.base_url}",
            f"test keys: {keys.folder / 'keys.json'} (mch_id {keys.mch_id})",
        ]

    def stop(self, timeout: float = 10.0) -> None:
        self.core.notifier.stop(timeout)
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None
        self._address = None

    def __enter__(self) -> WechatPaySimulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as error:
            if not self._ready.is_set():
                self._error = error
                self._ready.set()
            else:
                raise

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        options: dict[str, Any] = {
            "access_log": None,
            "max_line_size": MAX_HEADER_LINE,
            "max_field_size": MAX_HEADER_LINE,
            "max_headers": MAX_HEADERS,
            "auto_decompress": False,
            "keepalive_timeout": IDLE_TIMEOUT,
        }
        runner = web.AppRunner(
            self.application(), handle_signals=False, shutdown_timeout=1.0, **options
        )
        await runner.setup()
        server: asyncio.Server | None = None
        try:
            manager = runner.server
            assert manager is not None
            loop = self._loop
            server = await loop.create_server(
                lambda: _Counted(manager, self._connections, loop=loop, **options),
                self._host,
                self._port,
            )
            self._address = server.sockets[0].getsockname()[:2]
            self._ready.set()
            await self._stopping.wait()
        finally:
            if server is not None:
                server.close()
            await runner.cleanup()


class _Connections:
    """How many connections are open (touched on the server's loop only)."""

    def __init__(self, maximum: int, request_timeout: float) -> None:
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
        if self._deadline is None and self._transport is not None:
            self._deadline = asyncio.get_running_loop().call_later(
                self._connections.request_timeout, self._too_slow
            )
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
