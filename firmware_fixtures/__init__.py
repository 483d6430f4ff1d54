# possim-package: firmware_fixtures (possim/guard.py looks for this line; keep it)
"""possim's data: card images, vendor contracts, ISO 8583 specs, printer
profiles, terminal configurations. Data, not code: users add a card or a
profile by dropping a file here (or in a folder named by ``POSSIM_FIXTURES``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

_BUILTIN = Path(__file__).resolve().parent


def search_path() -> list[Path]:
    """Folders searched for fixtures: ``$POSSIM_FIXTURES`` entries, then built-ins."""
    extra = [Path(p) for p in os.environ.get("POSSIM_FIXTURES", "").split(os.pathsep) if p]
    return [*extra, _BUILTIN]


def builtin(*parts: str) -> Path:
    return _BUILTIN.joinpath(*parts)


def find(category: str, name: str, suffixes: tuple[str, ...]) -> Path | None:
    """The file for ``name`` in ``category`` (e.g. ``cards``/``unionpay_debit``).

    ``name`` may also be a path to a file anywhere.
    """
    direct = Path(name)
    if direct.suffix in suffixes and direct.is_file():
        return direct
    for folder in search_path():
        for suffix in suffixes:
            candidate = folder / category / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def names(category: str, suffixes: tuple[str, ...]) -> list[str]:
    found: set[str] = set()
    for folder in search_path():
        directory = folder / category
        if directory.is_dir():
            found.update(p.stem for p in directory.iterdir() if p.suffix in suffixes)
    return sorted(found)


def locate(
    category: str,
    name_or_path: str | Path,
    suffixes: tuple[str, ...],
    what: str,
    error: Callable[[str, str], Exception],
) -> Path:
    """Like :func:`find`, but a miss raises ``error(name, problem)`` saying
    where it looked and what is there, e.g. ``no card image named 'x' in ...``."""
    name = str(name_or_path)
    path = find(category, name, suffixes)
    if path is not None:
        return path
    if Path(name).suffix in suffixes:
        raise error(name, f"no such {what} file")
    folders = ", ".join(str(folder / category) for folder in search_path())
    known = ", ".join(names(category, suffixes)) or "none"
    raise error(name, f"no {what} named {name!r} in {folders} (known: {known})")
