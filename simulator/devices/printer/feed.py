"""The paper path: the line being assembled, printed lines, feeds and cuts.

:class:`PaperFeed` is the family every other one prints through. It holds the
line under construction (text spans from :mod:`.text`, an ``ESC *`` stripe
from :mod:`.graphics`) and the line format in force -- alignment, line
spacing, left margin and print area (:class:`~.layout.PrintArea`), upside-down
-- and turns them into frozen :class:`RenderedLine` objects on the paper
since the last cut; a cut (``GS V``, ``ESC i``/``ESC m``) makes the paper a
:class:`RenderedReceipt` in ``receipts`` and for every ``on_receipt`` hook.

Faults (:class:`~.faults.PrinterFaults`, ``printer.faults``) stop printing: a
line sent while the printer cannot print goes to ``unprinted`` and is reported,
a cut is not done; a roll with ``paper_left`` lines runs out in the middle of a
receipt. What is kept is capped (:mod:`.retention`): an overlong uncut print
loses its oldest lines, with a count.

Hot path: receipts repeat most of their lines copy after copy, so text lines
are built once per distinct content and shared (:meth:`PaperFeed._text_line`,
a bounded cache).

Simplifications: ``ESC J`` feeds whole lines of the current spacing; ``ESC K``
and ``ESC e`` (reverse feed) only print the line; a QR code, barcode or raster
image first prints any pending text on its own line and starts at the left
margin, justified in the print area (a print position moved to before it does
not apply); the text transcript reads upside-down lines the right way up (the
PNG turns them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from drivers.printer.profile import PrinterProfile
from drivers.wire.escpos import ESC, GS
from simulator.devices.printer.diagnostics import EscposDiagnostic
from simulator.devices.printer.faults import PrinterFaults
from simulator.devices.printer.interpreter import Interpreter, control, fixed, variable
from simulator.devices.printer.paper import (
    LineKind,
    RenderedLine,
    RenderedReceipt,
    Span,
    render_lines,
)
from simulator.devices.printer.render import bitmaps
from simulator.devices.printer.retention import Retained, Retention, line_bytes, receipt_bytes
from simulator.devices.printer.status import cannot_print

if TYPE_CHECKING:
    from simulator.devices.printer.area import PrintArea

Bitmap = tuple[int, int, bytes]  # width, height, packed rows (see render.bitmaps)
# A span's style: Span's fields after ``text``, in order.
StyleKey = tuple[bool, int, int, int, bool, str, bool]
# A text line's content: alignment, line spacing in dots, left margin and print
# area (dots), upside down, and (style, print position or None, text) per span.
_LineKey = tuple[str, int, int, int, bool, tuple[tuple[StyleKey, int | None, str], ...]]
_LINE_CACHE_SIZE = 4096
# ESC * stripes of one image are kept as one image line up to this height, then
# a new line starts: stacking re-copies the image, so an unbounded one would
# cost the square of its height. The paper shows no seam either way.
_STACKED_IMAGE_MAX_HEIGHT = 2048


class PaperFeed(Interpreter):
    """Lines onto the paper, feeds and cuts, as the faults allow (see the module docstring)."""

    # The line format in force, kept by LayoutCommands (layout.py): every line carries it.
    _align: str  # ESC a
    _flipped: bool  # ESC { (upside-down)
    _line_spacing: int  # dots
    _area: PrintArea  # GS L, GS W

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        super().__init__(profile, retention)
        keep = self.retention
        self.faults = PrinterFaults()  # set by tests, scenarios and the port
        self.receipts: Retained[RenderedReceipt] = Retained(
            keep.receipts, max_weight=keep.receipt_bytes, weigh=receipt_bytes
        )
        # Lines sent while the printer could not print.
        self.unprinted: Retained[RenderedLine] = Retained(keep.unprinted)
        self.paper_lines_dropped = 0  # oldest lines of an overlong uncut print, dropped
        self._paper: list[RenderedLine] = []
        self._paper_bytes = 0  # line_bytes of the paper since the last cut
        self._paper_trimmed = False  # the caps dropped lines of it (reported once)
        self._lines: dict[_LineKey, RenderedLine] = {}  # see _text_line

    @property
    def dropped(self) -> dict[str, int]:
        """How many of each kept record the retention caps dropped (see retention.py)."""
        with self._lock:
            return {
                "receipts": self.receipts.dropped,
                "diagnostics": self.diagnostics.dropped,
                "unprinted": self.unprinted.dropped,
                "paper_lines": self.paper_lines_dropped,
                "replies": self.replies_dropped,
            }

    @property
    def pending_lines(self) -> tuple[RenderedLine, ...]:
        """Lines printed since the last cut."""
        with self._lock:
            return tuple(self._paper)

    def pending_text(self) -> str:
        """The paper printed since the last cut, as text (see RenderedReceipt.text)."""
        with self._lock:
            return render_lines(self._paper, self.profile.chars_per_line, self._dots_per_char)

    def tear_off(self) -> RenderedReceipt | None:
        """Print the unfinished line and tear off the paper since the last cut, uncut.

        For a captured stream that ends without a cut (``possim render``): the
        receipt has ``cut="none"``, is not added to ``receipts`` and calls no hook.
        """
        with self._lock:
            self._flush_line()
            lines, self._paper = tuple(self._paper), []
            self._paper_bytes = 0
            self._paper_trimmed = False
            self._stripes_merge = False
        if not any(line.kind is not LineKind.TEXT or line.spans for line in lines):
            return None
        return RenderedReceipt(
            lines=lines,
            columns=self.profile.chars_per_line,
            cut="none",
            column_dots=self._dots_per_char,
        )

    # -- the line ----------------------------------------------------------------------

    def _clear_line(self) -> None:
        # (style, print position if it was moved there, text chunks) per span
        self._spans: list[tuple[StyleKey, int | None, list[str]]] = []
        self._line_dots = 0  # the print position, dots from the left margin
        self._moved = False  # ESC $ / ESC \ moved it since the last character
        self._line_align = "left"
        self._stripe: Bitmap | None = None
        self._stripes_merge = False

    def _can_print(self) -> str | None:
        return cannot_print(self.faults)

    def _emit(self, line: RenderedLine, *, stripe: bool = False) -> None:
        problem = self._can_print()
        if problem is not None:
            self.unprinted.append(line)
            if line.kind is not LineKind.TEXT or line.spans:
                self._report(EscposDiagnostic(None, problem, f"not printed: {line.text!r}"))
            self._stripes_merge = False
            return
        faults = self.faults
        if faults.paper_left is not None:
            faults.paper_left = max(0, faults.paper_left - 1)
            if faults.paper_left == 0:
                faults.paper_out = True
        if stripe and self._stripes_merge and self._paper:
            last = self._paper[-1]
            if (
                last.kind is LineKind.IMAGE
                and last.width_dots == line.width_dots
                and last.height_dots + line.height_dots <= _STACKED_IMAGE_MAX_HEIGHT
            ):
                _, height, bitmap = bitmaps.stacked(
                    (last.width_dots, last.height_dots, last.bitmap),
                    (line.width_dots, line.height_dots, line.bitmap),
                )
                self._paper[-1] = attrs.evolve(last, height_dots=height, bitmap=bitmap)
                self._paper_bytes += len(line.bitmap)
                return
        self._lay(line)
        self._stripes_merge = stripe

    def _lay(self, line: RenderedLine) -> None:
        """Put a line on the paper since the last cut, within the retention caps."""
        self._paper.append(line)
        self._paper_bytes += line_bytes(line)
        keep = self.retention
        if (keep.paper_lines is not None and len(self._paper) > keep.paper_lines) or (
            keep.paper_bytes is not None and self._paper_bytes > keep.paper_bytes
        ):
            self._trim_paper()

    def _trim_paper(self) -> None:
        """Drop the oldest half of an overlong uncut print (until it is within the caps)."""
        keep = self.retention
        dropped = 0
        while len(self._paper) > 1 and (
            (keep.paper_lines is not None and len(self._paper) > keep.paper_lines)
            or (keep.paper_bytes is not None and self._paper_bytes > keep.paper_bytes)
        ):
            half = len(self._paper) // 2
            del self._paper[:half]
            dropped += half
            self._paper_bytes = sum(line_bytes(line) for line in self._paper)
        self.paper_lines_dropped += dropped
        if dropped and not self._paper_trimmed:
            self._paper_trimmed = True  # once per receipt: the count says the rest
            self._report(
                EscposDiagnostic(
                    None,
                    "paper",
                    f"more than {keep.paper_lines} lines or {keep.paper_bytes} bytes since "
                    f"the last cut; the oldest {dropped} line(s) are not kept",
                )
            )

    def _print_line(self) -> None:
        """Print the line buffer (a blank line when it is empty) and start a new line."""
        stripe = self._stripe
        margin, area = self._area.frame
        if self._spans or stripe is None:
            line = self._text_line(
                (
                    self._line_align,
                    self._line_spacing,
                    margin,
                    area,
                    self._flipped,
                    tuple([(key, x, "".join(chunks)) for key, x, chunks in self._spans]),
                )
            )
            faults = self.faults
            if faults.paper_left is None and cannot_print(faults) is None:
                self._lay(line)  # _emit()'s usual case, inlined
                self._stripes_merge = False
            else:
                self._emit(line)
        if stripe is not None:
            width, height, bitmap = stripe
            image = RenderedLine(
                LineKind.IMAGE,
                align=self._line_align,
                width_dots=width,
                height_dots=height,
                bitmap=bitmap,
                margin_dots=margin,
                area_dots=area,
                upside_down=self._flipped,
            )
            # Stripes of one image join up -- unless each is turned over on its own.
            self._emit(image, stripe=not self._flipped)
        self._spans = []
        self._line_dots = 0
        self._moved = False
        self._stripe = None

    def _text_line(self, content: _LineKey) -> RenderedLine:
        """The text line with this alignment, spacing and spans -- built once.

        Receipts repeat most of their lines (labels, rules, blank feeds) copy
        after copy; lines are frozen, so equal ones can be one shared object
        instead of a dozen attrs constructions each time.
        """
        line = self._lines.get(content)
        if line is None:
            align, spacing, margin, area, upside_down, parts = content
            # StyleKey lists Span's fields after ``text``, in order.
            spans = tuple([Span(text, *key, x=x) for key, x, text in parts])
            line = RenderedLine(
                LineKind.TEXT,
                align,
                spans,
                feed_dots=spacing,
                margin_dots=margin,
                area_dots=area,
                upside_down=upside_down,
            )
            if len(self._lines) >= _LINE_CACHE_SIZE:
                self._lines.clear()  # bounded: a long run prints endless new amounts
            self._lines[content] = line
        return line

    def _flush_line(self) -> None:
        """Print pending text (if any) before a block (QR, barcode, image)."""
        if self._spans or self._stripe:
            self._print_line()

    def _blank_lines(self, count: int) -> None:
        for _ in range(count):
            self._emit(self._text_line((self._align, self._line_spacing, 0, 0, False, ())))

    def _block(self, line: RenderedLine, *, turns: bool = True) -> None:
        """Print a code or image on its own line (``turns``: ESC { turns it over too)."""
        self._flush_line()
        margin, area = self._area.frame
        self._emit(
            attrs.evolve(
                line,
                align=self._align,
                margin_dots=margin,
                area_dots=area,
                upside_down=turns and self._flipped,
            )
        )

    def _cut(self, pos: int, mode: str) -> None:
        self._flush_line()
        problem = self._can_print()
        if problem is not None:
            self._report(EscposDiagnostic(self._base + pos, "cut not done", problem))
            return
        lines, self._paper = tuple(self._paper), []
        self._paper_bytes = 0
        self._paper_trimmed = False
        self._stripes_merge = False
        if any(line.kind is not LineKind.TEXT or line.spans for line in lines):
            receipt = RenderedReceipt(
                lines=lines,
                columns=self.profile.chars_per_line,
                cut=mode,
                column_dots=self._dots_per_char,
            )
            self.receipts.append(receipt)
            self._finished.append(receipt)

    # -- commands --------------------------------------------------------------------

    @control(0x0A)
    def _line_feed(self, buffer: bytearray, pos: int) -> int:
        self._print_line()
        return 1

    @control(0x0C)
    def _form_feed(self, buffer: bytearray, pos: int) -> int:
        self._flush_line()
        return 1

    @fixed(ESC, "d", params=1)
    def _feed_lines(self, params: bytes, pos: int) -> None:
        n = params[0]
        if self._spans or self._stripe:
            self._print_line()
            self._blank_lines(max(0, n - 1))
        else:
            self._blank_lines(n)

    @fixed(ESC, "J", params=1)
    def _feed_dots(self, params: bytes, pos: int) -> None:
        lines = params[0] // self._line_spacing
        if self._spans or self._stripe:
            self._print_line()
            self._blank_lines(max(0, lines - 1))
        else:
            self._blank_lines(lines)

    @fixed(ESC, "K", params=1)  # print and reverse feed
    @fixed(ESC, "e", params=1)  # print and reverse feed lines
    def _print_line_action(self, params: bytes, pos: int) -> None:
        self._flush_line()

    @fixed(ESC, "i", params=0)
    @fixed(ESC, "m", params=0)
    def _old_cut(self, params: bytes, pos: int) -> None:
        self._cut(pos, "partial")

    @variable(GS, "V")
    def _gs_cut(self, buffer: bytearray, pos: int) -> int:
        """GS V m (0/1/48/49) or GS V m n (65/66, 97/98, 103/104)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        m = buffer[pos + 2]
        if m in (0, 48, 1, 49):
            self._cut(pos, "partial" if m & 0x01 else "full")
            return 3
        if m in (65, 66, 97, 98, 103, 104):
            if len(buffer) < pos + 4:
                return -1
            self._cut(pos, "full" if m & 0x01 else "partial")
            return 4
        self._error(pos, "GS V", f"m={m} is not a cut mode; skipped")
        return 3
