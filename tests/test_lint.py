"""ruff's lint and format checks hold on the whole repository.

``make check`` runs them (``make lint``); CI runs ``make test`` only, so this
runs them too. mypy --strict stays in ``make check``: a cold run costs minutes
of CPU, too much for every test run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
RUFF = Path(sys.executable).with_name("ruff")
TIMEOUT = 300  # seconds: generous, the machine may be loaded

pytestmark = pytest.mark.skipif(
    not RUFF.exists() or not (REPOSITORY / "pyproject.toml").exists(),
    reason="ruff or the repository is not here (pip install -e '.[dev]' in a checkout)",
)


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=" ".join)
def test_ruff_finds_nothing(command: list[str]) -> None:
    result = subprocess.run(
        [str(RUFF), *command, "--no-cache", "."],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
