"""The terminal's keypad: digits, CLR, OK, CANCEL, for the mouse.

The keyboard reaches the same keys through the app's bindings; the buttons
never take focus, so Enter always means OK.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Grid
from textual.message import Message
from textual.widgets import Button

_LAYOUT = (
    ("1", "2", "3", "CANCEL"),
    ("4", "5", "6", "CLR"),
    ("7", "8", "9", "OK"),
    ("", "0", "", ""),
)
_VARIANT = {"CANCEL": "error", "CLR": "warning", "OK": "success"}


class Keypad(Grid):
    DEFAULT_CSS = """
    Keypad {
        grid-size: 4 4;
        grid-gutter: 0 1;
        height: 4;
        width: 100%;
    }
    Keypad Button { width: 100%; min-width: 4; }
    Keypad .-blank { visibility: hidden; }
    """

    class KeyPressed(Message):
        """The person pressed ``key`` (a digit, OK, CLR or CANCEL) on the keypad."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def compose(self) -> ComposeResult:
        for row in _LAYOUT:
            for key in row:
                button = Button(
                    key or " ",
                    variant=_VARIANT.get(key, "default"),  # type: ignore[arg-type]
                    id=f"key-{key}" if key else None,
                    classes="" if key else "-blank",
                    compact=True,
                )
                button.can_focus = False
                yield button

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id is not None:
            self.post_message(self.KeyPressed(event.button.id.removeprefix("key-")))
