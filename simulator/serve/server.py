"""The served shop's HTTP server and its life cycle (``possim serve``).

The shop runs on the real clock; the API (:mod:`simulator.serve.api`) is served
by the same aiohttp server the QR API uses
(:class:`~simulator.gateway.qr.http_server.JsonHttpServer`), with its limits
(docs/reliability.md): connections, idle and request timeouts, header sizes, and
a body of at most :data:`~simulator.serve.api.MAX_BODY` bytes. An Intent's answer
takes as long as the payment, so the request timeout covers only the request's
arrival.

Listening anywhere but loopback needs a token (:func:`check_exposure`): the API
acts on the shop -- it pays, it reads the ledger.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

import attrs

from simulator.errors import SimulatorError
from simulator.gateway.qr.http_server import (
    DEFAULT_IDLE_TIMEOUT,
    DEFAULT_REQUEST_TIMEOUT,
    JsonHttpServer,
)
from simulator.gateway.service_thread import is_loopback
from simulator.serve.api import ShopApi
from simulator.serve.ecr import EcrDoor, EcrPty, EcrTcpServer
from simulator.shop import Shop
from simulator.terminal.cashier_cancel import CancelRefused
from simulator.terminal.config import TerminalConfig

DEFAULT_PORT = 8580
DEFAULT_MAX_CONNECTIONS = 64
DEFAULT_KEEP_EVENTS = 10_000
TOKEN_ENV = "POSSIM_SERVE_TOKEN"
# Real seconds a payment still running at shutdown may take to end once cancelled.
STOP_WIND_DOWN = 1.0


class ServeError(SimulatorError):
    """The shop cannot be served as asked."""


def check_exposure(host: str, token: str | None) -> None:
    """Refuse a non-loopback address without a token (anyone there could pay or read)."""
    if not is_loopback(host) and not token:
        raise ServeError(
            f"listening on {host} (not loopback) needs a token: --token TOKEN or {TOKEN_ENV}, "
            "else anyone on the network acts on the shop"
        )


class ShopHttpServer(JsonHttpServer):
    what = "the shop API server"
    thread_name = "possim-serve-http"
    label = "shop API"
    long_answers = True


@attrs.frozen
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str | None = None
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    request_timeout: float = DEFAULT_REQUEST_TIMEOUT
    keep_events: int = DEFAULT_KEEP_EVENTS
    seed: int = 0
    ecr_port: int | None = None  # Newland's PC interface on TCP (0: any free port)
    ecr_pty: bool = False  # ... and on a pty


class ServedShop:
    """A shop on the real clock with its API server; ``with`` it, or start() / stop().

    Args:
        config: the terminal's configuration (its card host must be the built-in one).
        workdir: the shop's journal, ledger and device files.
        options: where to listen, the token, the limits.
        log: where the server's own lines go (limits reached, errors).
    """

    def __init__(
        self,
        config: TerminalConfig,
        workdir: Path,
        options: ServeOptions,
        log: Callable[[str], None],
    ) -> None:
        check_exposure(options.host, options.token)
        self.options = options
        self._log = log
        self.shop = Shop(
            config,
            workdir,
            seed=options.seed,
            real_clock=True,
            keep_events=options.keep_events,
        )
        try:
            self.api = ShopApi(self.shop, token=options.token, log=log)
            self.server = ShopHttpServer(
                self.api,
                options.host,
                options.port,
                allow_remote=True,  # check_exposure has seen the token
                max_connections=options.max_connections,
                idle_timeout=options.idle_timeout,
                request_timeout=options.request_timeout,
            )
        except BaseException:
            self.shop.close(STOP_WIND_DOWN)
            raise
        self._stopping = threading.Event()
        self.ecr_door = EcrDoor(self.shop, self._stopping)
        self.ecr_tcp: EcrTcpServer | None = None
        self.ecr_pty: EcrPty | None = None

    @property
    def url(self) -> str:
        return self.server.base_url

    def start(self) -> str:
        """Start serving; the base URL."""
        options = self.options
        try:
            self.server.start()
            if options.ecr_port is not None:
                # Loopback always: Newland's PC interface carries no token to check.
                self.ecr_tcp = EcrTcpServer(
                    self.ecr_door, "127.0.0.1", options.ecr_port, log=self._log
                )
            if options.ecr_pty:
                self.ecr_pty = EcrPty(self.ecr_door)
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Cancel a payment still waiting for the customer (its Intent is answered), stop
        serving, close the shop."""
        self._stopping.set()
        # Past the point of cancelling (CancelRefused): let it end or be cut off.
        with contextlib.suppress(CancelRefused):
            self.shop.terminal.cancel()
        try:
            for door in (self.ecr_tcp, self.ecr_pty):
                if door is not None:
                    door.stop()
            self.server.stop()
        finally:
            self.shop.close(STOP_WIND_DOWN)

    def __enter__(self) -> ServedShop:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
