"""``possim tui --attach URL``: watch a served shop (``possim serve``) live.

The shop runs in another process -- maybe another machine -- so this app holds
no :class:`~simulator.shop.Shop`: it is a client of the served shop's API
(docs/cashier_apps.md). It follows ``/v1/events/ws`` (every event as it is
published, resuming with ``?after=SEQ`` when the connection drops) and, after
each burst of events, reads ``/v1/view/state`` and the receipts printed since;
it shows the terminal's screen, the counter's state, the event log and the
receipts. It only watches: the cashier app and the hands act through the API.

Kept apart from :mod:`simulator.tui.app` (the in-process TUI): only the event
and state JSON of the API is shared.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import aiohttp
from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import Footer, Header, RichLog, Static

RECONNECT = 1.0  # seconds before following the events again after the connection dropped
MAX_LINES = 2000  # lines the event log keeps on screen
TIMEOUT = 30.0  # seconds one API read may take


def event_line(event: dict[str, Any]) -> str:
    """One event as the served shop's own log prints it."""
    return f"[{event['at']:10.3f}s] {event['source']:<12} {event['kind']} {event['summary']}"


def screen_text(state: dict[str, Any]) -> str:
    screen = state["screen"]
    title = f"[b]{escape(screen['title'])}[/b]  ({screen['id']})"
    lines = [title, *(escape(line) for line in screen["lines"])]
    flags = [
        name
        for name, on in (
            ("busy", state["busy"]),
            ("waiting for the PIN", state["awaiting_pin"]),
            ("waiting for a key", state["awaiting_key"]),
            ("card in the slot", state["card_inserted"]),
            ("paper out", state["printer"]["paper_out"]),
            ("cover open", state["printer"]["cover_open"]),
        )
        if on
    ]
    return "\n".join([*lines, "", " · ".join(flags) or "idle"])


class AttachedApp(App[None]):
    """A live view of the served shop at ``url`` (``token``: the shop's, if it has one)."""

    TITLE = "possim (attached)"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit")]
    CSS = """
    #screen { height: auto; min-height: 8; border: round $accent; padding: 0 1; }
    #receipts { width: 48; border: round $secondary; }
    #events { border: round $primary; }
    """

    def __init__(self, url: str, token: str | None = None) -> None:
        super().__init__()
        self.url = url.rstrip("/")
        self._token = token
        self.seen = 0  # the last event seq shown
        self.receipts_shown = 0
        self.event_lines: list[str] = []
        self.receipt_texts: list[str] = []
        self.state: dict[str, Any] | None = None
        self.connected = False
        self._skip_to_now = False
        self.problems: list[str] = []  # why the stream dropped, latest last (at most 100)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal():
            with Vertical():
                yield Static("connecting...", id="screen")
                yield RichLog(id="events", max_lines=MAX_LINES, wrap=True)
            yield RichLog(id="receipts", wrap=False)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.url
        self.run_worker(self._follow(), exclusive=True)

    async def _follow(self) -> None:
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        timeout = aiohttp.ClientTimeout(total=TIMEOUT)
        async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
            while True:
                try:
                    await self._follow_once(session)
                except NoMatches:  # the app is closing: its widgets are leaving
                    return
                except (aiohttp.ClientError, OSError, asyncio.TimeoutError) as exc:
                    self._disconnected(f"{type(exc).__name__}: {exc}")
                else:
                    skipped = "; the events it no longer keeps are skipped"
                    self._disconnected(
                        f"the shop closed the event stream{skipped if self._skip_to_now else ''}"
                    )
                await asyncio.sleep(RECONNECT)

    async def _follow_once(self, session: aiohttp.ClientSession) -> None:
        shop = await self._get(session, "/v1/shop")
        self.title = f"possim · {shop['vendor']} · {shop['merchant_name']} ({shop['terminal_id']})"
        await self._refresh(session)
        # Events the shop no longer keeps cannot be shown: resume from now on.
        query = "" if self._skip_to_now else f"?after={self.seen}"
        async with session.ws_connect(f"{self.url}/v1/events/ws{query}") as ws:
            self.connected = True
            self._skip_to_now = False
            await self._follow_stream(ws, session)
            if ws.close_code == aiohttp.WSCloseCode.POLICY_VIOLATION:
                self._skip_to_now = True

    async def _follow_stream(
        self, ws: aiohttp.ClientWebSocketResponse[bool], session: aiohttp.ClientSession
    ) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT:
                break
            self._show_event(json.loads(message.data))
            # Several events may be waiting: read the state once they are all shown.
            while True:
                try:
                    more = await ws.receive(timeout=0.05)
                except asyncio.TimeoutError:
                    break
                if more.type != aiohttp.WSMsgType.TEXT:
                    return
                self._show_event(json.loads(more.data))
            await self._refresh(session)

    async def _get(self, session: aiohttp.ClientSession, path: str) -> Any:
        async with session.get(self.url + path) as response:
            if response.status != 200:
                # The API's one-line error (a missing token: 401) says what to do.
                text = await response.text()
                try:
                    why = json.loads(text)["error"]
                except (ValueError, KeyError, TypeError):
                    why = text[:200]
                raise aiohttp.ClientResponseError(
                    response.request_info, (), status=response.status, message=f"{path}: {why}"
                )
            return await response.json()

    async def _refresh(self, session: aiohttp.ClientSession) -> None:
        self.state = await self._get(session, "/v1/view/state")
        self.query_one("#screen", Static).update(screen_text(self.state))
        receipts = await self._get(session, "/v1/view/receipts")
        log = self.query_one("#receipts", RichLog)
        for receipt in receipts[self.receipts_shown :]:
            self.receipt_texts.append(receipt["text"])
            log.write(f"── receipt {receipt['index']} ({receipt['kind']}) ──")
            log.write(receipt["text"])
        self.receipts_shown = max(self.receipts_shown, len(receipts))

    def _show_event(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.seen:
            return
        self.seen = event["seq"]
        line = event_line(event)
        self.event_lines.append(line)
        del self.event_lines[:-MAX_LINES]
        self.query_one("#events", RichLog).write(line)

    def _disconnected(self, why: str) -> None:
        self.connected = False
        self.problems.append(why)
        del self.problems[:-100]
        for log in self.query("#events").results(RichLog):  # none while the app closes
            log.write(f"-- {why}; reconnecting to {self.url}")
