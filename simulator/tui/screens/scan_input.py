"""Type a payment code for the scanner to read (one the samples do not have)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class ScanInputScreen(ModalScreen[str | None]):
    """Dismissed with the code typed (enter) or ``None`` (escape)."""

    AUTO_FOCUS = "#code"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", "cancel", id="scan_input.cancel"),
    ]
    DEFAULT_CSS = """
    ScanInputScreen { align: center middle; }
    ScanInputScreen Vertical {
        width: 48; max-width: 100%; height: auto;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Scan a payment code[/b]  (enter scans, escape cancels)")
            # A payment code is as good as money for a minute: never on screen in full.
            yield Input(
                placeholder="e.g. 134567890123456789",
                restrict=r"[0-9A-Za-z]*",
                password=True,
                id="code",
            )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)
