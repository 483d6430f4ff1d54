"""The import layers in pyproject.toml's ``[tool.importlinter]`` hold.

``make check`` runs ``lint-imports`` (``make imports``); CI runs ``make test``
only, so this runs it too. The second test shows a contract is not vacuous: the
same "drivers know nothing of the simulator" contract, on a copy of ``drivers/``
with one module that imports the simulator, fails and names that import.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPOSITORY = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
TIMEOUT = 600  # seconds: grimp reads every module; the machine may be loaded

needs_import_linter = pytest.mark.skipif(
    not LINT_IMPORTS.exists(), reason="import-linter is not installed (pip install -e '.[dev]')"
)


def lint_imports(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


@needs_import_linter
def test_the_import_contracts_hold() -> None:
    result = lint_imports(REPOSITORY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@needs_import_linter
def test_a_driver_importing_the_simulator_breaks_the_contract(tmp_path: Path) -> None:
    config = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    contract = next(c for c in contracts if c["name"].startswith("drivers know nothing of"))
    shutil.copytree(REPOSITORY / "drivers", tmp_path / "drivers")
    (tmp_path / "simulator").mkdir()
    (tmp_path / "simulator" / "__init__.py").write_text("", encoding="utf-8")
    (tmp_path / "simulator" / "errors.py").write_text("class E(Exception): ...\n", "utf-8")
    (tmp_path / "drivers" / "wire" / "probe.py").write_text(
        "from simulator.errors import E\n", encoding="utf-8"
    )
    # Only the packages this copy has: import-linter refuses to forbid a module it cannot find.
    forbidden = [m for m in contract["forbidden_modules"] if m.split(".")[0] == "simulator"]
    lines = [
        "[importlinter]",
        "root_packages =",
        "    drivers",
        "    simulator",
        "[importlinter:contract:drivers]",
        f"name = {contract['name']}",
        f"type = {contract['type']}",
        "source_modules =",
        *(f"    {module}" for module in contract["source_modules"]),
        "forbidden_modules =",
        *(f"    {module}" for module in forbidden),
    ]
    (tmp_path / ".importlinter").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = lint_imports(tmp_path, "--config", str(tmp_path / ".importlinter"))
    assert result.returncode != 0, result.stdout
    assert "drivers.wire.probe -> simulator.errors" in result.stdout
