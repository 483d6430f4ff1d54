"""The simulated channels on HTTP: aiohttp on its own loop in a daemon thread, on loopback.

:class:`ChannelHttpServer` serves any aiohttp application (the Alipay and the
UnionPay simulators both use it); :func:`alipay_app` is Alipay's:

* ``POST|GET /gateway.do`` -- the OpenAPI gateway; parameters in the query string
  and/or a form body, decoded with the request's ``charset`` (Alipay: "请确认
  charset参数放在了URL查询字符串中");
* ``GET /possim/alipay/bill?...`` -- a bill the download-URL query handed out;
* ``POST /possim/alipay/scan`` (JSON ``{"qr_code", "buyer"?, "pay"?}``) -- the
  buyer's phone scanning a precreated code;
* ``POST /possim/alipay/faults`` (JSON, :class:`AlipayFault`) -- arm a fault;
* ``GET /possim/alipay/public-key`` -- the simulator's public key (PEM).

Limits (docs/reliability.md): bodies of at most ``MAX_BODY`` bytes, arriving
within ``BODY_TIMEOUT`` s, at most ``MAX_FIELDS`` parameters; connections idle
``IDLE_TIMEOUT`` s are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from drivers.clock import Clock
from simulator.channels.alipay.bills import bill_zip
from simulator.channels.alipay.channel import AlipayChannel
from simulator.channels.alipay.errors import ChannelError
from simulator.channels.alipay.faults import AlipayFault, FaultError

MAX_BODY = 64 * 1024
MAX_FIELDS = 64
IDLE_TIMEOUT = 60.0
BODY_TIMEOUT = 10.0  # real seconds for a request's body to arrive


async def read_body(request: web.Request) -> bytes | None:
    """The body, or None when it does not arrive within BODY_TIMEOUT (a slow client)."""
    if not request.can_read_body:
        return b""
    try:
        return await asyncio.wait_for(request.read(), BODY_TIMEOUT)
    except asyncio.TimeoutError:
        return None


GATEWAY_PATH = "/gateway.do"


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ChannelHttpServer:
    """Runs an aiohttp application on loopback in a daemon thread; ``start()`` returns
    once bound."""

    def __init__(
        self,
        make_app: Callable[[], web.Application],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        name: str = "possim-channel",
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not _is_loopback(host):
            raise ChannelError(f"the channel simulator listens on loopback only; {host!r} is not")
        self._make_app = make_app
        self._host = host
        self._port = port
        self._name = name
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.address: tuple[str, int] = (host, 0)

    @property
    def base_url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    def start(self) -> tuple[str, int]:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise ChannelError(f"cannot listen on {self._host}:{self._port}: {self._error}")
        return self.address

    def stop(self, timeout: float = 10.0) -> None:
        thread, loop, stopping = self._thread, self._loop, self._stopping
        if thread is None:
            return
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> ChannelHttpServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        runner = web.AppRunner(
            self._make_app(),
            handle_signals=False,
            access_log=None,
            keepalive_timeout=IDLE_TIMEOUT,
            shutdown_timeout=1.0,
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            bound = runner.addresses[0]
            self.address = (str(bound[0]), int(bound[1]))
            self._ready.set()
            await self._stopping.wait()
        finally:
            await runner.cleanup()


def parse_params(query: bytes, body: bytes) -> dict[str, str]:
    """The request's parameters, query string first, each decoded with its ``charset``."""
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


def alipay_app(channel: AlipayChannel) -> web.Application:
    """The aiohttp application of the simulated Alipay."""
    clock: Clock = channel.clock

    def blocking_gateway(params: dict[str, str]) -> bytes:
        with clock.actor():
            body, delay = channel.handle(params)
            if delay > 0:
                clock.sleep(delay)
            return body

    async def gateway(request: web.Request) -> web.Response:
        query = request.rel_url.raw_query_string.encode("latin-1", "replace")
        body = await read_body(request)
        if body is None:
            raise web.HTTPRequestTimeout(text="the request body did not arrive within 10 s\n")
        try:
            params = parse_params(query, body)
        except ValueError:  # too many fields
            params = {"method": request.query.get("method", "")}
            params["app_id"] = ""
        loop = asyncio.get_running_loop()
        answer = await loop.run_in_executor(None, blocking_gateway, params)
        return web.Response(body=answer, content_type="application/json", charset="utf-8")

    async def bill(request: web.Request) -> web.Response:
        query = dict(request.query)
        with channel.lock:
            if not channel.bill_request_valid(query):
                return web.Response(status=404, text="bill link unknown or expired (30 s)\n")
            name, data = bill_zip(channel, query["app_id"], query["bill_type"], query["bill_date"])
        return web.Response(
            body=data,
            content_type="application/zip",
            headers={"Content-Disposition": f"attachment; filename={name}"},
        )

    async def scan(request: web.Request) -> web.Response:
        try:
            data = await request.json()
            qr_code = str(data["qr_code"])
            trade = channel.buyer_scans(
                qr_code, buyer=str(data.get("buyer", "buyer")), pay=bool(data.get("pay", True))
            )
        except (ValueError, KeyError, TypeError, ChannelError) as exc:
            return web.json_response({"error": str(exc) or type(exc).__name__}, status=400)
        return web.json_response({"out_trade_no": trade.out_trade_no, "status": trade.status.value})

    async def faults(request: web.Request) -> web.Response:
        try:
            data: Any = await request.json()
            if not isinstance(data, dict):
                raise FaultError("a fault is a JSON object")
            channel.faults.arm(AlipayFault.from_data(data))
        except (ValueError, FaultError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        return web.json_response({"armed": len(channel.faults.armed())})

    async def public_key(request: web.Request) -> web.Response:
        text = channel.signing_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return web.Response(text=text.decode("ascii"), content_type="text/plain")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_route("POST", GATEWAY_PATH, gateway)
    app.router.add_route("GET", GATEWAY_PATH, gateway)
    app.router.add_get("/possim/alipay/bill", bill)
    app.router.add_post("/possim/alipay/scan", scan)
    app.router.add_post("/possim/alipay/faults", faults)
    app.router.add_get("/possim/alipay/public-key", public_key)
    return app


class AlipayServer(ChannelHttpServer):
    """The simulated Alipay on loopback; ``base_url + "/gateway.do"`` is the SDK's gateway."""

    def __init__(self, channel: AlipayChannel, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(lambda: alipay_app(channel), host, port, name="possim-alipay")
        self.channel = channel

    @property
    def gateway_url(self) -> str:
        return self.base_url + GATEWAY_PATH

    def start(self) -> tuple[str, int]:
        address = super().start()
        self.channel.base_url = self.base_url
        self.channel.start()
        return address

    def stop(self, timeout: float = 10.0) -> None:
        self.channel.stop()
        super().stop(timeout)


__all__ = ["AlipayServer", "ChannelHttpServer", "alipay_app", "parse_params"]
