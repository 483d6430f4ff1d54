"""The scanner: the customer's payment code chosen from the samples, scan it or type one."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Button, Static


class ScannerPanel(Vertical):
    DEFAULT_CSS = """
    ScannerPanel { height: auto; border: round $secondary; padding: 0 1; }
    ScannerPanel Horizontal { height: 1; }
    ScannerPanel Button { min-width: 3; margin-right: 1; }
    ScannerPanel #code-name { width: 1fr; content-align: center middle; }
    """

    # The chosen sample code as shown: wallet and last four digits only.
    code: reactive[str] = reactive("")

    class Action(Message):
        """The person wants to ``scan``, ``type`` a code, or pick the ``next`` sample."""

        def __init__(self, action: str) -> None:
            super().__init__()
            self.action = action

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "scanner"

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(id="code-name")
            yield self._button("▶", "next")
        with Horizontal():
            yield self._button("Scan", "scan")
            yield self._button("Type…", "type")

    def _button(self, label: str, action: str) -> Button:
        button = Button(label, id=f"scanner-{action}", compact=True)
        button.can_focus = False
        return button

    def watch_code(self, code: str) -> None:
        if self.is_mounted:
            self.query_one("#code-name", Static).update(Text(code))

    def on_mount(self) -> None:
        self.watch_code(self.code)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id is not None:
            self.post_message(self.Action(event.button.id.removeprefix("scanner-")))
