"""1-bit images the way ESC/POS sends them, kept as packed raster rows.

A bitmap is ``bytes``: rows top to bottom, each ``(width + 7) // 8`` bytes, most
significant bit leftmost, 1 = a black dot -- exactly the ``GS v 0`` data
layout, so raster images are kept byte for byte.
"""

from __future__ import annotations

from PIL import Image


def stride(width: int) -> int:
    return (width + 7) // 8


def to_image(width: int, height: int, bitmap: bytes) -> Image.Image:
    """A mode "1" image (black dots 0, paper 255) of a packed bitmap."""
    size = stride(width) * height
    data = bitmap[:size].ljust(size, b"\x00")
    return Image.frombytes("1", (width, height), data, "raw", "1;I")


def from_image(image: Image.Image) -> bytes:
    return image.convert("1").tobytes("raw", "1;I")


def raster(width_bytes: int, height: int, data: bytes, x_scale: int, y_scale: int) -> bytes:
    """``GS v 0`` / ``GS ( L`` raster data, scaled by the mode's 1x/2x factors."""
    if x_scale == 1 and y_scale == 1:
        return bytes(data[: width_bytes * height])
    width = width_bytes * 8
    image = to_image(width, height, data)
    return from_image(image.resize((width * x_scale, height * y_scale), Image.Resampling.NEAREST))


def columns(data: bytes, count: int, dots: int, x_scale: int, y_scale: int = 1) -> bytes:
    """``ESC *`` column data: ``count`` columns of ``dots`` (8 or 24) bits, top bit first.

    Each bit prints ``x_scale`` dots wide and ``y_scale`` dots high.
    """
    per_column = dots // 8
    image = Image.new("1", (count, dots), 255)
    pixels = image.load()
    assert pixels is not None
    for column in range(count):
        base = column * per_column
        for part in range(per_column):
            byte = data[base + part] if base + part < len(data) else 0
            if not byte:
                continue
            for bit in range(8):
                if byte & (0x80 >> bit):
                    pixels[column, part * 8 + bit] = 0
    if x_scale != 1 or y_scale != 1:
        image = image.resize((count * x_scale, dots * y_scale), Image.Resampling.NEAREST)
    return from_image(image)


def side_by_side(
    left: tuple[int, int, bytes], right: tuple[int, int, bytes], max_width: int | None = None
) -> tuple[int, int, bytes]:
    """Two bitmaps on one line, top-aligned; dots past ``max_width`` are dropped.

    ``ESC *`` in the ZJiang ZJ-58 user's manual (the generic_58mm family): "If
    the bit-image data input exceeds the number of dots to be printed on a
    line, the excess data is ignored" -- and a line that kept growing would be
    re-copied for every stripe added to it.
    """
    width = left[0] + right[0]
    if max_width is not None and width > max_width:
        width = max(left[0], max_width)
    height = max(left[1], right[1])
    image = Image.new("1", (width, height), 255)
    image.paste(to_image(*left), (0, 0))
    image.paste(to_image(*right), (left[0], 0))
    return width, height, from_image(image)


def stacked(top: tuple[int, int, bytes], bottom: tuple[int, int, bytes]) -> tuple[int, int, bytes]:
    """Two bitmaps of the same width, one under the other."""
    assert top[0] == bottom[0]
    size = stride(top[0])
    upper = top[2][: size * top[1]].ljust(size * top[1], b"\x00")
    lower = bottom[2][: size * bottom[1]].ljust(size * bottom[1], b"\x00")
    return top[0], top[1] + bottom[1], upper + lower
