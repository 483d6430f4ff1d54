"""The optional-system-package rule: skip with a reason, or fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from process_helpers import LEAN_PYTEST

pytest_plugins = ["pytester"]
INNER_SESSION = LEAN_PYTEST  # the plugins the inner sessions need (tests/process_helpers.py)

CONFTEST = (Path(__file__).parent / "conftest.py").read_text(encoding="utf-8")
TEST = """
import pytest

@pytest.mark.system_package("possim-no-such-program")
def test_needs_it():
    pass

@pytest.mark.system_package("sh")
def test_has_it():
    pass
"""


def test_missing_package_skips_with_a_reason(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POSSIM_REQUIRE_SYSTEM", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TEST)
    result = pytester.runpytest("-rs", *INNER_SESSION)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*possim-no-such-program*not installed*"])


def test_missing_package_fails_when_ci_requires_everything(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POSSIM_REQUIRE_SYSTEM", "1")
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(TEST)
    result = pytester.runpytest(*INNER_SESSION)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*POSSIM_REQUIRE_SYSTEM=1 requires it*"])
