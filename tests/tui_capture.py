"""What a TUI shows, as text and as a picture a QR reader can read.

A capture is the screen's character cells (Textual's compositor under a pilot,
or ``tmux capture-pane`` for a real process). :func:`cells_to_png` paints the
block elements of those cells the way a terminal font draws them (Unicode's
Block Elements chart: U+2580 upper half, U+2584 lower half, U+2588 full, the
quadrants U+2596-U+259F) in the foreground colour -- the TUI draws its QR
black on white -- and every other cell light, so zbar reads exactly the
modules on screen: a QR clipped by the layout does not decode.
"""

from __future__ import annotations

from typing import Any

from PIL import Image, ImageDraw
from textual.app import App

CELL_WIDTH, CELL_HEIGHT = 8, 16  # a terminal cell is about twice as tall as wide
MARGIN = 4  # cells of light around the capture
# Each block element as the (column, row) quarters it darkens, in a 2x2 cell grid.
_QUARTERS = {
    "▀": ((0, 0), (1, 0)),
    "▄": ((0, 1), (1, 1)),
    "█": ((0, 0), (1, 0), (0, 1), (1, 1)),
    "▌": ((0, 0), (0, 1)),
    "▐": ((1, 0), (1, 1)),
    "▘": ((0, 0),),
    "▝": ((1, 0),),
    "▖": ((0, 1),),
    "▗": ((1, 1),),
    "▚": ((0, 0), (1, 1)),
    "▞": ((1, 0), (0, 1)),
    "▛": ((0, 0), (1, 0), (0, 1)),
    "▜": ((0, 0), (1, 0), (1, 1)),
    "▙": ((0, 0), (0, 1), (1, 1)),
    "▟": ((1, 0), (0, 1), (1, 1)),
}


def shown_lines(app: App[Any]) -> list[str]:
    """Every row of the app's screen as the terminal would show it."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def cells_to_png(lines: list[str]) -> Image.Image:
    width = max(map(len, lines), default=0) + 2 * MARGIN
    image = Image.new("L", (width * CELL_WIDTH, (len(lines) + 2 * MARGIN) * CELL_HEIGHT), 255)
    draw = ImageDraw.Draw(image)
    half_w, half_h = CELL_WIDTH // 2, CELL_HEIGHT // 2
    for row, line in enumerate(lines, MARGIN):
        for column, char in enumerate(line, MARGIN):
            for qx, qy in _QUARTERS.get(char, ()):
                left = column * CELL_WIDTH + qx * half_w
                top = row * CELL_HEIGHT + qy * half_h
                draw.rectangle((left, top, left + half_w - 1, top + half_h - 1), fill=0)
    return image


def decode_qr(lines: list[str]) -> list[str]:
    """The payloads of the QR codes zbar finds in the capture."""
    from pyzbar.pyzbar import ZBarSymbol, decode

    found = decode(cells_to_png(lines), symbols=[ZBarSymbol.QRCODE])
    return [symbol.data.decode("utf-8") for symbol in found]
