"""The simulated Alipay on HTTP: :func:`alipay_app` on the channels'
:class:`~simulator.channels.http.ChannelHttpServer` (loopback):

* ``POST|GET /gateway.do`` -- the OpenAPI gateway; parameters in the query string
  and/or a form body, decoded with the request's ``charset`` (Alipay: "请确认
  charset参数放在了URL查询字符串中");
* ``GET /possim/alipay/bill?...`` -- a bill the download-URL query handed out;
* ``POST /possim/alipay/scan`` (JSON ``{"qr_code", "buyer"?, "pay"?}``) -- the
  buyer's phone scanning a precreated code;
* ``POST /possim/alipay/faults`` (JSON, :class:`AlipayFault`) -- arm a fault;
* ``GET /possim/alipay/public-key`` -- the simulator's public key (PEM).

Limits (docs/reliability.md): bodies of at most ``MAX_BODY`` bytes, arriving
within ``BODY_TIMEOUT`` s (:func:`~simulator.channels.http.read_body`, else 408), at
most ``MAX_FIELDS`` parameters; connections: the channels' own limits
(:mod:`simulator.channels.http`).
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from drivers.clock import Clock
from simulator.channels.alipay.bills import bill_zip
from simulator.channels.alipay.channel import AlipayChannel
from simulator.channels.alipay.faults import AlipayFault
from simulator.channels.errors import ChannelError
from simulator.channels.http import (
    MAX_BODY,
    ChannelHttpServer,
    arm_faults,
    parse_params,
    read_body,
)

GATEWAY_PATH = "/gateway.do"


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
    app.router.add_post("/possim/alipay/faults", arm_faults(channel.faults, AlipayFault))
    app.router.add_get("/possim/alipay/public-key", public_key)
    return app


class AlipayServer(ChannelHttpServer):
    """The simulated Alipay on loopback; ``base_url + "/gateway.do"`` is the SDK's gateway."""

    def __init__(
        self,
        channel: AlipayChannel,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
    ) -> None:
        super().__init__(
            lambda: alipay_app(channel),
            host,
            port,
            allow_remote=allow_remote,
            what="the Alipay simulator",
            name="possim-alipay",
        )
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


__all__ = ["AlipayServer", "alipay_app"]
