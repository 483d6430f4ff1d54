"""``possim run --host``: the scenario library against another acquirer host, on the real
clock. A separately started ``possim gateway serve`` stands in for the user's host;
scenarios whose steps need the built-in gateway's internals are skipped with the
reason, and the summary counts both."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from process_helpers import DEADLINE, LEAN_PYTEST, possim, start_like_a_background_job

from simulator.errors import ConfigError
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import builtin_gateway_need, host_url
from simulator.shop import Shop
from simulator.terminal.config import HostEndpoint, TerminalConfig

REPO = Path(__file__).resolve().parent.parent
SCENARIOS = REPO / "scenarios"
# Any host will do for these (magstripe_fallback.yaml's exact expect_gateway reads the
# wire); card_purchase_declined.yaml's amount is one of the built-in gateway's magic amounts.
RUNS = ("magstripe_fallback.yaml", "qr_wechat.yaml")
NEEDS_BUILTIN = "card_purchase_declined.yaml"
FAULTED = "card_reversal_pending_midway.yaml"


def test_the_library_runs_against_a_separately_started_host(tmp_path: Path) -> None:
    ledger = tmp_path / "host.sqlite"
    host = start_like_a_background_job(
        possim("gateway", "serve", "--quiet", "--iso8583-port", "0", "--qr-port", "0",
               "--ledger", str(ledger)),
        cwd=tmp_path,
    )  # fmt: skip
    try:
        port = host.wait_for(r"ISO 8583 .* listening on 127\.0\.0\.1:(\d+)").group(1)
        paths = [str(SCENARIOS / name) for name in (*RUNS, NEEDS_BUILTIN)]
        done = subprocess.run(
            possim("run", *paths, "--host", f"iso8583://127.0.0.1:{port}", "--junit", "r.xml"),
            capture_output=True,
            text=True,
            timeout=DEADLINE * 5,
            cwd=tmp_path,
            check=False,
        )
        inner = subprocess.run(
            [sys.executable, "-m", "pytest", *LEAN_PYTEST, "-q", "-rs", "-p", "no:xdist",
             "--basetemp", str(tmp_path / "inner"), paths[0], paths[2],
             "--pos-host", f"iso8583://127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=DEADLINE * 5,
            cwd=REPO,
            check=False,
        )  # fmt: skip
        host.interrupt()
    finally:
        host.stop()
    assert done.returncode == 0, done.stdout + done.stderr
    assert inner.returncode == 0, inner.stdout + inner.stderr
    summary = inner.stdout.strip().splitlines()[-1]
    assert re.match(r"\d+ passed, \d+ skipped in", summary), inner.stdout
    assert "is a magic amount of the built-in gateway" in inner.stdout
    assert "2 passed, 1 skipped (they need the built-in gateway), 0 failed" in done.stdout
    skip = next(line for line in done.stdout.splitlines() if line.startswith("SKIP"))
    assert f"{NEEDS_BUILTIN}:5: sale: RMB 20.51 is a magic amount" in skip
    # The card sale went to the other host: its ledger has it.
    with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT mti, amount, status FROM card_transactions").fetchall()
    # possim run's sale, then pytest's (one per variant of the scenario)
    assert len(rows) >= 2 and set(rows) == {("0200", 3000, "approved")}
    record = json.loads((tmp_path / "possim-runs" / "run.json").read_text(encoding="utf-8"))
    assert record["run"]["totals"]["skipped"] == 1 and record["run"]["totals"]["passed"] == 2
    assert 'skipped="1"' in (tmp_path / "r.xml").read_text(encoding="utf-8")


def test_steps_declare_what_needs_the_builtin_gateway() -> None:
    def need(name: str) -> str:
        return builtin_gateway_need(load_scenario(SCENARIOS / name))

    assert need("card_purchase_wrong_pin_retry.yaml") == ""
    assert need("card_purchase_declined.yaml").endswith(
        "card_purchase_declined.yaml:5: sale: RMB 20.51 is a magic amount of the built-in "
        "gateway (insufficient funds)"
    )
    assert "gateway_fault: injects a fault" in need(FAULTED)


def test_another_host_needs_the_real_clock(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="real clock"):
        Shop(TerminalConfig.load(), tmp_path, card_host=HostEndpoint("127.0.0.1", 9))


def test_a_run_against_another_host_names_it_fully_for_its_rerun() -> None:
    url = "iso8583://10.0.0.5:5800?spec=possim_ascii&tpdu=6000030000&header=4&mac=x919"
    host = HostEndpoint.parse(url)
    assert HostEndpoint.parse(host_url(host)) == host
