"""On a machine without the optional system packages, the tests that need them skip.

``.ci/hide-system-packages`` covers every program, library and font of
possim's optional Debian packages with /dev/null in a private mount namespace:
installed on disk, unusable. Every test marked ``system_package`` then runs
there (``--system-package any``) and must skip, naming what it lacks -- or,
under ``POSSIM_REQUIRE_SYSTEM=1`` as CI sets, fail. (``.ci/run`` also runs the
whole suite that way.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from process_helpers import LEAN_PYTEST

ROOT = Path(__file__).resolve().parent.parent
HIDE = ROOT / ".ci" / "hide-system-packages"
REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"


def marked_files(package: str = "any") -> list[str]:
    """The test files that use the system_package marker (for ``package``, unless "any")."""
    here = Path(__file__).parent
    skip = {"conftest.py", "test_system_packages.py", Path(__file__).name}
    mark = "system_package(" if package == "any" else f'system_package("{package}")'
    return sorted(
        str(path.relative_to(ROOT))
        for path in here.glob("test_*.py")
        if path.name not in skip and mark in path.read_text(encoding="utf-8")
    )


def run_hidden(
    tmp_path: Path, *, require: bool, package: str = "any"
) -> dict[str, tuple[str, str]]:
    """Each marked test's outcome and message, run with every optional package hidden."""
    junit = tmp_path / ("required.xml" if require else "hidden.xml")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.pop(REQUIRE_SYSTEM_ENV, None)
    if require:
        env[REQUIRE_SYSTEM_ENV] = "1"
    command = [
        str(HIDE), "--", sys.executable, "-m", "pytest", "--system-package", package, "-q",
        *LEAN_PYTEST, f"--junitxml={junit}", f"--basetemp={tmp_path / ('r' if require else 'h')}",
        *marked_files(package),
    ]  # fmt: skip
    done = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert junit.is_file(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes: dict[str, tuple[str, str]] = {}
    for case in ET.parse(junit).iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        found = [child for child in case if child.tag in ("skipped", "failure", "error")]
        tag = found[0].tag if found else "passed"
        message = str(found[0].get("message", "")) if found else ""
        outcomes[name] = (tag, message)
    return outcomes


@pytest.mark.system_package("mount-namespaces")
def test_tests_needing_a_hidden_package_skip_saying_which(tmp_path: Path) -> None:
    outcomes = run_hidden(tmp_path, require=False)
    assert len(outcomes) > 50, outcomes  # zbar, pcscd, espeak-ng, tmux, font, pyscard tests
    not_skipped = {name: o for name, o in outcomes.items() if o[0] != "skipped"}
    assert not not_skipped, not_skipped
    for name, (_, message) in outcomes.items():
        assert "is not usable" in message or "cannot run here" in message, (name, message)
    reasons = " ".join(message for _, message in outcomes.values())
    for package in ("libzbar0", "pcscd", "espeak-ng", "tmux", "fonts-wqy-microhei", "pyscard"):
        assert f"system package {package!r}" in reasons, package


@pytest.mark.system_package("mount-namespaces")
def test_under_ci_a_hidden_package_fails_the_tests_that_need_it(tmp_path: Path) -> None:
    # One package is enough: every package goes through the same check (tests/conftest.py).
    outcomes = run_hidden(tmp_path, require=True, package="libzbar0")
    passed_or_skipped = {n: o for n, o in outcomes.items() if o[0] in ("passed", "skipped")}
    assert outcomes and not passed_or_skipped, passed_or_skipped
    assert all(REQUIRE_SYSTEM_ENV in message for _, message in outcomes.values())
