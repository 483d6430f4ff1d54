"""The live event log: every bus event's (already redacted) one-line summary."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import RichLog

from simulator.events import Event

_STYLE = {
    "apdu": "cyan",
    "iso8583": "magenta",
    "screen": "bold",
    "utterance": "green",
    "print": "yellow",
    "error": "bold red",
    "http": "blue",
}


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
        self.write(Text(line, style=_STYLE.get(event.kind, "")))
