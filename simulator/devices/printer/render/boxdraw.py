"""Box-drawing and block characters drawn the way a printer's ROM font has them.

A printer's rules and frames (Epson code page 1's ``─│┌╭``..., CP437's ``═║╔``...)
run edge to edge of the character cell, so that a table printed line under line
with no line spacing (receiptline's ``ESC 3 0``) shows closed frames. An outline
font draws them as glyphs with side bearings; :func:`draw` draws them from their
strokes instead, and returns None for every other character.
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image, ImageDraw

# Arms up, right, down, left: 0 none, 1 light, 2 double.
_ARMS = {
    "─": "0101", "│": "1010", "┌": "0110", "┐": "0011", "└": "1100", "┘": "1001",
    "├": "1110", "┤": "1011", "┬": "0111", "┴": "1101", "┼": "1111",
    "═": "0202", "║": "2020", "╔": "0220", "╗": "0022", "╚": "2200", "╝": "2002",
    "╠": "2220", "╣": "2022", "╦": "0222", "╩": "2202", "╬": "2222",
    "╒": "0210", "╓": "0120", "╕": "0012", "╖": "0021", "╘": "1200", "╙": "2100",
    "╛": "1002", "╜": "2001", "╞": "1210", "╟": "2120", "╡": "1012", "╢": "2021",
    "╤": "0212", "╥": "0121", "╧": "1202", "╨": "2101", "╪": "1212", "╫": "2121",
}  # fmt: skip
# Light arcs: the corner's two arms, as a quarter circle.
_ARCS = {"╭": "0110", "╮": "0011", "╰": "1100", "╯": "1001"}
# Block elements: (left, top, right, bottom) as eighths of the cell.
_BLOCKS = {
    **{chr(0x2581 + n): (0, 7 - n, 8, 8) for n in range(8)},  # ▁ .. █: lower n+1 eighths
    **{chr(0x2589 + n): (0, 0, 7 - n, 8) for n in range(7)},  # ▉ .. ▏: left 7-n eighths
    "▀": (0, 0, 8, 4),
    "▐": (4, 0, 8, 8),
    "▔": (0, 0, 8, 1),
    "▕": (7, 0, 8, 8),
}
_SHADES: dict[str, Callable[[int, int], bool]] = {  # which dots of a shade are inked
    "░": lambda x, y: (x + 2 * (y % 2)) % 4 == 0,  # a quarter
    "▒": lambda x, y: (x + y) % 2 == 0,  # half
    "▓": lambda x, y: (x + 2 * (y % 2)) % 4 != 0,  # three quarters
}


def draw(char: str, width: int, height: int) -> Image.Image | None:
    """The character's cell as a 1-bit mask (1 = ink), or None if it is not a box character."""
    arms = _ARMS.get(char)
    if arms is not None:
        return _lines(arms, width, height)
    arc = _ARCS.get(char)
    if arc is not None:
        return _arc(arc, width, height)
    block = _BLOCKS.get(char)
    if block is not None:
        cell = Image.new("1", (width, height), 0)
        left, top, right, bottom = block
        box = (left * width // 8, top * height // 8, right * width // 8, bottom * height // 8)
        cell.paste(1, box)
        return cell
    shade = _SHADES.get(char)
    if shade is not None:
        cell = Image.new("1", (width, height), 0)
        cell.putdata([1 if shade(x, y) else 0 for y in range(height) for x in range(width)])
        return cell
    return None


def _stroke(width: int) -> int:
    return max(1, width // 6)  # 2 dots in a 12-dot cell


def _lines(arms: str, width: int, height: int) -> Image.Image:
    cell = Image.new("1", (width, height), 0)
    pen = _stroke(width)
    cx, cy = width // 2 - pen // 2, height // 2 - pen // 2  # the centre stroke's top-left
    gap = pen  # double lines: two thin strokes this far either side of the centre
    up, right, down, left = (int(arm) for arm in arms)
    for weight, vertical, start, end in (
        (up, True, 0, cy + pen),
        (down, True, cy, height),
        (left, False, 0, cx + pen),
        (right, False, cx, width),
    ):
        if weight == 1:
            box = (cx, start, cx + pen, end) if vertical else (start, cy, end, cy + pen)
            cell.paste(1, box)
        elif weight == 2:
            for offset in (-gap, gap):
                if vertical:
                    cell.paste(1, (cx + offset, start, cx + offset + 1, end))
                else:
                    cell.paste(1, (start, cy + offset, end, cy + offset + 1))
    return cell


def _arc(arms: str, width: int, height: int) -> Image.Image:
    """A rounded corner: a quarter circle joining the two arms' strokes."""
    cell = Image.new("1", (width, height), 0)
    pen = _stroke(width)
    cx, cy = width // 2 - pen // 2, height // 2 - pen // 2
    up, right, down, left = (arm == "1" for arm in arms)
    radius = width // 2 - 1
    # The circle's centre is diagonally off the cell centre, towards the two arms.
    ox = cx + (radius if right else -radius)
    oy = cy + (radius if down else -radius)
    ImageDraw.Draw(cell).ellipse(
        (ox - radius, oy - radius, ox + radius + pen - 1, oy + radius + pen - 1),
        outline=1,
        width=pen,
    )
    # Keep the quarter inside the corner and run the arms on to the cell edges.
    quarter = Image.new("1", (width, height), 0)
    quarter.paste(1, (min(cx, ox), min(cy, oy), max(cx, ox) + pen, max(cy, oy) + pen))
    drawn = Image.new("1", (width, height), 0)
    drawn.paste(cell, (0, 0), quarter)
    if down:
        drawn.paste(1, (cx, oy, cx + pen, height))
    if up:
        drawn.paste(1, (cx, 0, cx + pen, oy + pen))
    if right:
        drawn.paste(1, (ox, cy, width, cy + pen))
    if left:
        drawn.paste(1, (0, cy, ox + pen, cy + pen))
    return drawn
