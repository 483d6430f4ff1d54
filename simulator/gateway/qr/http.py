"""The QR API over HTTP: the aiohttp application.

Each request is read, parsed, validated, its signature checked and only then
handed to :class:`~simulator.gateway.qr.orders.QrService` -- so a malformed,
unsigned or wrongly signed request never touches the ledger. Bad input is
HTTP 400/401/404 with a JSON body, never 5xx (an unexpected failure is
answered 500 ``INTERNAL`` and published as an ``error`` event: a bug). What a
body may hold is in :mod:`simulator.gateway.qr.validation`; the server and
its limits in :mod:`simulator.gateway.qr.http_server`.

Every request and its answer is one ``http`` event (source ``gateway``) with
payment codes masked to their last four digits.

Virtual clock: the business part of a handler runs synchronously inside
``clock.actor()`` (no ``await`` in it), and the caller of a blocking HTTP
request is itself busy while it waits, so virtual time does not move while a
request is being handled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Middleware

import firmware_fixtures
from drivers.clock import Clock
from drivers.wire.masking import mask_code
from simulator.errors import GatewayError, SimulatorError
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.gateway.backoffice.desk import StatementDesk
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.faults import HttpFaults
from simulator.gateway.problems import SOURCE, GatewayProblem, LimitReached
from simulator.gateway.qr.channels import Merchant
from simulator.gateway.qr.notify import Notifier
from simulator.gateway.qr.orders import QrOrder, QrService, Reply, merchant_of
from simulator.gateway.qr.signing import SIGNATURE_HEADER, shown_url, verify
from simulator.gateway.qr.validation import (
    MAX_BODY,
    Invalid,
    amount,
    bad,
    ident,
    is_ident,
    parse_body,
    text,
    unsigned,
    url,
)
from simulator.wire import emvco

OPENAPI = "qr_api.openapi.yaml"
_MASKED_FIELDS = ("auth_code",)


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
    path = firmware_fixtures.ROOT / "gateway" / OPENAPI
    if not path.is_file():
        raise GatewayError(f"the QR API description {OPENAPI} is missing from firmware_fixtures")
    return path


@attrs.frozen
class QrApiCall(EventPayload):
    """One request to the QR API and its answer, as the gateway served it (redacted)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "http"

    method: str
    path: str
    status: int
    request: Any  # the JSON body (None: a GET)
    response: Any
    # The answer's result, state or error code.
    outcome: str | None = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"{self.method} {self.path} -> {self.status} {self.outcome or ''}".rstrip()


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

    def application(self, *, outer: Middleware | None = None) -> web.Application:
        """The aiohttp application; ``outer`` (the server's) runs around everything."""
        middlewares = [self.faults.middleware, self._json_errors]
        app = web.Application(
            client_max_size=MAX_BODY,
            middlewares=middlewares if outer is None else [outer, *middlewares],
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

    def report_limit(self, line: str) -> None:
        """One line about a limit reached (docs/reliability.md)."""
        self._bus.publish(LimitReached(line))

    def report_error(self, line: str) -> None:
        """One line about something that went wrong in the server (a bug)."""
        self._bus.publish(GatewayProblem(line))

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
            reply = Reply(exc.status, error_body(exc.status, exc.reason))
            return self._answer(request, None, reply)
        except Exception as exc:  # a bug: answer JSON, report it, keep serving
            self._bus.publish(GatewayProblem(f"QR API {request.path}: {type(exc).__name__}: {exc}"))
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
                return self._answer(
                    request, None, bad(f"the body is larger than {MAX_BODY} bytes").reply
                )
            except (web.RequestPayloadError, HttpProcessingError) as exc:
                # A chunked body that does not parse, say: the client's mistake.
                problem = first_line(exc)
                return self._answer(request, None, bad(f"the body cannot be read: {problem}").reply)
            try:
                body = parse_body(raw)
            except Invalid as exc:
                return self._answer(request, None, exc.reply)
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
            except Invalid as exc:
                reply = exc.reply
            except SimulatorError as exc:
                reply = Reply(500, {"error_code": "INTERNAL", "message": str(exc)})
                self._bus.publish(GatewayProblem(f"QR API {request.path}: {exc}"))
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
            QrApiCall(
                request.method,
                request.path,
                reply.status,
                redact(body),
                redact(reply.body),
                str(outcome) if outcome else None,
            )
        )
        return web.json_response(reply.body, status=reply.status)

    def _merchant(self, merchant_id: Any) -> Merchant:
        if not isinstance(merchant_id, str):
            raise bad("field 'merchant_id' must be a string")
        merchant = self.service.merchants.get(merchant_id)
        if merchant is None:
            raise unsigned()  # an unknown merchant has no key to sign with
        return merchant

    def _signed(self, request: web.Request, raw: bytes, merchant_id: Any) -> Merchant:
        merchant = self._merchant(merchant_id)
        if not verify(merchant.api_key, raw, request.headers.get(SIGNATURE_HEADER)):
            raise unsigned()
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
        if not is_ident(value):
            raise bad("out_trade_no in the path must be 1-32 characters of A-Z a-z 0-9 _ -")
        return value

    # -- the calls -------------------------------------------------------------------

    def _micropay(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        auth_code = body.get("auth_code")
        if not isinstance(auth_code, str) or len(auth_code) > 64:
            raise bad("field 'auth_code' must be a string of at most 64 characters")
        return self.service.micropay(
            merchant_id=merchant.merchant_id,
            terminal_id=ident(body, "terminal_id"),
            out_trade_no=ident(body, "out_trade_no"),
            amount_fen=amount(body, "amount_fen"),
            auth_code=auth_code,
            description=text(body, "description", 128, optional=True) or "",
            notify_url=url(body, "notify_url", optional=True),
        )

    def _query(self, request: web.Request) -> Reply:
        raw_query = request.rel_url.raw_query_string.encode("utf-8")
        merchant_ids = request.query.getall("merchant_id", [])
        if len(merchant_ids) != 1:
            raise bad("query parameter 'merchant_id' is required once")
        merchant = self._signed(request, raw_query, merchant_ids[0])
        return self.service.query(merchant.merchant_id, self._path_trade_no(request))

    def _statement(self, request: web.Request) -> Reply:
        """A channel's daily statement (docs/backoffice.md), signed like an order query."""
        raw_query = request.rel_url.raw_query_string.encode("utf-8")
        merchant_ids = request.query.getall("merchant_id", [])
        if len(merchant_ids) != 1:
            raise bad("query parameter 'merchant_id' is required once")
        merchant = self._signed(request, raw_query, merchant_ids[0])
        info = request.match_info
        try:
            body = self.statements.download(
                merchant.merchant_id, info.get("channel", ""), info.get("bill_date", "")
            )
        except BackofficeError as exc:
            raise bad(str(exc)) from None
        return Reply(200, body)

    def _reverse(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        ident(body, "terminal_id", optional=True)
        return self.service.reverse(merchant.merchant_id, self._path_trade_no(request))

    def _close(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        ident(body, "terminal_id", optional=True)
        return self.service.close(merchant.merchant_id, ident(body, "out_trade_no"))

    def _refund(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        return self.service.refund(
            merchant.merchant_id,
            self._path_trade_no(request),
            ident(body, "out_refund_no"),
            amount(body, "refund_fen"),
        )

    def _precreate(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> Reply:
        merchant = self._signed(request, raw, body.get("merchant_id"))
        name = body.get("channel")
        channel = self.service.channels.channels.get(name) if isinstance(name, str) else None
        if channel is None:
            known = ", ".join(self.service.channels.channels)
            raise bad(f"field 'channel' must be one of {known}")
        issuance = body.get("issuance")
        modes = sorted(mode for mode in channel.emvco if mode != "default")
        if issuance is not None and (not isinstance(issuance, str) or issuance not in modes):
            raise bad(f"field 'issuance' must be one of {modes} for {channel.name}" if modes
                       else f"field 'issuance' is not used by {channel.name}")  # fmt: skip
        if issuance is None and modes:
            issuance = "central" if "central" in modes else modes[0]
        return self.service.precreate(
            merchant=merchant,
            terminal_id=ident(body, "terminal_id"),
            out_trade_no=ident(body, "out_trade_no"),
            amount_fen=amount(body, "amount_fen"),
            channel=channel,
            notify_url=url(body, "notify_url"),
            issuance=issuance,
        )

    # -- the simulated customers -------------------------------------------------------

    def _sim_order(self, request: web.Request, raw: bytes, body: Mapping[str, Any]) -> QrOrder:
        """The order a sim call names, signed by its merchant (merchant_id optional)."""
        out_trade_no = ident(body, "out_trade_no")
        merchant_id = body.get("merchant_id")
        if merchant_id is not None:
            merchant = self._signed(request, raw, merchant_id)
            order = self.service.find(merchant.merchant_id, out_trade_no)
            if order is None:
                raise Invalid(404, "ORDER_NOT_EXIST", "no such order")
            return order
        candidates = self.service.find_any(out_trade_no)
        if not candidates:
            raise Invalid(404, "ORDER_NOT_EXIST", "no such order")
        signature = request.headers.get(SIGNATURE_HEADER)
        for order in candidates:
            owner = self.service.merchants.get(order.merchant_id)
            if owner is not None and verify(owner.api_key, raw, signature):
                return order
        raise unsigned()

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
        payload = text(body, "qr_payload", 512)
        wallet = body.get("wallet")
        if not isinstance(wallet, str) or wallet not in self.service.channels.channels:
            known = ", ".join(self.service.channels.channels)
            raise bad(f"field 'wallet' must be one of {known}")
        try:
            qr = emvco.parse(payload)
        except emvco.EmvcoError as exc:
            raise bad(f"field 'qr_payload': {exc}") from None
        merchant_id = merchant_of(qr)
        bill = qr.bill_number
        if merchant_id is None or bill is None:
            raise bad("field 'qr_payload' names no merchant or no bill number (62/01)")
        merchant = self._signed(request, raw, merchant_id)
        order = self.service.find(merchant.merchant_id, bill)
        if order is None:
            raise Invalid(404, "ORDER_NOT_EXIST", "no such order")
        return self.service.customer_pay_qr(order, qr, wallet)

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.Response(
            body=openapi_path().read_bytes(), content_type="application/yaml", charset="utf-8"
        )


def first_line(exc: BaseException) -> str:
    """aiohttp's messages quote the offending bytes on further lines."""
    message = exc.message if isinstance(exc, HttpProcessingError) else str(exc)
    return (str(message).strip().splitlines() or [type(exc).__name__])[0]


def error_body(status: int, message: str) -> dict[str, str]:
    """The API's error shape for a refusal that no handler made (docs/qr_api.md)."""
    code = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}.get(status, "INVALID_REQUEST")
    return {"error_code": code, "message": message}


def error_reply(status: int, message: str) -> web.Response:
    return web.json_response(error_body(status, message), status=status)
