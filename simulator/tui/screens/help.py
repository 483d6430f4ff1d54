"""The help screen: every key binding of the app, one line each; it scrolls when it must."""

from __future__ import annotations

from typing import ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,f1,question_mark", "dismiss", "close", id="help.close"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen VerticalScroll {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; background: $surface; padding: 0 1;
        border-title-align: center;
    }
    """

    def __init__(self, keys: list[tuple[str, str]], title: str = "possim tui: keys") -> None:
        super().__init__()
        self._keys = keys
        self._title = title

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(justify="right", style="bold", no_wrap=True)
        table.add_column()
        for key, what in self._keys:
            table.add_row(Text(key), Text(what))  # Text: "[ ]" is a key, not markup
        scroll = VerticalScroll()
        scroll.border_title = self._title
        scroll.border_subtitle = "↑↓ scroll · esc closes"
        with scroll:
            yield Static(table)

    def on_mount(self) -> None:
        self.query_one(VerticalScroll).focus()  # the arrows and PgUp/PgDn scroll it
