"""The `possim` console script, as users and CI call it."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
POSSIM = Path(sys.executable).with_name("possim")


def possim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(POSSIM), *args], capture_output=True, text=True, cwd=cwd, timeout=300, check=False
    )


def test_run_writes_junit_with_one_passing_testcase(tmp_path: Path) -> None:
    done = possim(
        "run", str(REPO / "scenarios" / "card_purchase.yaml"), "--junit", "r.xml", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout and "1 passed, 0 failed" in done.stdout
    suite = ET.parse(tmp_path / "r.xml").getroot()
    cases = suite.findall("testcase")
    assert len(cases) == 1
    assert cases[0].find("failure") is None and cases[0].find("error") is None
    # run.json and index.html go to the default output folder (docs/reports.md).
    assert (tmp_path / "possim-runs" / "run.json").is_file()
    assert (tmp_path / "possim-runs" / "index.html").is_file()


def test_run_fails_on_a_failing_and_on_a_malformed_scenario(tmp_path: Path) -> None:
    (tmp_path / "fails.yaml").write_text(
        "name: wrong expectation\nsteps:\n  - sale: '1.00'\n"
        "  - expect_screen: {screen: approved, within: 5s}\n",
        encoding="utf-8",
    )
    (tmp_path / "broken.yaml").write_text("name: x\nsteps:\n  - sael: 1\n", encoding="utf-8")
    alone = possim("run", str(tmp_path / "fails.yaml"), cwd=tmp_path)
    assert alone.returncode == 1  # a scenario failed
    done = possim("run", str(tmp_path), "--junit", "r.xml", cwd=tmp_path)
    assert done.returncode == 2  # and one is invalid: invalid input wins, as in pytest
    assert "FAIL" in done.stdout and f"{tmp_path / 'fails.yaml'}:4:" in done.stdout
    assert f"{tmp_path / 'broken.yaml'}:3: unknown step 'sael'" in done.stdout
    suite = ET.parse(tmp_path / "r.xml").getroot()
    assert (suite.get("failures"), suite.get("errors")) == ("1", "1")


def test_demo_prints_receipt_and_announcement(tmp_path: Path) -> None:
    done = possim("demo", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "POS签购单" in done.stdout
    assert "621483******3655" in done.stdout
    assert "收款成功，十二点三四元" in done.stdout
    assert "0210" in done.stdout


# Every benchmark running (and printing its figure last): tests/test_wheel.py, from the wheel.
def test_bench_lists_the_purchase_benchmark(tmp_path: Path) -> None:
    done = possim("bench", cwd=tmp_path)
    assert done.returncode == 0
    assert "purchase" in done.stdout
