"""Shared test configuration.

Tests that need an optional system package (pcscd, espeak-ng, zbarimg ...)
carry ``@pytest.mark.system_package("name")``. Where the program is missing
they skip with the reason -- unless ``POSSIM_REQUIRE_SYSTEM=1`` (set by
``.ci/run``, which installs them), where a missing package fails the test so
CI never silently skips. ``module=`` checks a Python module instead of a
program: ``@pytest.mark.system_package("pyscard", module="smartcard")``, and
``path=`` a path under the repository (what an installer leaves behind):
``@pytest.mark.system_package("npm clients", path="tests/clients/npm/node_modules")``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from simulator.pcscd import PrivatePcscd

REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"
REPOSITORY = Path(__file__).parent.parent


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="system_package"):
        program = str(marker.args[0])
        module = marker.kwargs.get("module")
        path = marker.kwargs.get("path")
        if module is not None:
            if importlib.util.find_spec(str(module)) is not None:
                continue
        elif path is not None:
            if (REPOSITORY / str(path)).exists():
                continue
        elif shutil.which(program) is not None or _sbin(program):
            continue
        message = f"system package providing {program!r} is not installed"
        if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
            pytest.fail(f"{message} but {REQUIRE_SYSTEM_ENV}=1 requires it", pytrace=False)
        pytest.skip(f"{message} (install it, or see .ci/run)")


def _sbin(program: str) -> bool:
    """Daemons (pcscd) live in sbin, which a non-root PATH may leave out."""
    return any(os.access(os.path.join(d, program), os.X_OK) for d in ("/usr/sbin", "/sbin"))


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
