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

    def render(self, columns: int) -> str:
        """The line as text, aligned in ``columns`` paper columns.

        Padding counts paper columns: a double-width character takes 2, a
        Chinese character 2 (4 when double width), but appears once in the text.
        """
        text = self.text
        if not text:
            return ""
        pad = max(0, columns - self.columns)
        if self.align == "center":
            return " " * (pad // 2) + text
        if self.align == "right":
            return " " * pad + text
        return text


@attrs.frozen
class RenderedReceipt:
    """The paper between two cuts."""

    lines: tuple[RenderedLine, ...]
    columns: int  # the profile's characters per line (font A)
    cut: str = "full"  # full | partial | none (torn off: the stream ended without a cut)

    @property
    def text(self) -> str:
        """Every line aligned in ``columns``; trailing blank paper is dropped."""
        return render_lines(self.lines, self.columns)

    @property
    def qr_codes(self) -> tuple[str, ...]:
        return tuple(line.data for line in self.lines if line.kind is LineKind.QR)

    @property
    def barcodes(self) -> tuple[str, ...]:
        return tuple(line.data for line in self.lines if line.kind is LineKind.BARCODE)


ReceiptHook = Callable[[RenderedReceipt], None]


def render_lines(lines: tuple[RenderedLine, ...] | list[RenderedLine], columns: int) -> str:
    rendered = [line.render(columns) for line in lines]
    while rendered and not rendered[-1].strip():
        rendered.pop()
    return "\n".join(rendered)


def display_columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)
