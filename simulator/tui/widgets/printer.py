"""The printer: the paper roll as the virtual printer printed it, receipt after
receipt, and its faults (paper out, cover open) in the border."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

_CUT = "✂ - - - - - - - - - - - - - - -"


class PaperRoll(VerticalScroll):
    DEFAULT_CSS = """
    PaperRoll { border: round $secondary; height: 1fr; min-height: 5; }
    PaperRoll.-fault { border: round $error; }
    PaperRoll Static { width: auto; background: $surface-lighten-1; padding: 0 1; }
    """

    paper_out: reactive[bool] = reactive(False)
    cover_open: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "printer"
        self.receipts: list[str] = []
        self.can_focus = False

    @property
    def text(self) -> str:
        return f"\n{_CUT}\n".join(self.receipts)

    def watch_paper_out(self) -> None:
        self._show_faults()

    def watch_cover_open(self) -> None:
        self._show_faults()

    def _show_faults(self) -> None:
        faults = [
            name
            for name, on in (("PAPER OUT", self.paper_out), ("COVER OPEN", self.cover_open))
            if on
        ]
        self.border_title = " · ".join(["printer", *faults])
        self.set_class(bool(faults), "-fault")

    def add_receipt(self, text: str) -> None:
        self.receipts.append(text)
        self.border_subtitle = f"{len(self.receipts)} receipt(s)"
        self.mount(Static(text.rstrip("\n") + f"\n{_CUT}", markup=False))
        self.anchor()  # the roll follows the newest paper until someone scrolls back
