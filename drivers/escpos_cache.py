"""python-escpos's capabilities cache, kept in possim's cache folder instead of a new temp dir.

On import, ``escpos.capabilities`` loads its printer database (a 1.6 MB JSON
file, parsed with PyYAML: ~0.5 s of CPU) unless a pickle of it sits in
``$ESCPOS_CAPABILITIES_PICKLE_DIR`` -- whose default is ``mkdtemp()``,
evaluated on every import even when the variable is set. So every process
that printed left an empty or pickle-holding ``/tmp/tmpXXXXXXXX/`` behind and
paid the full parse again.

:func:`install` (run by ``drivers/__init__.py``, before anything can import
escpos) adds an import hook for ``escpos.capabilities`` that, when -- and only
when -- it is first imported:

* points ``ESCPOS_CAPABILITIES_PICKLE_DIR`` at ``<cache>/escpos`` (the user's
  cache folder from platformdirs, ``$XDG_CACHE_HOME/possim`` on Linux, or
  ``$POSSIM_CACHE_DIR``), unless the user set it;
* writes the pickle there atomically if it is missing or older than the
  database (a concurrent reader never sees half a file, which escpos's own
  in-place write would allow);
* lets the module's ``mkdtemp()`` default return that folder instead of
  creating a directory nobody removes.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import types
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MODULE = "escpos.capabilities"
PICKLE_DIR_ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"
CACHE_ENV = "POSSIM_CACHE_DIR"


def cache_dir() -> Path:
    """possim's cache folder: ``$POSSIM_CACHE_DIR``, else the platform's user cache folder."""
    chosen = os.environ.get(CACHE_ENV)
    if chosen:
        return Path(chosen)
    import platformdirs

    return Path(platformdirs.user_cache_dir("possim", appauthor=False))


def install() -> None:
    """Add the import hook (once), unless escpos.capabilities is already imported."""
    if MODULE in sys.modules or any(isinstance(f, _Hook) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Hook())


class _Hook(importlib.abc.MetaPathFinder):
    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != MODULE:
            return None
        sys.meta_path.remove(self)  # one import; never in the way again
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or spec.origin is None:
            return spec
        spec.loader = _Loader(spec.loader, Path(spec.origin).with_name("capabilities.json"))
        return spec


class _Loader(importlib.abc.Loader):
    def __init__(self, loader: Any, database: Path) -> None:
        self._loader = loader
        self._database = database

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        created: types.ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: types.ModuleType) -> None:
        folder = _prepare(self._database)
        real = sys.modules.get("tempfile")
        if folder is None or real is None:
            self._loader.exec_module(module)
            return
        # The module runs `from tempfile import mkdtemp` and calls it once for a default
        # it does not use: hand it a tempfile whose mkdtemp names our folder, for the
        # duration of its import only (other threads keep their bound module).
        proxy = types.ModuleType("tempfile")
        proxy.__dict__.update(real.__dict__)
        proxy.mkdtemp = lambda *args, **kwargs: str(folder)  # type: ignore[attr-defined]
        sys.modules["tempfile"] = proxy
        try:
            self._loader.exec_module(module)
        finally:
            sys.modules["tempfile"] = real


def _prepare(database: Path) -> Path | None:
    """The pickle folder escpos will use, with a fresh pickle in it; None if there is none."""
    chosen = os.environ.get(PICKLE_DIR_ENV)
    folder = Path(chosen) if chosen else cache_dir() / "escpos"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # a read-only home: escpos falls back to its own temp folder
    os.environ[PICKLE_DIR_ENV] = str(folder)
    _write_pickle(database, folder)
    return folder


def _write_pickle(database: Path, folder: Path) -> None:
    """escpos's pickle of ``database``, written whole or not at all."""
    import json
    import pickle
    import platform
    import tempfile

    target = folder / f"{platform.python_version()}.capabilities.pickle"
    try:
        if target.is_file() and target.stat().st_mtime >= database.stat().st_mtime:
            return
        capabilities = json.loads(database.read_text(encoding="utf-8"))
        handle, scratch = tempfile.mkstemp(dir=folder, prefix=".capabilities-", suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as out:
                pickle.dump(capabilities, out, protocol=2)  # escpos's own protocol
            os.replace(scratch, target)
        except BaseException:
            Path(scratch).unlink(missing_ok=True)
            raise
    except (OSError, ValueError):
        return  # escpos parses its database itself, as it would without possim
