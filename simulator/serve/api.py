"""The served shop's HTTP API: the acquiring app's door, the hands, the view, the events.

Every route calls the shop's own seams -- :class:`~simulator.serve.door.AcquiringDoor`,
:class:`~simulator.hands.Hands`, :class:`~simulator.view.ShopView`, the event bus --
and turns their answers into JSON; nothing here acts on the shop another way. The
routes are described in ``firmware_fixtures/serve/shop_api.openapi.yaml`` (served at
``/openapi.yaml``; docs/cashier_apps.md is the guide).

Errors are one JSON object ``{"error": "<one line>"}`` with a 4xx status: bad JSON
or fields (400), a missing or wrong token (401), an unknown card, route or
addressee (404), an action the shop cannot take now (409: the terminal is busy,
the device is real).
"""

from __future__ import annotations

import asyncio
import datetime
import enum
import hmac
import json
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from aiohttp import WSCloseCode, web

import firmware_fixtures
from simulator.devices import cards
from simulator.devices.printer.render.png import png_bytes
from simulator.errors import FixtureError, SimulatorError
from simulator.events import Event, EventsDropped
from simulator.serve.door import SOURCE, AcquiringDoor, DoorError
from simulator.terminal.cashier_cancel import CancelRefused

if TYPE_CHECKING:
    from simulator.shop import Shop

MAX_BODY = 64 * 1024  # bytes: an Intent's extras or a hand's arguments are far smaller
MAX_PAYMENT = 900.0  # seconds an Intent may wait for its payment to end
WS_QUEUE = 1024  # events a WebSocket client may fall behind before it is closed
WS_MAX_MESSAGE = 4096  # bytes a WebSocket client may send in one message
_POLL = 0.05  # seconds between looks at a running payment (no thread waits for it)

OPENAPI = "shop_api.openapi.yaml"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def openapi_path() -> Path:
    return firmware_fixtures.ROOT / "serve" / OPENAPI


class ApiError(SimulatorError):
    """A request the API answers with ``status`` and this one-line message."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def error_reply(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def plain(value: Any) -> Any:
    """``value`` (attrs records, enums, datetimes, mappings) as JSON-ready data."""
    if attrs.has(type(value)):
        return {f.name: plain(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


class ShopApi:
    """The aiohttp application over one served shop.

    Args:
        shop: the shop (on the real clock).
        token: when set, every request must carry ``Authorization: Bearer <token>``
            (or ``?token=`` on a WebSocket).
        log: where a line for the shop's log goes (refusals, limits, errors).
    """

    def __init__(self, shop: Shop, *, token: str | None, log: Callable[[str], None]) -> None:
        self.shop = shop
        self._token = token
        self._log = log
        self.door = AcquiringDoor(shop)
        self._hands = shop.hands.by(SOURCE)

    def application(self, *, outer: Any = None) -> web.Application:
        # The errors outermost: the server's timing middleware reads the body, and a
        # body over the limit is answered in the API's error shape too.
        inner = [self._authorised] if outer is None else [outer, self._authorised]
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._errors, *inner])
        routes = app.router
        routes.add_get("/openapi.yaml", self._openapi)
        routes.add_get("/v1/shop", self._shop)
        routes.add_post("/v1/intent", self._intent)
        for name in _HANDS:
            routes.add_post(f"/v1/hands/{name}", self._hand(name))
        routes.add_get("/v1/view/state", self._state)
        routes.add_get("/v1/view/receipts", self._receipts)
        routes.add_get(r"/v1/view/receipts/{index:[0-9]{1,9}}.png", self._receipt_png)
        routes.add_get("/v1/view/speech", self._speech)
        routes.add_get("/v1/view/journal", self._journal)
        routes.add_get("/v1/view/ledger", self._ledger)
        routes.add_get("/v1/events", self._events)
        routes.add_get("/v1/events/ws", self._events_ws)
        return app

    def report_limit(self, line: str) -> None:
        self._log(line)

    def report_error(self, line: str) -> None:
        self._log(line)

    # -- middlewares ---------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            return error_reply(413, f"the body is over {MAX_BODY} bytes")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return error_reply(exc.status, exc.reason)
            raise
        except (ApiError, DoorError) as exc:
            return error_reply(exc.status, str(exc))
        except CancelRefused as exc:
            return error_reply(409, str(exc))
        except SimulatorError as exc:  # NotSimulated, HandsError, TerminalError ...
            return error_reply(409, str(exc))

    @web.middleware
    async def _authorised(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._token is not None:
            given = request.headers.get("Authorization", "")
            bearer = given[7:] if given.startswith("Bearer ") else request.query.get("token", "")
            if not hmac.compare_digest(bearer.encode(), self._token.encode()):
                return error_reply(401, "this shop needs its token: Authorization: Bearer TOKEN")
        return await handler(request)

    # -- the shop and its door -------------------------------------------------------

    async def _openapi(self, request: web.Request) -> web.Response:
        return web.Response(
            body=openapi_path().read_bytes(), content_type="application/yaml", charset="utf-8"
        )

    async def _shop(self, request: web.Request) -> web.Response:
        config = self.shop.view.config
        return web.json_response(
            {
                "vendor": self.door.vendor,
                "component": self.door.component,
                "terminal_id": config.terminal_id,
                "merchant_id": config.merchant_id,
                "merchant_name": config.merchant_name,
                "cards": cards.names(),
            }
        )

    async def _intent(self, request: web.Request) -> web.Response:
        intent = self.door.parse(await _json(request))
        pending = self.door.submit(intent)
        if pending.handle is not None:
            handle = pending.handle
            loop = asyncio.get_running_loop()
            end = loop.time() + MAX_PAYMENT
            while not handle.finished and loop.time() < end:
                await asyncio.sleep(_POLL)
        result = pending.wait(0)
        if result is None:
            raise ApiError(f"the payment did not end within {MAX_PAYMENT:g} s", status=504)
        return web.json_response(result.to_json())

    # -- the hands -----------------------------------------------------------------------

    def _hand(self, name: str) -> Handler:
        act = _HANDS[name]

        async def run(request: web.Request) -> web.Response:
            body = await _json(request) if request.body_exists else {}
            if not isinstance(body, Mapping):
                raise ApiError("the body must be a JSON object")
            try:
                answer = await asyncio.to_thread(act, self, body)
            except ValueError as exc:  # the hands' own refusal of an argument (a key, a PIN)
                raise ApiError(f"{name}: {exc}") from None
            return web.json_response({"done": name, "result": plain(answer)})

        return run

    # -- the view ----------------------------------------------------------------------

    async def _state(self, request: web.Request) -> web.Response:
        view = self.shop.view
        screen = view.screen()
        return web.json_response(
            {
                "screen": {"id": screen.id.value, "title": screen.title, "lines": screen.lines},
                "busy": view.busy,
                "awaiting_pin": view.awaiting_pin,
                "awaiting_key": view.awaiting_key,
                "card_inserted": view.card_inserted,
                "printer": view.printer_faults(),
                "events": len(self.shop.bus),
            }
        )

    async def _receipts(self, request: web.Request) -> web.Response:
        receipts = self.shop.view.receipts()
        return web.json_response(
            [{"index": n, "kind": r.kind, "text": r.text} for n, r in enumerate(receipts, 1)]
        )

    async def _receipt_png(self, request: web.Request) -> web.Response:
        view = self.shop.view
        printer, cut = view.virtual_printer, view.cut_receipts()
        index = int(request.match_info["index"])
        if printer is None:
            raise ApiError("the printer is not simulated: no receipt images", status=409)
        if not 1 <= index <= len(cut):
            raise ApiError(f"no receipt {index}: {len(cut)} cut so far", status=404)
        image = await asyncio.to_thread(png_bytes, cut[index - 1], printer.profile)
        return web.Response(body=image, content_type="image/png")

    async def _speech(self, request: web.Request) -> web.Response:
        said = self.shop.view.utterances(_after(request))
        return web.json_response(
            [{"seq": s.seq, "text": s.payload.text, "language": s.payload.language} for s in said]
        )

    async def _journal(self, request: web.Request) -> web.Response:
        view = self.shop.view
        return web.json_response(
            {"card": plain(view.journal()), "qr": plain(view.qr_journal())}, dumps=_dumps
        )

    async def _ledger(self, request: web.Request) -> web.Response:
        return web.json_response(plain(self.shop.view.ledger()), dumps=_dumps)

    # -- events ----------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.Response:
        try:
            events = self.shop.view.events(_after(request))
        except EventsDropped as exc:
            raise ApiError(str(exc), status=410) from None
        return web.json_response([event.to_json() for event in events], dumps=_dumps)

    async def _events_ws(self, request: web.Request) -> web.WebSocketResponse:
        """Every event after ``?after=`` (default: from now on), as they are published."""
        ws = web.WebSocketResponse(max_msg_size=WS_MAX_MESSAGE, heartbeat=30.0)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        outbox = _Outbox()
        queue = outbox.queue
        bus = self.shop.bus

        def forward(event: Event) -> None:  # any thread
            loop.call_soon_threadsafe(outbox.offer, event)

        unsubscribe = bus.subscribe(forward)
        try:
            after = _after(request, default=len(bus))
            try:
                backlog = bus.since(after)
            except EventsDropped as exc:
                await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=str(exc)[:120].encode())
                return ws
            seen = after
            for old in backlog:
                await ws.send_str(_dumps(old.to_json()))
                seen = old.seq
            reader = asyncio.ensure_future(_drain(ws))
            while not reader.done():
                getter = asyncio.ensure_future(queue.get())
                await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
                if not getter.done():
                    getter.cancel()
                    break
                event: Event | None = getter.result()
                if event is None:
                    self._log("events WebSocket closed: the client fell behind")
                    await ws.close(
                        code=WSCloseCode.TRY_AGAIN_LATER,
                        message=f"too slow: reconnect with ?after={seen}".encode(),
                    )
                    break
                if event.seq > seen:
                    await ws.send_str(_dumps(event.to_json()))
                    seen = event.seq
            reader.cancel()
        finally:
            unsubscribe()
        return ws


class _Outbox:
    """Events waiting for one WebSocket client: at most WS_QUEUE, then the end marker
    (None) and nothing more -- a client that falls behind is closed, never waited for."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._overflowed = False

    def offer(self, event: Event) -> None:  # on the loop
        if self._overflowed:
            return
        if self.queue.qsize() >= WS_QUEUE:
            self._overflowed = True
            self.queue.put_nowait(None)
        else:
            self.queue.put_nowait(event)


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) what the client sends until it closes."""
    async for _ in ws:
        pass


async def _json(request: web.Request) -> Any:
    raw = await request.read()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"the body is not JSON: {exc}") from None


def _after(request: web.Request, default: int = 0) -> int:
    text = request.query.get("after")
    if text is None:
        return default
    # isascii: str.isdigit() also takes "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        raise ApiError(f"after={text!r}: expected an event seq (digits)")
    return int(text)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(f"{key}: expected a non-empty string")
    return value


def _card(body: Mapping[str, Any]) -> Any:
    name = _text(body, "card")
    if name not in cards.names():
        raise ApiError(
            f"card {name!r} is not a catalogue card: {', '.join(cards.names())}", status=404
        )
    try:
        return cards.load(name)
    except FixtureError as exc:
        raise ApiError(str(exc), status=404) from None


# What each /v1/hands/<name> does: the Hands method it calls, with the body's fields.
_HANDS: dict[str, Callable[[ShopApi, Mapping[str, Any]], Any]] = {
    "insert_card": lambda api, body: api._hands.insert_card(_card(body)),
    "remove_card": lambda api, body: api._hands.remove_card(),
    "swipe_card": lambda api, body: api._hands.swipe_card(_card(body)),
    "type_pin": lambda api, body: api._hands.type_pin(_text(body, "pin")),
    "press": lambda api, body: api._hands.press(_text(body, "key")),
    "scan": lambda api, body: api._hands.scan(_text(body, "code")),
    "customer_pays_qr": lambda api, body: api._hands.customer_pays_qr(
        _text(body, "qr_payload"), _text(body, "wallet")
    ),
    "customer_confirms": lambda api, body: api._hands.customer_confirms(
        _text(body, "out_trade_no")
    ),
    "customer_cancels": lambda api, body: api._hands.customer_cancels(_text(body, "out_trade_no")),
    "take_paper_out": lambda api, body: api._hands.take_paper_out(),
    "refill_paper": lambda api, body: api._hands.refill_paper(),
    "open_cover": lambda api, body: api._hands.open_cover(),
    "close_cover": lambda api, body: api._hands.close_cover(),
    "cancel": lambda api, body: api._hands.cancel_payment(),
}
HAND_NAMES = tuple(_HANDS)
