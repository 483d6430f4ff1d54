"""The conventions every ``possim`` command shares (docs/cli.md).

Exit statuses (0 pass, 1 failures, 2 usage or invalid input, 3 internal
error), one-line errors on stderr with no traceback unless ``--debug``, a
description for every subcommand, ``--version``, shell completion, a command
line that imports a subcommand only when it runs, and no temporary folders
left behind by python-escpos.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pickle
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator import cli
from simulator.bench import BENCHMARKS

REPO = Path(__file__).resolve().parent.parent
HEAVY = ("escpos", "textual", "aiohttp", "rich", "simulator.scenario.runner", "simulator.gateway")


def possim(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "possim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _helps(parser: argparse.ArgumentParser) -> dict[str, str]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {choice.dest: str(choice.help) for choice in action._choices_actions}
    return {}


def test_the_table_describes_each_command_as_the_command_itself_does() -> None:
    """`possim --help` lists the table; each command's own help must say the same."""
    full = cli.build_parser("*")
    assert _helps(full) == {command.name: command.help for command in cli.COMMANDS}


def test_every_subcommand_has_a_one_line_description() -> None:
    def walk(parser: argparse.ArgumentParser, path: str) -> list[str]:
        missing = []
        for name, sub in _subparsers(parser).items():
            where = f"{path} {name}"
            description = (sub.description or "").strip()
            if not description:
                missing.append(where)
            missing += walk(sub, where)
        return missing

    assert walk(cli.build_parser("*"), "possim") == []


def test_help_imports_no_subcommand(tmp_path: Path) -> None:
    """What keeps `possim --help` cheap (budget 0.3 s CPU: `possim bench startup`)."""
    probe = (
        "import sys\nfrom simulator.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    for args in ([], ["--help"], ["run", "--help"]):
        done = subprocess.run(
            [sys.executable, "-c", probe, *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        loaded = done.stdout.strip().splitlines()[-1].split()
        heavy = sorted(m for m in loaded if m.startswith(HEAVY))
        assert heavy == [], (args, heavy)


def test_the_benchmark_list_imports_no_benchmark(tmp_path: Path) -> None:
    """`possim bench` lists simulator.bench.BENCHMARKS: a table, not a package scan."""
    probe = (
        "import sys\nfrom simulator.cli import main\nmain(['bench'])\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    *listing, modules = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in listing] == [b.name for b in BENCHMARKS]
    assert [m for m in modules.split() if m.startswith("simulator.bench.")] == []


def test_the_benchmark_table_names_every_benchmark_module() -> None:
    import simulator.bench

    package = {
        f"simulator.bench.{info.name}" for info in pkgutil.iter_modules(simulator.bench.__path__)
    }
    measuring = {name for name in package if hasattr(importlib.import_module(name), "run")}
    assert sorted(benchmark.module for benchmark in BENCHMARKS) == sorted(measuring)
    names = [benchmark.name for benchmark in BENCHMARKS]
    assert names == sorted(set(names))  # listed in order, each once


def test_version_comes_from_the_package_metadata(tmp_path: Path) -> None:
    from importlib import metadata

    done = possim("--version", cwd=tmp_path)
    assert done.returncode == 0
    assert done.stdout.strip() == f"possim {metadata.version('possim')}"


def main(*args: str) -> int:
    """``possim ARGS`` in this process (argparse's own usage errors exit through SystemExit)."""
    try:
        return cli.main(list(args))
    except SystemExit as exit:
        return int(exit.code or 0)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("nosuch",), "invalid choice: 'nosuch'"),
        (("run", "missing.yaml"), "missing.yaml"),
        (("check", "missing.yaml"), "missing.yaml"),
        (("tui", "--card", "nosuchcard"), "--card 'nosuchcard' is not a catalogue card"),
        (("tui", "--config", "nosuch"), "no terminal configuration named 'nosuch'"),
        (("tui", "--play", "missing.yaml"), "missing.yaml"),
        (("bench", "nosuch"), "no benchmark 'nosuch'"),
        (("docs", "scenario"), "no page 'scenario': did you mean 'scenarios'?"),
        (("render", "missing.bin"), "missing.bin: no such file"),
        (("run", "x.yaml", "--printer-transport", "nfc"), "invalid choice: 'nfc'"),
        (("card", "serve", "nosuchcard"), "nosuchcard"),
    ],
)
def test_usage_and_invalid_input_exit_2_saying_what_was_wrong(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    says: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(*args) == 2
    out, err = capsys.readouterr()
    assert says in err
    assert "Traceback" not in err and out.strip() == ""


def test_an_invalid_scenario_exits_2_under_every_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("name: x\nsteps:\n  - sael: 1\n", encoding="utf-8")
    for args in (("run", "bad.yaml"), ("check", "bad.yaml"), ("tui", "--play", "bad.yaml")):
        assert main(*args) == 2, args
        out, err = capsys.readouterr()
        assert "bad.yaml:3: unknown step 'sael'" in out + err


def test_errors_are_one_line_on_stderr(tmp_path: Path) -> None:
    """As a user's terminal gets them: a separate process, nothing but the line on stderr."""
    for args in (("tui", "--card", "nosuchcard"), ("docs", "nosuch"), ("bench", "nosuch")):
        done = possim(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1, (args, done.stderr)
        assert done.stderr.startswith(f"possim {args[0]}: ")


def test_an_internal_error_is_3_and_debug_shows_the_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from simulator.cli import project

    def broken() -> dict[str, Path]:
        raise KeyError("a bug")

    monkeypatch.setattr(project, "pages", broken)
    assert cli.main(["docs"]) == 3
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("possim docs: internal error: KeyError: 'a bug'")
    assert "--debug" in line
    with pytest.raises(KeyError):
        cli.main(["--debug", "docs"])
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(KeyError):
        cli.main(["docs"])


def test_a_closed_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "possim", "docs", "scenarios"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()  # the reader left (`| head` that exited)
    assert process.wait(120) == cli.BROKEN_PIPE
    assert process.stderr.read() == b""


def test_shell_completion_offers_commands_options_and_lazy_choices(tmp_path: Path) -> None:
    def complete(line: str) -> list[str]:
        out = tmp_path / "completions"
        env = dict(os.environ, _ARGCOMPLETE="1", COMP_LINE=line, COMP_POINT=str(len(line)))
        env["_ARGCOMPLETE_STDOUT_FILENAME"] = str(out)
        done = possim(cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        return [word.strip() for word in out.read_text().split("\013")]

    assert "run" in complete("possim ru")
    assert "--card-transport" in complete("possim run --car")
    assert complete("possim run --printer-transport ") == ["sim", "usb", "pty", "tcp"]


def test_run_help_names_the_transports_it_accepts(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.devices.printer.link import PRINTER_TRANSPORTS
    from simulator.devices.transports import SCANNER_TRANSPORTS

    with pytest.raises(SystemExit):
        cli.main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert f"--printer-transport {{{','.join(PRINTER_TRANSPORTS)}}}" in text
    assert f"--scanner-transport {{{','.join(SCANNER_TRANSPORTS)}}}" in text


def test_printing_leaves_no_temporary_folder_and_caches_escpos_capabilities(
    tmp_path: Path,
) -> None:
    """python-escpos makes a /tmp/tmpXXXXXXXX per importing process unless told otherwise."""
    scratch, cache = tmp_path / "tmp", tmp_path / "cache"
    scratch.mkdir()
    env = dict(os.environ, TMPDIR=str(scratch), POSSIM_CACHE_DIR=str(cache))
    env.pop("ESCPOS_CAPABILITIES_PICKLE_DIR", None)
    for _ in range(2):  # the first process writes the cache, the second reads it
        done = subprocess.run(
            [sys.executable, "-c", "import drivers.printer.escpos, escpos.capabilities as c\n"
             "print(c.pickle_dir)"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(cache / "escpos")
    assert list(scratch.iterdir()) == []
    (cached,) = (cache / "escpos").glob("*.capabilities.pickle")
    import yaml
    from escpos import capabilities

    database = Path(capabilities.__file__).with_name("capabilities.json")
    with cached.open("rb") as handle:  # what escpos would have parsed itself, exactly
        assert pickle.load(handle) == yaml.safe_load(database.read_text(encoding="utf-8"))
    assert json.loads(database.read_text(encoding="utf-8"))
