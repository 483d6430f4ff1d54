"""The live event log: every bus event's (already redacted) one-line summary."""

from __future__ import annotations

import functools

from rich.text import Text
from textual.widgets import RichLog

from simulator.events import Event, EventPayload

# The simulation's event classes are imported on the first event, not before the
# first paint (the gateway's brings aiohttp).
StyleRule = tuple[type[EventPayload] | tuple[type[EventPayload], ...], str]


@functools.cache
def _styles() -> tuple[StyleRule, ...]:
    """The first entry whose class the payload is an instance of styles its line."""
    from simulator.events import Problem
    from simulator.gateway.qr.http import QrApiCall
    from simulator.gateway.server import HostIsoMessage
    from simulator.terminal.display import ScreenShown
    from simulator.terminal.host_link import LinkIsoMessage
    from simulator.terminal.qr_link import QrHttpCall
    from simulator.terminal.tracing import ApduExchanged, PrintJobSent, Said

    return (
        (ApduExchanged, "cyan"),
        ((LinkIsoMessage, HostIsoMessage), "magenta"),
        (ScreenShown, "bold"),
        (Said, "green"),
        (PrintJobSent, "yellow"),
        (Problem, "bold red"),
        ((QrHttpCall, QrApiCall), "blue"),
    )


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, max_lines=5000, wrap=False, markup=False)
        self.lines_shown: list[str] = []

    def add(self, event: Event) -> None:
        line = f"{event.at:8.3f} {event.source:<12} {event.kind:<11} {event.summary}"
        self.lines_shown.append(line)
        payload = event.payload
        style = next((style for kinds, style in _styles() if isinstance(payload, kinds)), "")
        self.write(Text(line, style=style))
