"""The QR API over HTTP: an aiohttp application in its own thread and loop.

Each request is read, parsed, validated, its signature checked and only then
handed to :class:`~simulator.gateway.qr.orders.QrService` -- so a malformed,
unsigned or wrongly signed request never touches the ledger. Bad input is
HTTP 400/401/404 with a JSON body, never 5xx (an unexpected failure is
answered 500 ``INTERNAL`` and published as an ``error`` event: a bug).

Every request and its answer is one ``http`` event (source ``gateway``) with
payment codes masked to their last four digits.

Virtual clock: the business part of a handler runs synchronously inside
``clock.actor()`` (no ``await`` in it), and the caller of a blocking HTTP
request is itself busy while it waits, so virtual time does not move while a
request is being handled.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

import firmware_fixtures
from drivers.clock import Clock
from simulator.errors import GatewayError, SimulatorError
from simulator.events import EventBus
from simulator.gateway.backoffice.desk import StatementDesk
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.faults import HttpFaults
from simulator.gateway.qr.channels import Merchant
from simulator.gateway.qr.notify import Notifier
from simulator.gateway.qr.orders import QrOrder, QrService, Reply, mask_code, merchant_of
from simulator.gateway.qr.signing import SIGNATURE_HEADER, shown_url, verify
from simulator.gateway.service_thread import ServiceThread
from simulator.wire import emvco

SOURCE = "gateway"
OPENAPI = "qr_api.openapi.yaml"
MAX_BODY = 16 * 1024
MAX_AMOUNT_FEN = 10_000_000_000  # 100 million yuan
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_MASKED_FIELDS = ("auth_code",)


class _Invalid(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = Reply(status, {"error_code": code, "message": message})


def _bad(message: str) -> _Invalid:
    return _Invalid(400, "INVALID_REQUEST", message)


def _unsigned() -> _Invalid:
    return _Invalid(
        401, "SIGNATURE_INVALID", "missing or wrong X-Possim-Signature for this merchant"
    )


def _ident(body: Mapping[str, Any], field: str, *, optional: bool = False) -> Any:
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _ID.match(value):
        raise _bad(f"field {field!r} must be 1-32 characters of A-Z a-z 0-9 _ -")
    return value


def _amount(body: Mapping[str, Any], field: str) -> int:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT_FEN:
        raise _bad(f"field {field!r} must be an integer number of fen, 1-{MAX_AMOUNT_FEN}")
    return value


def _text(body: Mapping[str, Any], field: str, limit: int, *, optional: bool = False) -> Any:
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit or (not optional and not value):
        raise _bad(f"field {field!r} must be a string of at most {limit} characters")
    return value


def _url(body: Mapping[str, Any], field: str, *, optional: bool = False) -> Any:
    value = _text(body, field, 512, optional=optional)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(f"field {field!r} must be an http(s) URL")
    return value


def redact(body: Any) -> Any:
    if not isinstance(body, Mapping):
        return body
    shown = dict(body)
    for name in _MASKED_FIELDS:
        if isinstance(shown.get(name), str):
            shown[name] = mask_code(shown[name])
    if isinstance(shown.get("notify_url"), str):
        shown["notify_url"] = shown_url(shown["notify_url"])
    return shown


def openapi_path() -> Path:
    path = Path(firmware_fixtures.__file__).parent / "gateway" / OPENAPI
    if not path.is_file():
        raise GatewayError(f"the QR API description {OPENAPI} is missing from firmware_fixtures")
    return path


class QrApi:
    """The aiohttp application over a :class:`QrService` and a :class:`Notifier`."""

    def __init__(
        self,
        service: QrService,
        notifier: Notifier,
        clock: Clock,
        bus: EventBus,
        *,
        simulation: bool = True,
    ) -> None:
        self.service = service
        self.notifier = notifier
        self._clock = clock
        self._bus = bus
        self.simulation = simulation
        self.faults = HttpFaults(clock, bus)  # armed by scenarios (qr_gateway_fault)
        self.statements = StatementDesk(service.ledger)  # statement faults armed by scenarios

    def application(self) -> web.Application:
        app = web.Application(
            client_max_size=MAX_BODY, middlewares=[self.faults.middleware, self._json_errors]
        )
        post = self._post
        app.router.add_post("/v1/micropay", post(self._micropay))
        app.router.add_post("/v1/precreate", post(self._precreate))
        app.router.add_post("/v1/close", post(self._close))
        app.router.add_get("/v1/orders/{out_trade_no}", self._handle(self._query))
        app.router.add_get("/v1/statements/{channel}/{bill_date}", self._handle(self._statement))
        app.router.add_post("/v1/orders/{out_trade_no}/reverse", post(self._reverse))
        app.router.add_post("/v1/orders/{out_trade_no}/refund", post(self._refund))
        app.router.add_post("/v1/sim/customer/confirm", post(self._confirm, sim=True))
        app.router.add_post("/v1/sim/customer/cancel", post(self._cancel, sim=True))
        app.router.add_post("/v1/sim/customer/pay_qr", post(self._pay_qr, sim=True))
        app.router.add_post("/v1/sim/notify/replay", post(self._replay, sim=True))
        app.router.add_get("/openapi.yaml", self._openapi)
        return app

    # -- plumbing ------------------------------------------------------------------

    @web.middleware
    async def _json_errors(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        """aiohttp's own refusals (no such path, wrong method, too big) as JSON too."""
        try:
            response: web.StreamResponse = await handler(request)
            return response
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(exc.status, "INVALID_REQUEST")
            reply = Reply(exc.status, {"error_code": code, "message": exc.reason})
            return self._answer(request, None, reply)
        except Exception as exc:  # a bug: answer JSON, report it, keep serving
            self._bus.publish(
                SOURCE, "error", f"QR API {request.path}: {type(exc).__name__}: {exc}"
            )
            reply = Reply(500, {"error_code": "INTERNAL", "message": type(exc).__name__})
            return self._answer(request, None, reply)

    def _post(
        self,
        handler: Callable[[web.Request, bytes, Mapping[str, Any]], Reply],
        *,
        sim: bool = False,
    ) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.Response:
            if sim and not self.simulation:
                return self._answer(
                    request,
                    None,
                    Reply(404, {"error_code": "NOT_FOUND", "message": "simulation only"}),
                )
            try:
                raw = await request.read()
            except web.HTTPRequestEntityTooLarge:
                return self._answer(request, None, _bad("body too large").reply)
            try:
                body = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                return self._answer(request, None, _bad("the body is not JSON").reply)
            if not isinstance(body, dict):
                return self._answer(request, None, _bad("the body must be a JSON object").reply)
            return self._run(request, body, lambda: handler(request, raw, body))

        return run

    def _handle(self, handler: Callable[[web.Request], Reply]) -> Callable[[web.Request], Any]:
        async def run(request: web.Request) -> web.Response:
            return self._run(request, None, lambda: handler(request))

        return run

    def _run(self, request: web.Request, body: Any, work: Callable[[], Reply]) -> web.Response:
        with self._clock.actor():
            try:
                reply = work()
            except _Invalid as exc:
                reply = exc.reply
            except SimulatorError as exc:
                reply = Reply(500, {"error_code": "INTERNAL", "message": str(exc)})
                self._bus.publish(SOURCE, "error", f"QR API {request.path}: {exc}")
            if reply.paid is not None:
                self._notify(reply.paid)
            return self._answer(request, body, reply)

    def _answer(self, request: web.Request, body: Any, reply: Reply) -> web.Response:
        outcome = (
            reply.body.get("result")
            or reply.body.get("trade_state")
            or reply.body.get("error_code")
        )
        if reply.body.get("result") == "FAIL":
            outcome = f"FAIL {reply.body.get('error_code')}"
        self._bus.publish(
            SOURCE,
            "http",
            f"{request.method} {request.path} -> {reply.status} {outcome or ''}".rstrip(),
            method=request.method,
            path=request.path,
            status=reply.status,
            request=redact(body),
            response=redact(reply.body),
        )
        return web.json_response(reply.body, status=reply.status)

    def _merchant(self, merchant_id: Any) -> Merchant:
        if not isinstance(merchant_id, str):
            raise _bad("field 'merchant_id' must be a string")
        merchant = self.service.merchants.get(merchant_id)
        if merchant is None:
            raise _unsigned()  # an unknown merchant has no key to sign with
        return merchant

    def _signed(self, request: web.Request, raw: bytes, merchant_id: Any) -> Merchant:
        merchant = self._merchant(merchant_id)
        if not verify(merchant.api_key, raw, request.headers.get(SIGNATURE_HEADER)):
            raise _unsigned()
        return merchant

    def _notify(self, order: QrOrder, *, replay: bool = False) -> None:
        if not order.notify_url:
            return
        merchant = self.service.merchants.get(order.merchant_id)
        if merchant is None:  # pragma: no cover - orders are only made for known merchants
            return
        channels = self.service.channels
        channel = channels[order.channel]
        self.notifier.send(
            order_id=order.id,
            out_trade_no=order.out_trade_no,
            url=order.notify_url,
            body=order.notify_body(),
            key=merchant.api_key,
            schedule=() if replay else channel.notify_retry_seconds,
            delay=channels.notify_delay_seconds,
        )

    def _path_trade_no(self, request: web.Request) -> str:
        value = request.match_info.get("out_trade_no", "")
        if not _ID.match(value):
            raise _bad("out_trade_no in the path must be 1-32 characters of A-Z a-z 0-9 _ -")
        return value

    # -- the calls -------------------------------------------------------------------

    def _micropay(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        auth_code = body.get("auth_code")
        if not isinstance(auth_code, str) or len(auth_code) > 64:
            raise _bad("field 'auth_code' must be a string of at most 64 characters")
        return self.service.micropay(
            merchant_id=merchant.merchant_id,
            terminal_id=_ident(body, "terminal_id"),
            out_trade_no=_ident(body, "out_trade_no"),
            amount_fen=_amount(body, "amount_fen"),
            auth_code=auth_code,
            description=_text(body, "description", 128, optional=True) or "",
            notify_url=_url(body, "notify_url", optional=True),
        )

    def _query(self, request: web.Request) -> Reply:
        raw_query = request.rel_url.raw_query_string.encode("utf-8")
        merchant_ids = request.query.getall("merchant_id", [])
        if len(merchant_ids) != 1:
            raise _bad("query parameter 'merchant_id' is required once")
        merchant = self._signed(request, raw_query, merchant_ids[0])
        return self.service.query(merchant.merchant_id, self._path_trade_no(request))

    def _statement(self, request: web.Request) -> Reply:
        """A channel's daily statement (docs/backoffice.md), signed like an order query."""
        raw_query = request.rel_url.raw_query_string.encode("utf-8")
        merchant_ids = request.query.getall("merchant_id", [])
        if len(merchant_ids) != 1:
            raise _bad("query parameter 'merchant_id' is required once")
        merchant = self._signed(request, raw_query, merchant_ids[0])
        info = request.match_info
        try:
            body = self.statements.download(
                merchant.merchant_id, info.get("channel", ""), info.get("bill_date", "")
            )
        except BackofficeError as exc:
            raise _bad(str(exc)) from None
        return Reply(200, body)

    def _reverse(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        _ident(body, "terminal_id", optional=True)
        return self.service.reverse(merchant.merchant_id, self._path_trade_no(request))

    def _close(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        _ident(body, "terminal_id", optional=True)
        return self.service.close(merchant.merchant_id, _ident(body, "out_trade_no"))

    def _refund(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        return self.service.refund(
            merchant.merchant_id,
            self._path_trade_no(request),
            _ident(body, "out_refund_no"),
            _amount(body, "refund_fen"),
        )

    def _precreate(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        name = body.get("channel")
        channel = self.service.channels.channels.get(name) if isinstance(name, str) else None
        if channel is None:
            known = ", ".join(self.service.channels.channels)
            raise _bad(f"field 'channel' must be one of {known}")
        issuance = body.get("issuance")
        modes = sorted(mode for mode in channel.emvco if mode != "default")
        if issuance is not None and (not isinstance(issuance, str) or issuance not in modes):
            raise _bad(f"field 'issuance' must be one of {modes} for {channel.name}" if modes
                       else f"field 'issuance' is not used by {channel.name}")  # fmt: skip
        if issuance is None and modes:
            issuance = "central" if "central" in modes else modes[0]
        return self.service.precreate(
            merchant=merchant,
            terminal_id=_ident(body, "terminal_id"),
            out_trade_no=_ident(body, "out_trade_no"),
            amount_fen=_amount(body, "amount_fen"),
            channel=channel,
            notify_url=_url(body, "notify_url"),
            issuance=issuance,
        )

    # -- the simulated customers -------------------------------------------------------

    def _sim_order(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> QrOrder:
        """The order a sim call names, signed by its merchant (merchant_id optional)."""
        out_trade_no = _ident(body, "out_trade_no")
        merchant_id = body.get("merchant_id")
        if merchant_id is not None:
            merchant = self._signed(request, raw, merchant_id)
            order = self.service.find(merchant.merchant_id, out_trade_no)
            if order is None:
                raise _Invalid(404, "ORDER_NOT_EXIST", "no such order")
            return order
        candidates = self.service.find_any(out_trade_no)
        if not candidates:
            raise _Invalid(404, "ORDER_NOT_EXIST", "no such order")
        signature = request.headers.get(SIGNATURE_HEADER)
        for order in candidates:
            owner = self.service.merchants.get(order.merchant_id)
            if owner is not None and verify(owner.api_key, raw, signature):
                return order
        raise _unsigned()

    def _confirm(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        return self.service.customer_confirm(self._sim_order(request, raw, body))

    def _cancel(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        return self.service.customer_cancel(self._sim_order(request, raw, body))

    def _replay(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        order = self._sim_order(request, raw, body)
        reply = self.service.notify_replay(order)
        if reply.body.get("result") == "SUCCESS":
            current = self.service.find(order.merchant_id, order.out_trade_no)
            if current is not None:
                self._notify(current, replay=True)
        return reply

    def _pay_qr(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        payload = _text(body, "qr_payload", 512)
        wallet = body.get("wallet")
        if not isinstance(wallet, str) or wallet not in self.service.channels.channels:
            known = ", ".join(self.service.channels.channels)
            raise _bad(f"field 'wallet' must be one of {known}")
        try:
            qr = emvco.parse(payload)
        except emvco.EmvcoError as exc:
            raise _bad(f"field 'qr_payload': {exc}") from None
        merchant_id = merchant_of(qr)
        bill = qr.bill_number
        if merchant_id is None or bill is None:
            raise _bad("field 'qr_payload' names no merchant or no bill number (62/01)")
        merchant = self._signed(request, raw, merchant_id)
        order = self.service.find(merchant.merchant_id, bill)
        if order is None:
            raise _Invalid(404, "ORDER_NOT_EXIST", "no such order")
        return self.service.customer_pay_qr(order, qr, wallet)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.Response(
            body=openapi_path().read_bytes(), content_type="application/yaml", charset="utf-8"
        )


class QrHttpServer(ServiceThread):
    """Runs a :class:`QrApi` on loopback in a daemon thread with its own loop."""

    what = "the QR API server"
    thread_name = "possim-qr-http"

    def __init__(
        self, api: QrApi, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False
    ) -> None:
        super().__init__(host, port, allow_remote=allow_remote)
        self.api = api  # scenarios arm its faults
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        host, port = self.address
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"

    async def _listen(self) -> tuple[str, int]:
        runner = web.AppRunner(
            self.api.application(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        self._runner = runner  # cleaned up by _shutdown from here on
        await web.TCPSite(runner, self._host, self._port).start()
        sockname = runner.addresses[0]
        return str(sockname[0]), int(sockname[1])

    async def _shutdown(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
