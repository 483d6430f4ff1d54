"""The printer's paper roll: every receipt as the virtual printer rendered it."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.widgets import Static

_CUT = "✂ - - - - - - - - - - - - - - -"


class PaperRoll(VerticalScroll):
    DEFAULT_CSS = """
    PaperRoll { border: round $secondary; height: 1fr; min-height: 5; }
    PaperRoll Static { width: auto; background: $surface-lighten-1; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "printer"
        self.receipts: list[str] = []
        self.can_focus = False

    @property
    def text(self) -> str:
        return f"\n{_CUT}\n".join(self.receipts)

    def add_receipt(self, text: str) -> None:
        self.receipts.append(text)
        self.border_subtitle = f"{len(self.receipts)} receipt(s)"
        self.mount(Static(text.rstrip("\n") + f"\n{_CUT}", markup=False))
        self.scroll_end(animate=False)
