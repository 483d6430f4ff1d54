"""The WeChat Pay simulator's HTTP server: both API versions on one loopback port.

The channels' :class:`~simulator.channels.http.ChannelHttpServer` with WeChat's
limits (docs/reliability.md): a body of at most ``max_body`` bytes (413),
request line and headers at most 8190 bytes each and 64 headers, bodies never
decompressed, an idle kept-alive connection closed after 120 s, at most
``max_connections`` open at once (one more is closed as soon as it is accepted), at
most ``max_trades`` orders kept, notifies bounded by the notifier, and a connection
closed unanswered when its request has not fully arrived ``request_timeout`` s after
its first byte (slow headers, slow body).
Loopback only unless ``allow_remote``.
"""

from __future__ import annotations

from aiohttp import web

from drivers.clock import Clock
from simulator.channels.errors import ChannelServerError
from simulator.channels.http import MAX_BODY, MAX_CONNECTIONS, ChannelHttpServer
from simulator.channels.wechat import control, v2, v3
from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.keys import WechatTestKeys

DEFAULT_MAX_BODY = MAX_BODY
DEFAULT_MAX_CONNECTIONS = MAX_CONNECTIONS
DEFAULT_REQUEST_TIMEOUT = 10.0  # real seconds from a request's first byte to its last
IDLE_TIMEOUT = 120.0  # real seconds a kept-alive connection may wait for its next request

__all__ = ["ChannelServerError", "WechatPaySimulator"]


class WechatPaySimulator(ChannelHttpServer):
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
        super().__init__(
            self.application,
            host,
            port,
            what="the WeChat Pay simulator",
            name="possim-wechat",
            allow_remote=allow_remote,
            max_connections=max_connections,
            request_timeout=request_timeout,
            idle_timeout=IDLE_TIMEOUT,
        )
        self.core = core or WechatCore(clock, keys)
        self._max_body = max_body

    def application(self) -> web.Application:
        app = web.Application(client_max_size=self._max_body)
        app.add_routes([*v2.routes(self.core), *v3.routes(self.core), *control.routes(self.core)])
        return app

    def start(self) -> tuple[str, int]:
        """Serve in a daemon thread; the bound (host, port) once listening."""
        address = super().start()
        self.core.base_url = self.base_url
        self.core.notifier.start()
        return address

    def banner(self) -> list[str]:
        """What ``possim channels serve wechat`` prints once listening."""
        keys = self.core.keys
        return [
            f"WeChat Pay (v2 and v3) on {self.base_url}",
            f"test keys: {keys.folder / 'keys.json'} (mch_id {keys.mch_id})",
        ]

    def stop(self, timeout: float = 10.0) -> None:
        self.core.notifier.stop(timeout)
        super().stop(timeout)
