"""The paper a receipt printer produces: lines of styled text, codes and
images, cut into receipts, rendered as text the way a person reads the roll.

Kept apart from the ESC/POS interpreter (:mod:`simulator.devices.printer`) so
that views (transcripts, the TUI, golden files) depend on the paper, not on the
printer's command set.
"""

from __future__ import annotations

import enum
import unicodedata
from collections.abc import Callable

import attrs


class LineKind(str, enum.Enum):
    TEXT = "text"
    QR = "qr"
    BARCODE = "barcode"
    CODE_2D = "code2d"  # PDF417, DataMatrix, Aztec ...
    IMAGE = "image"


@attrs.frozen
class Span:
    """A run of characters printed with the same attributes."""

    text: str
    bold: bool = False
    underline: int = 0  # 0 off, 1 one dot, 2 two dots
    width: int = 1  # width multiplier (ESC ! / GS ! / FS !)
    height: int = 1  # height multiplier
    inverted: bool = False  # white on black (GS B)
    font: str = "A"
    cjk: bool = False  # printed with the double-byte (Chinese) font: 2 cells a character
    # Where the span starts, in dots from the left margin, when the print position
    # was moved there (ESC $ / ESC \); None: right after the previous span.
    x: int | None = None

    @property
    def double_width(self) -> bool:
        return self.width >= 2

    @property
    def double_height(self) -> bool:
        return self.height >= 2

    @property
    def columns(self) -> int:
        """Font A character cells this span occupies on paper."""
        return len(self.text) * (2 if self.cjk else 1) * self.width


@attrs.frozen
class RenderedLine:
    """One printed line: text spans, or a QR code, barcode or image block."""

    kind: LineKind = LineKind.TEXT
    align: str = "left"  # left | center | right
    spans: tuple[Span, ...] = ()
    data: str = ""  # QR / barcode / 2D code content (HRI text for barcodes)
    symbology: str = ""  # QR, CODE128, PDF417 ...
    width_dots: int = 0  # images
    height_dots: int = 0  # images; barcodes: bar height (GS h)
    # What the PNG renderer needs to draw the line the way the printer would:
    feed_dots: int = 0  # text: paper advance (line spacing in force; 0: 1/6 inch)
    raw: bytes = attrs.field(default=b"", repr=False)  # QR / barcode / 2D data as sent
    module: int = 0  # QR module size (GS ( k 167) / barcode module width (GS w), dots
    ec_level: str = ""  # QR error correction L/M/Q/H (GS ( k 169)
    hri: str = ""  # barcode human-readable text: none/above/below/both (GS H)
    hri_font: str = ""  # A or B (GS f)
    bitmap: bytes = attrs.field(default=b"", repr=False)  # images: packed rows, 1 = black
    margin_dots: int = 0  # left margin in force (GS L), dots from the printable area's edge
    area_dots: int = 0  # print area width in force (GS W); 0: up to the right edge
    upside_down: bool = False  # printed rotated by 180 degrees (ESC {)

    @property
    def text(self) -> str:
        if self.kind is LineKind.TEXT:
            return "".join(span.text for span in self.spans)
        if self.kind is LineKind.QR:
            return f"[QR: {self.data}]"
        if self.kind is LineKind.BARCODE:
            return f"[BARCODE {self.symbology}: {self.data}]"
        if self.kind is LineKind.CODE_2D:
            return f"[{self.symbology}: {self.data}]"
        return f"[IMAGE {self.width_dots}x{self.height_dots}]"

    @property
    def columns(self) -> int:
        """Paper columns (font A cells) the line occupies."""
        if self.kind is LineKind.TEXT:
            return sum(span.columns for span in self.spans)
        return display_columns(self.text)

    def _inked(self) -> list[Span]:
        return [span for span in self.spans if span.text.strip()]

    @property
    def bold(self) -> bool:
        inked = self._inked()
        return bool(inked) and all(span.bold for span in inked)

    @property
    def underline(self) -> bool:
        return any(span.underline for span in self._inked())

    @property
    def double_width(self) -> bool:
        inked = self._inked()
        return bool(inked) and all(span.double_width for span in inked)

    @property
    def double_height(self) -> bool:
        inked = self._inked()
        return bool(inked) and all(span.double_height for span in inked)

    @property
    def placed(self) -> bool:
        """True when a margin, print area or print position moves the line's text."""
        return bool(self.margin_dots or self.area_dots or any(s.x is not None for s in self.spans))

    def render(self, columns: int, column_dots: int = 12) -> str:
        """The line as text, aligned in ``columns`` paper columns.

        Padding counts paper columns: a double-width character takes 2, a
        Chinese character 2 (4 when double width), but appears once in the text.
        Margins, print area and print positions are in dots; ``column_dots``
        (the font A cell width) turns them into columns.
        """
        text = self.text
        if not text:
            return ""
        if self.placed:
            return self._render_placed(columns, column_dots)
        pad = max(0, columns - self.columns)
        if self.align == "center":
            return " " * (pad // 2) + text
        if self.align == "right":
            return " " * pad + text
        return text

    def cells(self, columns: int, column_dots: int = 12) -> dict[int, str]:
        """Characters by the paper column they start in (0: the printable area's left edge).

        A character covers ``2 if cjk else 1`` times its width columns; the
        columns it covers after the first hold "". Text printed over earlier
        text (the print position moved back) replaces it, except spaces, which
        print no ink. A print position between two columns rounds to the
        nearer one (half way: the right one).
        """
        cells = self._cells(column_dots)
        extent = max(cells) + 1 if cells else 0
        margin = self.margin_dots // column_dots
        area = self.area_dots // column_dots if self.area_dots else columns - margin
        room = max(0, area - extent)
        offset = margin + {"center": room // 2, "right": room}.get(self.align, 0)
        return {offset + column: char for column, char in cells.items()}

    def _cells(self, column_dots: int) -> dict[int, str]:
        if self.kind is not LineKind.TEXT:
            return dict(enumerate(self.text))
        cells: dict[int, str] = {}
        column = 0
        for span in self.spans:
            if span.x is not None:
                column = (span.x + column_dots // 2) // column_dots
            step = (2 if span.cjk else 1) * span.width
            for char in span.text:
                if char != " " or column not in cells:
                    cells[column] = char
                    for cover in range(column + 1, column + step):
                        cells[cover] = ""
                column += step
        return cells

    def _render_placed(self, columns: int, column_dots: int) -> str:
        """Characters in their columns; a wide character appears once, and the
        columns it saved come back at the next blank, so later text keeps its column."""
        cells = self.cells(columns, column_dots)
        out: list[str] = []
        saved = 0
        for column in range(max(cells) + 1 if cells else 0):
            char = cells.get(column, " ")
            if char == "":
                saved += 1
            elif char == " ":
                out.append(" " * (saved + 1))
                saved = 0
            else:
                out.append(char)
        return "".join(out).rstrip()


@attrs.frozen
class RenderedReceipt:
    """The paper between two cuts."""

    lines: tuple[RenderedLine, ...]
    columns: int  # the profile's characters per line (font A)
    cut: str = "full"  # full | partial | none (torn off: the stream ended without a cut)
    column_dots: int = 12  # dots in a font A cell: turns margins and positions into columns

    @property
    def text(self) -> str:
        """Every line aligned in ``columns``; trailing blank paper is dropped."""
        return render_lines(self.lines, self.columns, self.column_dots)

    @property
    def qr_codes(self) -> tuple[str, ...]:
        return tuple(line.data for line in self.lines if line.kind is LineKind.QR)

    @property
    def barcodes(self) -> tuple[str, ...]:
        return tuple(line.data for line in self.lines if line.kind is LineKind.BARCODE)


ReceiptHook = Callable[[RenderedReceipt], None]


def render_lines(
    lines: tuple[RenderedLine, ...] | list[RenderedLine], columns: int, column_dots: int = 12
) -> str:
    rendered = [line.render(columns, column_dots) for line in lines]
    while rendered and not rendered[-1].strip():
        rendered.pop()
    return "\n".join(rendered)


def display_columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
