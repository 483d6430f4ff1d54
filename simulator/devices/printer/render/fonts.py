"""The font the PNG renderer draws receipt text with.

Thermal printers carry a bitmap font with Chinese characters; the closest
thing on a Linux machine is a CJK outline font drawn without anti-aliasing.
:func:`find_font` looks, in order, at ``$POSSIM_FONT`` (``PATH`` or
``PATH:INDEX`` for a .ttc collection), then at the fonts Debian/Ubuntu ship
(``fonts-wqy-microhei`` first: its "Mono" face has half-width Latin letters like
a printer's 12 x 24 font A), then asks fontconfig (``fc-match :lang=zh``). With
none of those it falls back to Pillow's built-in font and warns: Chinese then
prints as boxes.

CI installs ``fonts-wqy-microhei``; the golden PNGs (tests/golden/) are drawn
with it (see :data:`PINNED_FONT`).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import warnings

import attrs
from PIL import ImageFont

FONT_ENV = "POSSIM_FONT"
PINNED_FONT = "WenQuanYi Micro Hei Mono"
# (path, face index in a collection), best first.
CANDIDATES: tuple[tuple[str, int], ...] = (
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 1),  # WenQuanYi Micro Hei Mono
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 1),  # WenQuanYi Zen Hei Mono
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc", 0),
    ("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf", 0),
    ("/usr/share/fonts/truetype/arphic/uming.ttc", 0),
)

FontType = ImageFont.FreeTypeFont | ImageFont.ImageFont


class FontWarning(UserWarning):
    """No CJK-capable font was found: Chinese text renders as boxes."""


@attrs.frozen
class FontSource:
    """Where the renderer's font comes from."""

    path: str | None  # None: Pillow's built-in font
    index: int = 0
    name: str = "Pillow default"

    @property
    def cjk(self) -> bool:
        return self.path is not None

    @property
    def pinned(self) -> bool:
        """True when this is the font the golden PNGs were drawn with."""
        return self.name == PINNED_FONT

    def load(self, size: int) -> FontType:
        if self.path is None:
            return ImageFont.load_default(size)
        return ImageFont.truetype(self.path, size, index=self.index)


@functools.cache
def find_font() -> FontSource:
    """The best CJK-capable font on this machine (cached for the process)."""
    override = os.environ.get(FONT_ENV)
    if override:
        path, index = override, 0
        head, colon, tail = override.rpartition(":")
        if colon and tail.isdigit():
            path, index = head, int(tail)
        source = _source(path, index)
        if source is not None:
            return source
        warnings.warn(f"${FONT_ENV}={override!r} is not a readable font", FontWarning, stacklevel=2)
    for path, index in CANDIDATES:
        source = _source(path, index)
        if source is not None:
            return source
    matched = _fontconfig_match()
    if matched is not None:
        return matched
    warnings.warn(
        "no CJK font found (install fonts-wqy-microhei): receipt PNGs draw Chinese as boxes",
        FontWarning,
        stacklevel=2,
    )
    return FontSource(None)


def _source(path: str, index: int) -> FontSource | None:
    if not os.path.isfile(path):
        return None
    try:
        font = ImageFont.truetype(path, 24, index=index)
    except OSError:
        return None
    family, _style = font.getname()
    return FontSource(path, index, str(family))


def _fontconfig_match() -> FontSource | None:
    program = shutil.which("fc-match")
    if program is None:
        return None
    try:
        found = subprocess.run(
            [program, "-f", "%{file}", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return _source(found, 0) if found else None
