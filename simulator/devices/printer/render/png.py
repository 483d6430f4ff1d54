"""A cut receipt drawn the way the paper shows it: a 1-bit PNG at the printer's dot width.

One image pixel is one printer dot (384 wide on 58 mm paper, 576 on 80 mm, at
203 dpi). Text is drawn character cell by character cell -- font A 12 x 24
dots, font B 9 x 17, Chinese 24 x 24 -- with bold (one-dot overstrike), double
width/height (dots doubled), underline, inversion, alignment within the print
area (``GS L``/``GS W``) and the print positions the stream moved to (``ESC $``,
``ESC \\``); line advance is the line spacing in force (``ESC 2``/``ESC 3``) or
the tallest character. Lines printed in upside-down mode (``ESC {``) are turned
by 180 degrees across the whole line. QR codes are real QR symbols at the
stream's module size and error correction level, barcodes real bars at its
``GS w`` width (thin and thick elements for CODE39, ITF and CODABAR) and height
with the HRI text where ``GS H`` put it, raster images dot for dot.

Fonts differ from a printer's ROM font, so text pixels are close, not
identical, to a real printout; codes and images are exact.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable

import attrs
from PIL import Image, ImageChops, ImageDraw

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer.paper import LineKind, RenderedLine, RenderedReceipt, Span
from simulator.devices.printer.render import bitmaps, boxdraw
from simulator.devices.printer.render.fonts import FontSource, FontType, find_font
from simulator.devices.printer.render.symbols import SymbolError, barcode_dots, qr_matrix

MARGIN_DOTS = 24  # blank paper above the first and below the last line
FONT_A_HEIGHT = 24
FONT_B_HEIGHT = 17
CJK_HEIGHT = 24
PAPER = 255  # mode "1": white
INK = 0

_GlyphKey = tuple[str, str, bool]  # character, face (A, B or C for Chinese), bold


@attrs.frozen
class Geometry:
    """Dot sizes of one printer profile."""

    width: int  # dots per line
    font_a: tuple[int, int]
    font_b: tuple[int, int]
    cjk: tuple[int, int]
    default_feed: int  # 1/6 inch

    @classmethod
    def of(cls, profile: PrinterProfile) -> Geometry:
        a = profile.dots_per_char
        return cls(
            width=profile.dots_per_line,
            font_a=(a, FONT_A_HEIGHT),
            font_b=(profile.dots_per_char_font_b, FONT_B_HEIGHT),
            cjk=(2 * a, CJK_HEIGHT),
            default_feed=max(1, profile.dpi // 6),
        )

    def cell(self, face: str) -> tuple[int, int]:
        return {"A": self.font_a, "B": self.font_b}.get(face, self.cjk)


class Glyphs:
    """Character cells as 1-bit masks, drawn once and reused (the renderer's hot path)."""

    def __init__(self, geometry: Geometry, source: FontSource) -> None:
        self.geometry = geometry
        self.source = source
        self._fonts: dict[str, tuple[FontType, int, int]] = {}
        for face in ("A", "B", "C"):
            self._fonts[face] = self._fit(face)
        self._masks: dict[_GlyphKey, Image.Image] = {}
        self._scaled: dict[tuple[_GlyphKey, int, int], Image.Image] = {}

    def _fit(self, face: str) -> tuple[FontType, int, int]:
        """The font size that fills the cell, and where to draw in the cell."""
        width, height = self.geometry.cell(face)
        probe = "中" if face == "C" else "M"
        size = height
        font = self.source.load(size)
        advance = font.getlength(probe)
        if face != "C" and advance > width:  # half-width letters: fit the width
            size = max(6, int(size * width / advance))
            font = self.source.load(size)
        _, top, _, bottom = font.getbbox("中" if face == "C" else "Mg")
        x = (width - round(font.getlength(probe))) // 2
        y = (height - round(bottom - top)) // 2 - round(top)
        return font, x, y

    def mask(self, char: str, face: str, bold: bool) -> Image.Image:
        key = (char, face, bold)
        found = self._masks.get(key)
        if found is None:
            found = self._masks[key] = self._draw(char, face, bold)
        return found

    def scaled(self, char: str, face: str, bold: bool, wide: int, high: int) -> Image.Image:
        if wide == 1 and high == 1:
            return self.mask(char, face, bold)
        key = ((char, face, bold), wide, high)
        found = self._scaled.get(key)
        if found is None:
            base = self.mask(char, face, bold)
            found = base.resize((base.width * wide, base.height * high), Image.Resampling.NEAREST)
            self._scaled[key] = found
        return found

    def _draw(self, char: str, face: str, bold: bool) -> Image.Image:
        width, height = self.geometry.cell(face)
        font, x, y = self._fonts[face]
        cell = boxdraw.draw(char, width, height) or Image.new("1", (width, height), 0)
        if char.strip() and not cell.getbbox():
            draw = ImageDraw.Draw(cell)
            draw.fontmode = "1"  # no anti-aliasing: a thermal head has no grey
            # Chinese at the fitted offset; each (maybe proportional) letter centred in its cell.
            glyph_x = x if face == "C" else (width - round(font.getlength(char))) // 2
            draw.text((glyph_x, y), char, font=font, fill=1)
        if bold:
            cell = _embolden(cell)
        return cell


def _embolden(cell: Image.Image) -> Image.Image:
    """Emphasised mode: every dot printed again one dot to its right.

    Except where that dot would close a one-dot gap before the next stroke: a
    printer's ROM font leaves room for it (its emphasised "m" keeps three
    stems), the outline font drawn here does not.
    """
    shifted = Image.new("1", cell.size, 0)
    shifted.paste(cell, (1, 0))
    before_blank = Image.new("1", cell.size, 1)  # 1 where the next dot to the right is blank
    before_blank.paste(0, (-1, 0), cell)
    return ImageChops.logical_or(cell, ImageChops.logical_and(shifted, before_blank))


@functools.cache
def _glyphs(geometry: Geometry, source: FontSource) -> Glyphs:
    return Glyphs(geometry, source)


class PaperRenderer:
    """Draws receipts for one printer profile."""

    def __init__(self, profile: PrinterProfile, font: FontSource | None = None) -> None:
        self.profile = profile
        self.geometry = Geometry.of(profile)
        self.font = font if font is not None else find_font()
        self.glyphs = _glyphs(self.geometry, self.font)
        self.problems: list[str] = []  # codes that could not be drawn, with why

    def render(self, receipt: RenderedReceipt | Iterable[RenderedLine]) -> Image.Image:
        return self.render_within(receipt, None)[0]

    def render_within(
        self, receipt: RenderedReceipt | Iterable[RenderedLine], max_height: int | None
    ) -> tuple[Image.Image, int]:
        """The receipt, or as many of its lines as fit ``max_height`` dots; and how many did.

        Drawing stops at the first line that does not fit, so paper of any
        length costs at most ``max_height`` rows of memory.
        """
        lines = receipt.lines if isinstance(receipt, RenderedReceipt) else tuple(receipt)
        blocks: list[tuple[Image.Image, RenderedLine]] = []
        height = 2 * MARGIN_DOTS
        for line in lines:
            image, _ = self._block(line)
            if max_height is not None and height + image.height > max_height:
                break
            blocks.append((image, line))
            height += image.height
        paper = Image.new("1", (self.geometry.width, height), PAPER)
        y = MARGIN_DOTS
        for block, line in blocks:
            if line.upside_down:  # ESC {: the printer turns the whole line over
                strip = Image.new("1", (self.geometry.width, block.height), PAPER)
                self._draw_line(strip, block, line, 0)
                paper.paste(strip.transpose(Image.Transpose.ROTATE_180), (0, y))
            else:
                self._draw_line(paper, block, line, y)
            y += block.height
        return paper, len(blocks)

    def _draw_line(
        self, paper: Image.Image, block: Image.Image, line: RenderedLine, y: int
    ) -> None:
        if line.kind is LineKind.TEXT:
            self._draw_text(paper, line, y)
        else:
            paper.paste(block, (self._x(line, block.width), y))

    def png(self, receipt: RenderedReceipt | Iterable[RenderedLine]) -> bytes:
        out = io.BytesIO()
        self.render(receipt).save(out, format="PNG", optimize=False)
        return out.getvalue()

    # -- layout -------------------------------------------------------------

    def _x(self, line: RenderedLine, width: int) -> int:
        """Where ``width`` dots of the line start: ESC a within the print area."""
        area = line.area_dots or self.geometry.width - line.margin_dots
        room = max(0, area - width)
        if line.align == "center":
            return line.margin_dots + room // 2
        if line.align == "right":
            return line.margin_dots + room
        return line.margin_dots

    def _block(self, line: RenderedLine) -> tuple[Image.Image, RenderedLine]:
        """The line's own image (text lines: an empty one of the line's height)."""
        if line.kind is LineKind.TEXT:
            tallest = max((self._cell(span)[1] for span in line.spans), default=0)
            advance = line.feed_dots or self.geometry.default_feed
            return Image.new("1", (1, max(tallest, advance)), PAPER), line
        if line.kind is LineKind.IMAGE:
            return bitmaps.to_image(line.width_dots, line.height_dots, line.bitmap), line
        if line.kind is LineKind.QR:
            return self._qr(line), line
        if line.kind is LineKind.BARCODE:
            return self._barcode(line), line
        return self._placeholder(line), line

    def _cell(self, span: Span) -> tuple[int, int]:
        width, height = self.geometry.cell("C" if span.cjk else span.font)
        return width * span.width, height * span.height

    # -- text ---------------------------------------------------------------

    def _draw_text(self, paper: Image.Image, line: RenderedLine, top: int) -> None:
        if not line.spans:
            return
        cells = [self._cell(span) for span in line.spans]
        starts = []  # each span's first dot from the left margin (ESC $ / ESC \ or flowing)
        cursor = 0
        for span, (cell_w, _) in zip(line.spans, cells, strict=True):
            cursor = cursor if span.x is None else span.x
            starts.append(cursor)
            cursor += cell_w * len(span.text)
        width = max(
            start + cell[0] * len(span.text)
            for start, span, cell in zip(starts, line.spans, cells, strict=True)
        )
        tallest = max(cell[1] for cell in cells)
        origin = self._x(line, width)
        for start, span, (cell_w, cell_h) in zip(starts, line.spans, cells, strict=True):
            x = origin + start
            face = "C" if span.cjk else span.font
            y = top + tallest - cell_h  # characters of a line share the baseline
            span_w = cell_w * len(span.text)
            if span.inverted:
                paper.paste(INK, (x, y, x + span_w, y + cell_h))
            ink = PAPER if span.inverted else INK
            for char in span.text:
                if char != " ":
                    mask = self.glyphs.scaled(char, face, span.bold, span.width, span.height)
                    paper.paste(ink, (x, y, x + cell_w, y + cell_h), mask)
                x += cell_w
            if span.underline:
                thickness = span.underline
                paper.paste(ink, (x - span_w, y + cell_h - thickness, x, y + cell_h))

    # -- codes ----------------------------------------------------------------

    def _qr(self, line: RenderedLine) -> Image.Image:
        data = line.raw or line.data.encode("utf-8")
        try:
            matrix = qr_matrix(data, line.ec_level or "L")
        except SymbolError as exc:
            self.problems.append(str(exc))
            return self._placeholder(line)
        size = len(matrix)
        symbol = Image.new("1", (size, size), PAPER)
        symbol.putdata([INK if dark else PAPER for row in matrix for dark in row])
        module = max(1, line.module or 3)
        return symbol.resize((size * module, size * module), Image.Resampling.NEAREST)

    def _barcode(self, line: RenderedLine) -> Image.Image:
        data = line.raw or line.data.encode("latin-1", "replace")
        try:
            pattern, text = barcode_dots(line.symbology, data, max(1, line.module or 2))
        except SymbolError as exc:
            self.problems.append(str(exc))
            return self._placeholder(line)
        bars_h = max(1, line.height_dots or 162)
        row = Image.new("1", (len(pattern), 1), PAPER)
        row.putdata([INK if bit == "1" else PAPER for bit in pattern])
        bars = row.resize((len(pattern), bars_h), Image.Resampling.NEAREST)
        if line.hri not in ("above", "below", "both"):
            return bars
        face = line.hri_font or "A"
        cell_w, cell_h = self.geometry.cell(face)
        caption = Image.new("1", (len(text) * cell_w, cell_h), PAPER)
        for index, char in enumerate(text):
            caption.paste(INK, (index * cell_w, 0), self.glyphs.mask(char, face, False))
        width = max(bars.width, caption.width)
        above = cell_h if line.hri in ("above", "both") else 0
        below = cell_h if line.hri in ("below", "both") else 0
        symbol = Image.new("1", (width, above + bars_h + below), PAPER)
        symbol.paste(bars, ((width - bars.width) // 2, above))
        caption_x = (width - caption.width) // 2
        if above:
            symbol.paste(caption, (caption_x, 0))
        if below:
            symbol.paste(caption, (caption_x, above + bars_h))
        return symbol

    def _placeholder(self, line: RenderedLine) -> Image.Image:
        """A labelled box for symbols the simulator does not draw (PDF417, MaxiCode ...)."""
        label = line.text
        cell_w, cell_h = self.geometry.font_b
        chars = max(1, min(len(label), (self.geometry.width - 8) // cell_w))
        box = Image.new("1", (chars * cell_w + 8, cell_h + 8), PAPER)
        ImageDraw.Draw(box).rectangle((0, 0, box.width - 1, box.height - 1), outline=INK)
        for index, char in enumerate(label[:chars]):
            mask = self.glyphs.mask(char, "C" if ord(char) > 0x2E80 else "B", False)
            if mask.size == (cell_w, cell_h):
                box.paste(INK, (4 + index * cell_w, 4), mask)
        return box


@functools.cache
def renderer_for(profile: PrinterProfile) -> PaperRenderer:
    """A shared renderer per profile (glyph caches are the expensive part)."""
    return PaperRenderer(profile)


def render_png(receipt: RenderedReceipt, profile: PrinterProfile) -> Image.Image:
    """The receipt as a 1-bit image one printer dot per pixel."""
    return renderer_for(profile).render(receipt)


def png_bytes(receipt: RenderedReceipt, profile: PrinterProfile) -> bytes:
    return renderer_for(profile).png(receipt)
