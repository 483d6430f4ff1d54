"""The card slot: the catalogue card chosen, insert / remove / swipe it.

Under the card, what the cardholder knows of it: its test PIN (to type on the
PIN pad; test data from the catalogue, like the card) and what it does.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Static


class CardSlot(Vertical):
    DEFAULT_CSS = """
    CardSlot { height: auto; border: round $secondary; padding: 0 1; }
    CardSlot Horizontal { height: 1; }
    CardSlot Button { min-width: 3; margin-right: 1; }
    CardSlot #card-name { width: 1fr; content-align: center middle; }
    /* One row: the printer needs its rows at 80x24; the whole text is the tooltip. */
    CardSlot #card-about { color: $text-muted; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    card: reactive[str] = reactive("")
    # The chosen card's PIN and description (the app reads them from the catalogue).
    about: reactive[str] = reactive("")
    inserted: reactive[bool] = reactive(False)
    can_swipe: reactive[bool] = reactive(True)

    class Action(Message):
        """The person wants to ``insert``, ``remove``, ``swipe``, ``next`` or ``previous``."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "card slot"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield self._button("◀", "previous")
            yield Static(id="card-name")
            yield self._button("▶", "next")
        with Horizontal():
            yield self._button("Insert", "insert")
            yield self._button("Remove", "remove")
            yield self._button("Swipe", "swipe")
        yield Static(id="card-about")

    def _button(self, label: str, action: str) -> Button:
        button = Button(label, id=f"card-{action}", compact=True)
        button.can_focus = False
        return button

    def watch_card(self) -> None:
        self._show()

    def watch_inserted(self) -> None:
        self._show()

    def watch_about(self, about: str) -> None:
        if self.is_mounted:
            shown = self.query_one("#card-about", Static)
            shown.update(Text(about))
            shown.tooltip = about

    def watch_can_swipe(self, can_swipe: bool) -> None:
        if self.is_mounted:
            self.query_one("#card-swipe", Button).disabled = not can_swipe

    def _show(self) -> None:
        if not self.is_mounted:
            return
        state = "in slot" if self.inserted else "in hand"
        self.query_one("#card-name", Static).update(Text(f"{self.card} ({state})"))
        self.query_one("#card-insert", Button).disabled = self.inserted
        self.query_one("#card-remove", Button).disabled = not self.inserted

    def on_mount(self) -> None:
        self._show()
        self.watch_about(self.about)
        self.watch_can_swipe(self.can_swipe)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id is not None:
            self.post_message(self.Action(event.button.id.removeprefix("card-")))
