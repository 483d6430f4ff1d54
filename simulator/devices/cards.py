"""The card catalogue: card images by name (``unionpay_debit``) or path, loaded once.

Images live in ``firmware_fixtures/cards/`` and in the folders named by
``POSSIM_FIXTURES`` (:mod:`drivers.fixtures`); :mod:`simulator.devices.card_image_yaml`
reads one, :mod:`simulator.devices.card_image` is what it reads into. A malformed
image raises :class:`~simulator.errors.FixtureError` with the file, the field and
the line.

    >>> load("unionpay_debit").masked_pan
    '621483******3655'
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from drivers import fixtures
from simulator.errors import FixtureError

if TYPE_CHECKING:  # the parser is imported with the first card read: listing names needs none
    from simulator.devices.card_image import CardImage

CATEGORY = "cards"
SUFFIXES = (".yaml", ".yml")

# Loaded images by (file, mtime, size): a scenario library loads each card once.
_cache: dict[tuple[str, int, int], CardImage] = {}
_cache_lock = threading.Lock()


def load(name_or_path: str | Path) -> CardImage:
    """The image named ``name_or_path`` (``unionpay_debit``) or at that path."""
    path = fixtures.locate(CATEGORY, name_or_path, SUFFIXES, "card image", FixtureError)
    text = fixtures.read_text(path, error=FixtureError)
    try:
        stat = path.stat()
    except OSError as exc:
        raise FixtureError(path, f"cannot read: {exc.strerror or exc}") from None
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    image = parse(text, path)
    with _cache_lock:
        _cache[key] = image
    return image


def parse(text: str, path: Path | str = "<card image>") -> CardImage:
    """A card image from YAML text (``path`` only names it in errors)."""
    from simulator.devices import card_image_yaml

    return card_image_yaml.parse(text, Path(path))


def names() -> list[str]:
    """The catalogue's card names, sorted."""
    return fixtures.names(CATEGORY, SUFFIXES)


def find(name_or_path: str | Path) -> Path | None:
    """The file of the image named ``name_or_path``, or at that path; None if none."""
    return fixtures.find(CATEGORY, str(name_or_path), SUFFIXES)
