"""Shared test configuration.

Tests that need an optional system package (pcscd, espeak-ng, zbarimg ...)
carry ``@pytest.mark.system_package("name")``. Where the program is missing
they skip with the reason -- unless ``POSSIM_REQUIRE_SYSTEM=1`` (set by
``.ci/run``, which installs them), where a missing package fails the test so
CI never silently skips.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="system_package"):
        program = str(marker.args[0])
        if shutil.which(program) is not None:
            continue
        message = f"system package providing {program!r} is not installed"
        if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
            pytest.fail(f"{message} but {REQUIRE_SYSTEM_ENV}=1 requires it", pytrace=False)
        pytest.skip(f"{message} (install it, or see .ci/run)")
