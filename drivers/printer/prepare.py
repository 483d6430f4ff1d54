r"""What a document's items become before python-escpos sends them.

Text is cleaned (control characters become ``?``, so data cannot inject
commands) and, when it holds wide characters, encoded for the double-byte
font (see :mod:`drivers.printer.escpos`); pictures are made black and white
(transparent pixels are paper), shrunk to the printer's dot width and encoded
as ``GS v 0`` raster bytes; CODE128 data gets its code set and an estimate of
its printed width. Receipts repeat their lines and logo copy after copy, so
text and logo files are worked out once (bounded caches).

>>> clean("A\x1b@B"), code128_data("20260115")
('A?@B', '{C\x14\x1a\x01\x0f')
"""

from __future__ import annotations

import contextlib
import functools
import io
import unicodedata
from pathlib import Path

from escpos.printer import Dummy
from PIL import Image as PILImage
from PIL import UnidentifiedImageError


def is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in ("W", "F")


_CONTROLS_TO_QUESTION_MARK = str.maketrans({code: "?" for code in (*range(0x20), 0x7F)})


def clean(text: str) -> str:
    """Text with control characters replaced, so data cannot inject commands."""
    return text.translate(_CONTROLS_TO_QUESTION_MARK)


def has_wide(text: str) -> bool:
    return not text.isascii() and any(is_wide(ch) for ch in text)


@functools.lru_cache(maxsize=4096)
def text_line(text: str, encoding: str | None) -> tuple[str, bytes | None, bytes | None]:
    """A text line's cleaned text, and the bytes it goes out as, where that is fixed.

    The second item is the double-byte text in ``encoding`` when the line has
    wide characters (see the module docstring), the third the line and its
    line feed in ASCII when it is plain ASCII. Receipts repeat most lines copy
    after copy, so this is worked out once per text, not per copy.
    """
    cleaned = clean(text)
    if encoding is not None and has_wide(cleaned):
        return cleaned, cleaned.encode(encoding, errors="replace"), None
    ascii_line = (cleaned + "\n").encode("ascii") if cleaned.isascii() else None
    return cleaned, None, ascii_line


@functools.lru_cache(maxsize=32)
def raster_file(path: Path, modified: int, dots: int | None) -> bytes:
    # A receipt logo prints on every copy: decode, convert and encode it once
    # per version of the file (``modified`` is part of the key), not per copy.
    try:
        with PILImage.open(path) as opened:
            opened.load()
            picture = monochrome(opened.copy())
    except UnidentifiedImageError as exc:
        raise ValueError(f"{path} is not an image file Pillow can read") from exc
    return raster(fit_width(picture, dots))


def fit_width(picture: PILImage.Image, dots: int | None) -> PILImage.Image:
    """Shrink rather than let the printer cut the right edge off (or python-escpos
    refuse it): a logo made for 80 mm still fits 58 mm."""
    if dots is None or picture.width <= dots:
        return picture
    height = max(1, round(picture.height * dots / picture.width))
    shrunk = picture.convert("L").resize((dots, height), PILImage.Resampling.LANCZOS)
    return shrunk.convert("1")


def raster(picture: PILImage.Image) -> bytes:
    """``GS v 0`` raster bytes for ``picture``, as python-escpos encodes them."""
    scratch = Dummy()
    # image() prints a warning to stdout when the capability profile has no
    # media width; the width was checked by fit_width.
    with contextlib.redirect_stdout(io.StringIO()):
        scratch.image(picture, impl="bitImageRaster", center=False)
    return bytes(scratch.output)


def monochrome(picture: PILImage.Image) -> PILImage.Image:
    if picture.mode == "1":
        return picture
    if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
        # Transparent pixels would turn black on conversion; they are paper.
        rgba = picture.convert("RGBA")
        paper = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        picture = PILImage.alpha_composite(paper, rgba)
    return picture.convert("L").convert("1")


def code128_width(code: str, module: int) -> int:
    """Approximate printed width in dots of python-escpos CODE128 data ({A/{B/{C)."""
    symbols = len(code) - code.count("{") + 1  # selectors are one symbol each, plus check
    return (symbols * 11 + 13) * module


def code128_data(data: str) -> str:
    """python-escpos CODE128 data: ``{C`` pairs for even-length digits, else ``{B``."""
    if data.startswith("{"):
        return data  # the caller chose code sets itself
    if len(data) >= 4 and len(data) % 2 == 0 and data.isdigit() and data.isascii():
        return "{C" + "".join(chr(int(data[i : i + 2])) for i in range(0, len(data), 2))
    return "{B" + data
