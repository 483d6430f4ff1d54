"""The printer: the paper roll as the virtual printer printed it, receipt after
receipt, and its faults (paper out, cover open) in the border.

A receipt is drawn as the paper looks: its text as text (readable at any size),
its logo, barcodes and QR codes as the printer's own rendering in half blocks,
black on white (:mod:`simulator.tui.paper_art`). Without the receipt's lines
(an attached or remote printer) the text alone, with ``[QR: ...]`` placeholders.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

if TYPE_CHECKING:
    from drivers.printer.profile import PrinterProfile
    from simulator.devices.printer.paper import RenderedReceipt
    from simulator.devices.printer.render.png import PaperRenderer

_CUT = "✂ - - - - - - - - - - - - - - -"


class PaperRoll(VerticalScroll):
    DEFAULT_CSS = """
    PaperRoll { border: round $secondary; height: 1fr; min-height: 5; }
    PaperRoll.-fault { border: round $error; }
    PaperRoll Static { width: auto; background: $surface-lighten-1; padding: 0 1; }
    PaperRoll .receipt { height: auto; width: auto; }
    PaperRoll Static.-picture { background: white; color: black; }
    """
    ALLOW_MAXIMIZE = True  # `v`: the roll on the whole screen
    DEFAULT_WIDTH = 32  # picture columns before the panel has a size

    paper_out: reactive[bool] = reactive(False)
    cover_open: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "printer"
        self.receipts: list[str] = []
        self.can_focus = False
        self._renderer: PaperRenderer | None = None  # for the printer's profile

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

    def add_receipt(
        self,
        text: str,
        receipt: RenderedReceipt | None = None,
        profile: PrinterProfile | None = None,
    ) -> None:
        self.receipts.append(text)
        self.border_subtitle = f"{len(self.receipts)} receipt(s)"
        if receipt is None or profile is None:
            self.mount(Static(text.rstrip("\n") + f"\n{_CUT}", markup=False))
        else:
            self.mount(Vertical(*self._paper(receipt, profile), classes="receipt"))
        self.anchor()  # the roll follows the newest paper until someone scrolls back

    def _paper(self, receipt: RenderedReceipt, profile: PrinterProfile) -> list[Static]:
        from simulator.devices.printer.render.png import PaperRenderer
        from simulator.tui.paper_art import paper_pieces

        renderer = self._renderer
        if renderer is None or renderer.profile is not profile:
            renderer = self._renderer = PaperRenderer(profile)
        # The panel's columns (less its scrollbar) less the picture's padding (white too).
        width = self.scrollable_content_region.width - 2
        pieces = paper_pieces(receipt, renderer, width if width > 0 else self.DEFAULT_WIDTH)
        shown = [
            Static(piece.text, markup=False, classes="-picture" if piece.picture else "")
            for piece in pieces
        ]
        return [*shown, Static(_CUT, markup=False)]
