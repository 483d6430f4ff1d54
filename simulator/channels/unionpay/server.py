"""The simulated UnionPay on HTTP (loopback):

* ``POST /gateway/api/backTransReq.do`` -- consume (C2B, B2C), refund, void;
* ``POST /gateway/api/queryTrans.do`` -- query;
* ``POST /gateway/api/fileTransRequest.do`` -- the settlement file;
* ``POST /possim/unionpay/scan`` (JSON ``{"qr_code"}``) -- a cardholder pays a B2C code;
* ``POST /possim/unionpay/faults`` (JSON, :class:`UnionPayFault`) -- arm a fault;
* ``GET /possim/unionpay/root-cert`` -- the test root a merchant checks ``signPubKeyCert`` against.

Bodies are form-encoded UTF-8, at most ``MAX_BODY`` bytes and ``MAX_FIELDS`` fields.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from simulator.channels.http import (
    MAX_BODY,
    ChannelHttpServer,
    arm_faults,
    parse_params,
    read_body,
)
from simulator.channels.unionpay.channel import Refusal, UnionPayChannel, UnionPayFault

BACK_TRANS = "/gateway/api/backTransReq.do"
QUERY_TRANS = "/gateway/api/queryTrans.do"
FILE_TRANS = "/gateway/api/fileTransRequest.do"


def unionpay_app(channel: UnionPayChannel) -> web.Application:
    clock = channel.clock

    def blocking(path: str, params: dict[str, str]) -> str:
        with clock.actor():
            text, delay = channel.handle(path, params)
            if delay > 0:
                clock.sleep(delay)
            return text

    async def transaction(request: web.Request) -> web.Response:
        body = await read_body(request)
        if body is None:
            raise web.HTTPRequestTimeout(text="the request body did not arrive within 10 s\n")
        try:
            params = parse_params(b"", body)
        except ValueError:
            params = {}
        text = await asyncio.get_running_loop().run_in_executor(
            None, blocking, request.path, params
        )
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def scan(request: web.Request) -> web.Response:
        try:
            data: Any = await request.json()
            order = channel.cardholder_pays(str(data["qr_code"]))
        except (ValueError, KeyError, TypeError, Refusal) as exc:
            return web.json_response({"error": str(exc) or type(exc).__name__}, status=400)
        return web.json_response({"orderId": order.order_id, "origRespCode": "00"})

    async def root_cert(request: web.Request) -> web.Response:
        return web.Response(text=channel.certificates.root_pem, content_type="text/plain")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post(BACK_TRANS, transaction)
    app.router.add_post(QUERY_TRANS, transaction)
    app.router.add_post(FILE_TRANS, transaction)
    app.router.add_post("/possim/unionpay/scan", scan)
    app.router.add_post("/possim/unionpay/faults", arm_faults(channel.faults, UnionPayFault))
    app.router.add_get("/possim/unionpay/root-cert", root_cert)
    return app


class UnionPayServer(ChannelHttpServer):
    def __init__(
        self,
        channel: UnionPayChannel,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
    ) -> None:
        super().__init__(
            lambda: unionpay_app(channel),
            host,
            port,
            allow_remote=allow_remote,
            what="the UnionPay simulator",
            name="possim-unionpay",
        )
        self.channel = channel

    def start(self) -> tuple[str, int]:
        address = super().start()
        self.channel.start()
        return address

    def stop(self, timeout: float = 10.0) -> None:
        self.channel.stop()
        super().stop(timeout)
