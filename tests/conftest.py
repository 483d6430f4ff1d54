"""Shared test configuration.

Tests that need an optional system package (pcscd, espeak-ng, libzbar0 ...)
carry ``@pytest.mark.system_package("name")``. Where the package is missing
they skip with the reason -- unless ``POSSIM_REQUIRE_SYSTEM=1`` (set by
``.ci/run``, which installs them), where a missing package fails the test so
CI never silently skips.

"Missing" means *does not work here*, not only "not found": a library must
load (pyzbar imports, and libzbar0 loads through ctypes), a program must run
(``pcscd --version``), the font must be the one the golden images were drawn
with. :data:`SYSTEM_PACKAGES` says how each package is checked; a name not
in it is a program looked up on PATH (and in sbin), or with ``module=`` a
Python module, and with ``path=`` a path under the repository that an
installer leaves behind (``path="tests/clients/npm/node_modules"``).
``.ci/hide-system-packages`` runs a command with every optional package made
unavailable, and ``tests/test_fresh_machine.py`` proves with it
that such tests skip instead of failing.

``--system-package NAME`` runs only the tests that need NAME (``any``: every
test that needs one).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import drivers  # noqa: F401  -- first: python-escpos's capabilities cache goes to possim's

if TYPE_CHECKING:
    from simulator.pcscd import PrivatePcscd

REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"
REPOSITORY = Path(__file__).parent.parent

MARKER = "system_package"


def _program_runs(program: str, *args: str) -> str | None:
    path = shutil.which(program) or _sbin(program)
    if path is None:
        return f"{program} is not installed"
    try:
        done = subprocess.run(
            [path, *args], capture_output=True, timeout=30, check=False, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        return f"{path} does not run: {exc.strerror or exc}"
    except subprocess.TimeoutExpired:
        return f"{path} {' '.join(args)} did not answer within 30 s"
    if done.returncode != 0:
        return f"{path} {' '.join(args)} exited {done.returncode}"
    return None


def _zbar() -> str | None:
    """pyzbar imports *and* loads libzbar0 (pyzbar only finds it when first used)."""
    try:
        from pyzbar import zbar_library

        zbar_library.load()
    except ImportError as exc:
        return f"pyzbar cannot load libzbar: {exc}"
    except OSError as exc:
        return f"libzbar does not load: {exc}"
    return None


def _pyscard() -> str | None:
    """pyscard's extension imports and libpcsclite1, which it opens on first use, loads."""
    import ctypes
    import ctypes.util

    try:
        importlib.import_module("smartcard.scard")
    except ImportError as exc:
        return f"pyscard does not load: {exc}"
    try:
        ctypes.CDLL(ctypes.util.find_library("pcsclite") or "libpcsclite.so.1")
    except OSError as exc:
        return f"libpcsclite does not load: {exc}"
    return None


def _pinned_font() -> str | None:
    from simulator.devices.printer.render.fonts import PINNED_FONT, find_font

    font = find_font()
    if font.pinned:
        return None
    return f"the golden PNGs are drawn with {PINNED_FONT!r}; this machine has {font.name!r}"


def _vpcd_driver() -> str | None:
    from simulator.pcscd import find_vpcd_driver

    if shutil.which("vpcd-config") is None or find_vpcd_driver() is None:
        return "vsmartcard's vpcd (vpcd-config and its pcscd driver) is not installed"
    return None


def _mount_namespaces() -> str | None:
    """What .ci/hide-system-packages needs: root, unshare and dpkg (Debian/Ubuntu)."""
    if os.geteuid() != 0:
        return "hiding packages in a private mount namespace needs root"
    missing = [tool for tool in ("unshare", "dpkg") if shutil.which(tool) is None]
    return f"{', '.join(missing)} not installed" if missing else None


# How each optional system package is checked: None when it works, else why not.
SYSTEM_PACKAGES: dict[str, Callable[[], str | None]] = {
    "mount-namespaces": _mount_namespaces,
    "libzbar0": _zbar,
    "pyscard": _pyscard,
    "fonts-wqy-microhei": _pinned_font,
    "pcscd": lambda: _program_runs("pcscd", "--version"),
    "vpcd-config": _vpcd_driver,
    "vicc": lambda: _program_runs("vicc", "--help"),
    "espeak-ng": lambda: _program_runs("espeak-ng", "--version"),
    "tmux": lambda: _program_runs("tmux", "-V"),
    # Debian's chromium, which Playwright drives (tests/test_tui_browser.py).
    "chromium": lambda: _program_runs("chromium", "--version"),
}


@functools.cache
def system_problem(name: str, module: str | None = None, path: str | None = None) -> str | None:
    """Why the system package ``name`` cannot be used here (None: it can)."""
    check = SYSTEM_PACKAGES.get(name)
    if check is not None:
        return check()
    if path is not None:
        found = (REPOSITORY / path).exists()
        return None if found else f"{path} is not there (`make test` installs it)"
    if module is not None:
        found = importlib.util.find_spec(module) is not None
        return None if found else f"the Python module {module!r} is not installed"
    if shutil.which(name) is None and _sbin(name) is None:
        return "not installed"
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--system-package",
        metavar="NAME",
        help="run only the tests that need the optional system package NAME (any: all of them)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = config.getoption("--system-package")
    if wanted is None:
        return
    kept, dropped = [], []
    for item in items:
        names = {str(m.args[0]) for m in item.iter_markers(name=MARKER)}
        (kept if names and (wanted == "any" or wanted in names) else dropped).append(item)
    config.hook.pytest_deselected(items=dropped)
    items[:] = kept


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name=MARKER):
        name = str(marker.args[0])
        module, path = marker.kwargs.get("module"), marker.kwargs.get("path")
        problem = system_problem(
            name, None if module is None else str(module), None if path is None else str(path)
        )
        if problem is None:
            continue
        message = f"system package {name!r} is not usable: {problem}"
        if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
            pytest.fail(f"{message}; {REQUIRE_SYSTEM_ENV}=1 requires it", pytrace=False)
        pytest.skip(f"{message} (install it, or see .ci/run)")


def _sbin(program: str) -> str | None:
    """Daemons (pcscd) live in sbin, which a non-root PATH may leave out."""
    for folder in ("/usr/sbin", "/sbin"):
        path = os.path.join(folder, program)
        if os.access(path, os.X_OK):
            return path
    return None


@pytest.fixture(scope="session")
def private_pcscd() -> Iterator[PrivatePcscd]:
    """The test process's own pcscd with vpcd (see simulator/pcscd/).

    Session-wide because libpcsclite reads PCSCLITE_CSOCK_NAME once per
    process: every PC/SC test in this run talks to this daemon. Tests using it
    carry the pcscd / vpcd-config / pyscard system_package markers; anything
    else missing (root, unshare) skips -- or fails under POSSIM_REQUIRE_SYSTEM=1.
    """
    from simulator.pcscd import PcscdError, missing_requirements, shared_private_pcscd

    problems = missing_requirements()
    if problems:
        message = "a private pcscd cannot run here: " + "; ".join(problems)
        if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        daemon = shared_private_pcscd()
    except PcscdError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield daemon  # stopped at exit: the process may not start another


@dataclass(frozen=True)
class LibraryRun:
    """``possim run scenarios/ --verbose --junit`` over the whole library, once per session."""

    out: Path
    junit: Path
    console: bytes
    returncode: int
    artifacts: dict[Path, Path]  # scenario file -> its artifacts folder


@pytest.fixture(scope="session")
def library_run(tmp_path_factory: pytest.TempPathFactory) -> LibraryRun:
    """The whole library through ``possim run`` in its own process, shared by the tests
    that read what such a run leaves (tests/test_hygiene.py, tests/test_scenarios.py)."""
    folder = tmp_path_factory.mktemp("library-run")
    out, junit = folder / "runs", folder / "report.xml"
    library = Path(__file__).resolve().parent.parent / "scenarios"
    command = [sys.executable, "-m", "possim", "run", str(library), "--out", str(out)]
    completed = subprocess.run(
        [*command, "--junit", str(junit), "--verbose"],
        capture_output=True, cwd=folder, timeout=600, check=False,
    )  # fmt: skip
    artifacts: dict[Path, Path] = {}
    if (out / "run.json").is_file():
        record = json.loads((out / "run.json").read_text(encoding="utf-8"))
        for scenario in record["scenarios"]:
            artifacts[Path(scenario["file"])] = (out / scenario["artifacts"]).resolve()
    return LibraryRun(
        out, junit, completed.stdout + completed.stderr, completed.returncode, artifacts
    )
