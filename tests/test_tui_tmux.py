"""``possim tui`` in a real terminal: tmux at 80x24, driven by send-keys.

A real process on a real pty (tmux's), so this waits on the pane's content
with a deadline, polling ``tmux capture-pane -p``: the only way to see what a
terminal shows. A private tmux server (``-L``) keeps the test off anyone's
sessions.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_tui_play import failing_copy
from tui_capture import decode_qr

from simulator.devices import cards
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario

POSSIM = Path(sys.executable).parent / "possim"
WAIT = 30.0  # real seconds for the pane to show what is expected
POLL = 0.05


class Pane:
    def __init__(self, server: str) -> None:
        self.server = server

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def text(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "pos")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "pos", *keys)

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True, check=False)

    def wait_for(self, *wanted: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            shown = self.text()
            if all(w in shown for w in wanted):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"the pane never showed {wanted!r}; it shows:\n{shown}")
            time.sleep(POLL)  # polling a real external process's screen


def start(tmp_path: Path, command: str, size: tuple[int, int] = (80, 24)) -> Pane:
    """``command`` in a fresh tmux pane (80x24 unless told) with TERM and the locale set."""
    if not POSSIM.exists():
        pytest.skip(f"no possim console script at {POSSIM} (pip install -e .)")
    pane = Pane(f"possim-test-{os.getpid()}-{tmp_path.name}")
    # -f /dev/null: no user config; -u: UTF-8 whatever the locale; 80x24 exactly.
    pane.tmux(
        "-u",
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "pos",
        "-x",
        str(size[0]),
        "-y",
        str(size[1]),
        f"env TERM=xterm-256color LANG=C.UTF-8 {command}",
    )
    return pane


@pytest.fixture
def pane(tmp_path: Path) -> Iterator[Pane]:
    pane = start(tmp_path, f"{POSSIM} tui --workdir {tmp_path / 'work'}")
    try:
        yield pane
    finally:
        pane.kill()


@pytest.mark.system_package("tmux")
def test_a_card_purchase_in_tmux_at_80x24(pane: Pane) -> None:
    pane.wait_for("type an amount, then OK", "card slot", "printer")
    assert pane.tmux("display", "-p", "-t", "pos", "#{pane_width}x#{pane_height}").strip() == (
        "80x24"
    )
    pane.keys("1", "2", "3", "4", "Enter")
    pane.wait_for("Choose payment", "RMB 12.34")
    pane.keys("Enter")  # OK: by card
    pane.wait_for("Insert or swipe card")
    pane.keys("i")
    pane.wait_for("Enter PIN")
    pane.keys(*cards.load("unionpay_debit").pin, "Enter")
    pane.wait_for("Remove card")
    pane.keys("r")
    # The approved (paid) screen, and the paper roll at the end of the second receipt.
    shown = pane.wait_for("Payment received", "2 receipt(s)")
    assert cards.load("unionpay_debit").pan not in shown
    # The roll on the whole screen: the e-receipt QR, drawn as printed, decodes off the pane.
    pane.keys("v")
    shown = pane.wait_for("E-RECEIPT", "✂")
    assert [qr.partition("/r/")[0] for qr in decode_qr(shown.splitlines())] == [
        "https://possim.invalid"
    ], shown
    assert cards.load("unionpay_debit").pan not in shown
    pane.keys("q")


@pytest.mark.system_package("tmux")
def test_play_exits_and_reports_like_possim_run(tmp_path: Path) -> None:
    """A failing scenario played in a terminal: exit code 1 and run_scenario's failure text."""
    scenario_file = failing_copy(tmp_path)
    expected = run_scenario(load_scenario(scenario_file), tmp_path / "headless")
    out, rc = tmp_path / "stdout.txt", tmp_path / "rc.txt"
    # Textual draws on stderr (the pane); the report goes to stdout (the file).
    command = (
        f"sh -c '{POSSIM} tui --play {scenario_file} --step-delay 0 --out {tmp_path / 'played'}"
        f" > {out}; echo $? > {rc}'"
    )
    pane = start(tmp_path, command)
    try:
        pane.wait_for("FAIL · q quits")
        pane.keys("q")
        deadline = time.monotonic() + WAIT
        while not (rc.exists() and rc.read_text().strip()):
            assert time.monotonic() < deadline, "possim tui --play did not exit"
            time.sleep(POLL)  # a real process's exit, seen through its file
    finally:
        pane.kill()
    assert rc.read_text().strip() == "1"
    report = out.read_text(encoding="utf-8")
    assert report.startswith(f"FAIL  {scenario_file}")
    assert expected.failure_text and expected.failure_text in report


@pytest.mark.system_package("tmux")
@pytest.mark.system_package("libzbar0")
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=lambda s: f"{s[0]}x{s[1]}")
def test_the_dynamic_qr_in_tmux_decodes_to_the_gateways_payload(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    """The pane as tmux holds it, painted cell by cell, read by zbar: the issued payload."""
    work = tmp_path / "work"
    pane = start(tmp_path, f"{POSSIM} tui --workdir {work}", size)
    try:
        pane.wait_for("card slot")
        pane.keys("1", "2", "3", "4", "Enter")
        pane.wait_for("Choose payment")
        pane.keys("3")  # WeChat dynamic QR
        pane.wait_for("WeChat Pay", "RMB 12.34")
        with sqlite3.connect(f"file:{work / 'ledger.sqlite'}?mode=ro", uri=True) as ledger:
            issued = [row[0] for row in ledger.execute("SELECT qr_payload FROM qr_transactions")]
        assert len(issued) == 1 and issued[0].startswith("000201")
        deadline = time.monotonic() + WAIT
        while (found := decode_qr(pane.text().splitlines())) != issued:
            assert time.monotonic() < deadline, f"zbar read {found} off the pane:\n{pane.text()}"
            time.sleep(POLL)  # the pane may still be drawing
        pane.keys("q")
    finally:
        pane.kill()
