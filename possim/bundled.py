"""Where the files possim ships beside its code are: the scenario library and the docs.

In a wheel they are package data under this package (``possim/scenarios``,
``possim/docs``; setup.py maps the repository's ``scenarios/`` and ``docs/``
there); in a source tree (a checkout, an editable install) they are the
repository's own folders.
"""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


class NotBundled(FileNotFoundError):
    """This installation lacks a folder it should ship (a broken install)."""


def folder(name: str) -> Path:
    """``possim/<name>`` of a wheel, or ``<checkout>/<name>`` of a source tree."""
    installed = _HERE / name
    if installed.is_dir():
        return installed
    checkout = _HERE.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / name).is_dir():
        return checkout / name
    raise NotBundled(f"possim's {name}/ folder is missing from {_HERE}: reinstall possim")


def scenarios() -> Path:
    """The scenario library."""
    return folder("scenarios")


def docs() -> Path:
    """The reference pages (``*.md``) and the scenario JSON Schema."""
    return folder("docs")
