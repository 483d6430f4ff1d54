"""A receipt as the paper looks, in a terminal: text where the printer printed text,
and the printer's own drawing of its pictures (logo, barcode, QR) in half blocks.

Pure model code (no Textual). Each picture line is drawn by the virtual printer's
renderer (:class:`~simulator.devices.printer.render.png.PaperRenderer`, what
``possim render --png`` saves), cropped to its ink and scaled down to the panel:
a character cell is one pixel wide and two tall (U+2580 / U+2584 half blocks),
which keeps a printed square square. A QR or a barcode is scaled by its module
size exactly, so each module becomes one pixel and the code stays scannable off
the screen; a QR wider than the panel keeps its modules (the panel scrolls, ``v``
gives it the whole screen); a barcode still wider than the panel, and any image,
is resampled to its width (it looks like the paper; such a barcode may not scan).
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
from PIL import Image, ImageOps

from simulator.devices.printer.paper import LineKind, RenderedReceipt
from simulator.devices.printer.render.png import PaperRenderer
from simulator.tui.qr_art import half_blocks

# Light modules around a QR, painted white with the picture: one at the sides (the
# picture's padding, white too, adds a column each side), a row of two above and below.
QUIET_SIDE, QUIET_ROWS = 1, 2
BARCODE_ROWS = 6  # a 1D barcode's bars are squashed to this many rows (height carries no data)
INK_THRESHOLD = 128  # resampled grey below this is ink


@attrs.frozen
class Piece:
    """Consecutive text lines (``picture`` False) or one picture in half blocks."""

    text: str
    picture: bool


def paper_pieces(receipt: RenderedReceipt, renderer: PaperRenderer, width: int) -> list[Piece]:
    """The receipt as text and pictures, pictures at most ``width`` columns wide."""
    pieces: list[Piece] = []
    text: list[str] = []
    for line in receipt.lines:
        if line.kind is LineKind.TEXT:
            text.append(line.render(receipt.columns, receipt.column_dots))
            continue
        if text:
            pieces.append(Piece("\n".join(text), False))
            text = []
        hri = line.hri if line.kind is LineKind.BARCODE else ""
        if hri:  # its human-readable digits as text: squashed bars would smear them
            line = attrs.evolve(line, hri="")
        art = picture(renderer.render([line]), line.kind, line.module, width)
        if hri in ("above", "both"):
            pieces.append(Piece(line.data, False))
        pieces.append(Piece(art, True) if art else Piece(line.text, False))
        if hri in ("below", "both"):
            pieces.append(Piece(line.data, False))
    while text and not text[-1].strip():  # trailing blank paper, as RenderedReceipt.text
        text.pop()
    if text:
        pieces.append(Piece("\n".join(text), False))
    return pieces


def picture(paper: Image.Image, kind: LineKind, module: int, width: int) -> str:
    """One rendered line's ink as half blocks at most ``width`` columns wide, a QR one
    column a module whatever the width ("" if the line is blank)."""
    grey = paper.convert("L")
    box = ImageOps.invert(grey).getbbox()
    if box is None:
        return ""
    ink = grey.crop(box)
    coded = kind in (LineKind.QR, LineKind.BARCODE)
    if coded and module > 1:  # one pixel per module, exactly
        ink = ink.resize(
            (max(1, ink.width // module), max(1, ink.height // module)),
            Image.Resampling.NEAREST,
        )
    if kind is LineKind.BARCODE:
        ink = ink.resize((ink.width, min(ink.height, 2 * BARCODE_ROWS)), Image.Resampling.NEAREST)
    quiet = kind is LineKind.QR
    if ink.width > width and not quiet:  # a QR keeps its modules: the panel scrolls
        height = max(1, round(ink.height * width / ink.width))
        ink = ink.resize((width, height), Image.Resampling.LANCZOS)
    if quiet:
        ink = ImageOps.expand(ink, border=(QUIET_SIDE, QUIET_ROWS) * 2, fill=255)
    return half_blocks(list(_dark_rows(ink)))


def _dark_rows(image: Image.Image) -> Iterator[list[bool]]:
    pixels = image.tobytes()  # mode L: one byte a pixel, row after row
    for y in range(image.height):
        yield [value < INK_THRESHOLD for value in pixels[y * image.width : (y + 1) * image.width]]
