"""A QR code as text: block characters a phone can scan off a terminal.

Pure model code (no Textual). Two modules per character cell vertically
(half blocks) when the width allows, else two by two (quadrant blocks), so a
dynamic QR of an EMVCo payload fits the 36-column terminal screen at 80x24.
Drawn dark-on-light: the caller paints it black on white.
"""

from __future__ import annotations

QUIET_ZONE = 1  # module of light border: the QR must fit 80x24 (painted white anyway)
# Quadrant characters indexed by the bits (top-left 1, top-right 2, bottom-left 4,
# bottom-right 8) of the dark modules in a 2x2 block.
_QUADRANTS = " ▘▝▀▖▌▞▛▗▚▐▜▄▙▟█"
_HALVES = {(False, False): " ", (True, False): "▀", (False, True): "▄", (True, True): "█"}


def qr_matrix(payload: str) -> list[list[bool]]:
    """The code's modules (True = dark), quiet zone included."""
    import qrcode  # with the first QR, not before the first paint
    from qrcode.constants import ERROR_CORRECT_L

    code = qrcode.QRCode(error_correction=ERROR_CORRECT_L, border=QUIET_ZONE)
    code.add_data(payload)
    code.make(fit=True)
    return [[bool(module) for module in row] for row in code.get_matrix()]


def qr_text(payload: str, max_width: int | None = None) -> str:
    """``payload`` as lines of block characters, at most ``max_width`` columns if it can."""
    matrix = qr_matrix(payload)
    if max_width is None or len(matrix) <= max_width:
        return half_blocks(matrix)
    return _quadrants(matrix)


def _pad(matrix: list[list[bool]]) -> list[list[bool]]:
    """Even rows and columns, padded with light modules."""
    width = len(matrix[0]) + len(matrix[0]) % 2
    rows = [row + [False] * (width - len(row)) for row in matrix]
    if len(rows) % 2:
        rows.append([False] * width)
    return rows


def half_blocks(matrix: list[list[bool]]) -> str:
    rows = _pad(matrix)
    return "\n".join(
        "".join(_HALVES[(top, bottom)] for top, bottom in zip(upper, lower, strict=True))
        for upper, lower in zip(rows[::2], rows[1::2], strict=True)
    )


def _quadrants(matrix: list[list[bool]]) -> str:
    rows = _pad(matrix)
    lines = []
    for upper, lower in zip(rows[::2], rows[1::2], strict=True):
        cells = []
        for x in range(0, len(upper), 2):
            bits = upper[x] | upper[x + 1] << 1 | lower[x] << 2 | lower[x + 1] << 3
            cells.append(_QUADRANTS[bits])
        lines.append("".join(cells))
    return "\n".join(lines)
