"""Are the ``simulator``, ``drivers`` and ``firmware_fixtures`` this process would import possim's?

possim installs them next to this package. A user's own ``simulator/`` earlier
on ``sys.path`` (the current folder under ``python -m``, a test root pytest
inserted) hides possim's; another distribution with a package of the same name
overwrites possim's files. Either way possim cannot run, and the traceback that
would follow names neither cause: :func:`problem` says which package, where,
and what to do, in one line, without importing anything.

A possim package is recognised by its place (beside this package: the same
site-packages, or the same checkout) and by :data:`MARKER` in its
``__init__.py`` (a file another distribution overwrote lacks it).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGES = ("simulator", "drivers", "firmware_fixtures")
MARKER = "possim-package:"
_HOME = Path(__file__).resolve().parent.parent  # where possim's packages sit


class ShadowedPackage(ImportError):
    """One of possim's packages resolves to someone else's: the message says whose, where."""


def problem() -> str | None:
    """Why possim's packages cannot be imported here, in one line; None when they can."""
    for name in PACKAGES:
        found = _problem_with(name)
        if found is not None:
            return found
    return None


def check() -> None:
    """Raise :class:`ShadowedPackage` when :func:`problem` finds one."""
    found = problem()
    if found is not None:
        raise ShadowedPackage(found)


def _problem_with(name: str) -> str | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError) as exc:
        return f"possim: cannot look up its `{name}` package: {exc}"
    if spec is None or spec.origin is None:
        return f"possim: its `{name}` package is missing from {_HOME}: reinstall possim"
    origin = Path(spec.origin).resolve()
    if origin.name != "__init__.py" or origin.parent.parent != _HOME:
        found = origin.parent if origin.name == "__init__.py" else origin
        return (
            f"possim: `import {name}` finds {found}, not possim's {_HOME / name}: rename that "
            'package or take its folder off sys.path (README, "Import names")'
        )
    try:
        head = origin.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError as exc:
        return f"possim: cannot read {origin}: {exc.strerror or exc}"
    if MARKER not in head:
        owner = _owner(name)
        return (
            f"possim: {origin} is not possim's: {owner or 'another distribution'} installed "
            f"its own `{name}` package over possim's; uninstall it, then "
            "`pip install --force-reinstall possim`"
        )
    return None


def _owner(name: str) -> str | None:
    """The other installed distribution that ships ``name/__init__.py``, as ``name version``."""
    from importlib import metadata

    wanted = f"{name}/__init__.py"
    for distribution in metadata.distributions():
        if distribution.metadata["Name"] == "possim":
            continue
        if any(str(path) == wanted for path in distribution.files or ()):
            return f"the distribution {distribution.metadata['Name']} {distribution.version}"
    return None
