"""`possim run` options (docs/reports.md): --filter, --repeat, --seed, --fail-fast,
--report, the progress bar, and the rerun command printed for every failure."""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from simulator import cli
from simulator.scenario.loader import discover, load_scenario
from simulator.scenario.runner import run_scenario

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "scenarios"
POSSIM = Path(sys.executable).with_name("possim")

FAILS = "name: {name}\npurpose: fails\nsteps:\n  - sale: '1.00'\n  - expect_screen: approved\n"


def possim(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``possim ARGS`` in this process, from ``cwd``, its output captured.

    In process: a new one would import the whole simulation again (~2 s of CPU
    each). The console script itself: tests/test_cli.py, tests/test_wheel.py,
    and the progress bar test below (it needs a terminal).
    """
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(list(args))
            except SystemExit as exit:  # argparse's usage errors
                code = int(exit.code or 0)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["possim", *args], code, out.getvalue(), err.getvalue())


def _transcript(folder: Path) -> list[dict[str, Any]]:
    lines = (folder / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _record(folder: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    return loaded


def _auth_code(seed: int, tmp_path: Path) -> str:
    """The authorisation code the built-in host gives card_purchase.yaml under ``seed``."""
    result = run_scenario(load_scenario(LIBRARY / "card_purchase.yaml"), tmp_path, seed=seed)
    lines = (result.artifacts / "iso8583.jsonl").read_text(encoding="utf-8").splitlines()
    (reply,) = [
        m for m in map(json.loads, lines) if m["source"] == "host_link" and m["mti"] == "0210"
    ]
    code: str = reply["fields"]["38"]["value"]
    return code


def test_a_failure_prints_the_command_that_reproduces_it(tmp_path: Path) -> None:
    # The host's authorisation code depends on the seed: this scenario passes with
    # seed 1 only, so --repeat 3 (seeds 1, 2, 3) fails twice.
    code = _auth_code(1, tmp_path / "probe")
    assert code not in (_auth_code(2, tmp_path / "probe2"), _auth_code(3, tmp_path / "probe3"))
    scenario = tmp_path / "auth_code.yaml"
    scenario.write_text(
        "name: the seed-1 authorisation code\npurpose: passes with seed 1 only\nseed: 1\n"
        "steps:\n  - sale: '12.34'\n  - insert_card: unionpay_debit\n"
        "  - expect_screen: enter_pin\n  - enter_pin: card\n  - expect_screen: approved\n"
        f"  - remove_card:\n  - expect_receipt: {{copies: 2, contains: ['{code}']}}\n",
        encoding="utf-8",
    )
    done = possim("run", str(scenario), "--repeat", "3", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 passed, 2 failed" in done.stdout
    reruns = [line.split("rerun: ", 1)[1] for line in done.stdout.splitlines() if "rerun: " in line]
    assert reruns == [
        f"possim run {scenario} --seed {seed} --card-transport sim" for seed in (2, 3)
    ]
    record = _record(tmp_path / "out")
    assert [s["seed"] for s in record["scenarios"]] == [1, 2, 3]
    assert [s["result"] for s in record["scenarios"]] == ["passed", "failed", "failed"]
    assert record["scenarios"][1]["rerun"] == reruns[0]

    words = shlex.split(reruns[0])
    assert words[0] == "possim"
    again = possim(*words[1:], "--out", "again", cwd=tmp_path)
    assert again.returncode == 1
    assert "0 passed, 1 failed" in again.stdout
    assert _transcript(tmp_path / "again" / "auth_code") == _transcript(
        tmp_path / "out" / "repeat-02" / "auth_code"
    )


def test_a_fixed_seed_repeats_the_same_transcript(tmp_path: Path) -> None:
    path = str(LIBRARY / "card_purchase.yaml")
    done = possim("run", path, "--seed", "5", "--repeat", "2", "--out", "out", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    first = _transcript(tmp_path / "out" / "repeat-01" / "card_purchase")
    assert first == _transcript(tmp_path / "out" / "repeat-02" / "card_purchase")
    labels = [s["label"] for s in _record(tmp_path / "out")["scenarios"]]
    assert labels == [f"Card purchase, approved [run {i}/2, seed 5]" for i in (1, 2)]


def test_filter_by_glob_and_by_name_and_none(tmp_path: Path) -> None:
    # A private library: the shared one changes while people add scenarios.
    library = tmp_path / "library"
    library.mkdir()
    for source, copy in (
        ("card_purchase", "card_purchase"),
        ("card_purchase", "card_purchase_again"),
        ("card_purchase_declined", "card_purchase_declined"),
        ("qr_dynamic_wechat", "qr_dynamic_wechat"),
    ):
        text = (LIBRARY / f"{source}.yaml").read_text(encoding="utf-8")
        (library / f"{copy}.yaml").write_text(text, encoding="utf-8")
    files = discover([library])
    wanted = [p for p in files if fnmatch.fnmatchcase(p.stem, "card_purchase_*")]
    assert len(wanted) == 2
    done = possim("run", str(library), "--filter", "card_purchase_*", "--out", "g", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 of 4 scenario(s) match" in done.stdout
    ran = [s["file"] for s in _record(tmp_path / "g")["scenarios"]]
    assert ran == [str(p) for p in wanted]

    # A substring of the name (not of the file stem), in any case.
    done = possim("run", str(library), "--filter", "dynamic WECHAT", "--out", "n", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [s["file"] for s in _record(tmp_path / "n")["scenarios"]] == [
        str(library / "qr_dynamic_wechat.yaml")
    ]

    done = possim("run", str(library), "--filter", "no_such_*", cwd=tmp_path)
    assert done.returncode == 2
    assert "none of 4 scenario file(s) matches" in done.stderr


def test_fail_fast_stops_after_the_first_failure(tmp_path: Path) -> None:
    folder = tmp_path / "suite"
    folder.mkdir()
    for name in ("a_fails", "b_fails"):
        (folder / f"{name}.yaml").write_text(FAILS.format(name=name), encoding="utf-8")
    (folder / "c_passes.yaml").write_text(
        (LIBRARY / "card_purchase.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    done = possim("run", str(folder), "--fail-fast", "--out", "out", cwd=tmp_path)
    assert done.returncode == 1
    assert "--fail-fast: stopped after the first failure" in done.stdout
    assert [s["file"] for s in _record(tmp_path / "out")["scenarios"]] == [
        str(folder / "a_fails.yaml")
    ]
    done = possim("run", str(folder), "--out", "all", cwd=tmp_path)
    assert "1 passed, 2 failed" in done.stdout


def test_report_dir_holds_run_json_and_index_with_working_links(tmp_path: Path) -> None:
    done = possim(
        "run",
        str(LIBRARY / "card_purchase.yaml"),
        "--out",
        "artifacts",
        "--report",
        "reports/today",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    report = tmp_path / "reports" / "today"
    assert (report / "index.html").is_file() and not (tmp_path / "artifacts" / "run.json").exists()
    record = _record(report)
    for png in record["scenarios"][0]["receipts"]:
        assert (report / png).is_file()
        assert f'src="{png}"' in (report / "index.html").read_text(encoding="utf-8")
    assert f"report: {Path('reports/today/index.html')}" in done.stdout


def test_repeat_must_be_positive(tmp_path: Path) -> None:
    done = possim("run", str(LIBRARY / "card_purchase.yaml"), "--repeat", "0", cwd=tmp_path)
    assert done.returncode == 2
    assert "--repeat: expected 1 or more" in done.stderr


def test_progress_bar_on_a_terminal_plain_lines_otherwise(tmp_path: Path) -> None:
    args = [
        "run",
        str(LIBRARY / "card_purchase.yaml"),
        str(LIBRARY / "qr_wechat.yaml"),
        "--out",
        "out",
    ]
    plain = possim(*args, cwd=tmp_path)
    assert plain.returncode == 0
    assert "\x1b[" not in plain.stdout  # a pipe gets no terminal control codes
    assert plain.stdout.count("PASS  ") == 2

    master, slave = os.openpty()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120"}
    with subprocess.Popen(
        [str(POSSIM), *args],
        stdout=slave,
        stderr=slave,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,
        env=env,
    ) as child:
        os.close(slave)
        chunks: list[bytes] = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=300) == 0
    os.close(master)
    shown = b"".join(chunks).decode("utf-8", "replace")
    assert "\x1b[" in shown and "/2" in shown  # the bar, with done/total
    assert shown.count("PASS  ") == 2


def test_vendor_runs_the_library_against_another_acquiring_app(tmp_path: Path) -> None:
    # WangPOS has no card void: card_void.yaml says so (unsupported:) and passes.
    done = possim(
        "run", str(LIBRARY / "card_void.yaml"), "--vendor", "wangpos", "--out", "o", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    transcript = _transcript(tmp_path / "o" / "card_void")
    refused = [event for event in transcript if event["kind"] == "refused"]
    assert refused and "REQ_ERR_NO_SERVICE" in refused[0]["summary"]
    assert '"vendor": "wangpos"' in (tmp_path / "o" / "run.json").read_text(encoding="utf-8")
    wrong = possim("run", str(LIBRARY / "card_void.yaml"), "--vendor", "pax", cwd=tmp_path)
    assert wrong.returncode == 2 and "invalid choice: 'pax'" in wrong.stderr
