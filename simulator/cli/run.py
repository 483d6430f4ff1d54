"""``possim run``: run scenarios headless, print what happened, write the reports.

Every run writes ``run.json`` and ``index.html`` (to ``--report DIR``, by
default the ``--out`` folder) and, with ``--junit``, JUnit XML. Each failure
prints the command that reruns that scenario alone with the same seed and
transports -- and so the same transcript.

Seeds: a scenario runs with its own ``seed:``; ``--seed N`` replaces it for
every scenario. With ``--repeat N`` repetition ``i`` (0, 1, ...) runs with
seed + i -- so a repeat explores N seeds -- unless ``--seed`` fixes one, in
which case every repetition runs that seed (a determinism check).
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from simulator.cli import LazyChoice
from simulator.terminal.vendor_names import VENDORS

if TYPE_CHECKING:
    from rich.progress import Progress

    from simulator.errors import ScenarioError
    from simulator.scenario.model import Scenario
    from simulator.scenario.runner import ScenarioResult

# `possim run --help` imports none of the simulation: the choices load when checked.
PRINTER_TRANSPORT = LazyChoice("simulator.devices.transports:PRINTER_TRANSPORTS")
SCANNER_TRANSPORT = LazyChoice("simulator.devices.transports:SCANNER_TRANSPORTS")

DEFAULT_OUT = Path("possim-runs")
_GLOB = set("*?[")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subparsers.add_parser(
        "run",
        help="run scenarios headless and report",
        # The module docstring minus its title, without reST's literal quotes.
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("paths", nargs="+", type=Path, help="scenario files or folders")
    run.add_argument(
        "--filter",
        metavar="PATTERN",
        help="only scenarios whose name or file stem matches: a substring, or a glob "
        "(*, ?, [...]) matched against the whole name or stem; case-insensitive",
    )
    run.add_argument("--seed", type=int, help="override every scenario's seed")
    run.add_argument(
        "--repeat",
        type=_positive,
        default=1,
        metavar="N",
        help="run each scenario N times; repetition i uses the seed + i unless --seed fixes it",
    )
    run.add_argument(
        "--fail-fast", action="store_true", help="stop after the first failing scenario"
    )
    run.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="artifacts folder (default: %(default)s)"
    )
    run.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write run.json and index.html here (default: the --out folder)",
    )
    run.add_argument(
        "--host",
        type=_host,
        metavar="iso8583://HOST:PORT[?...]",
        help="send card payments to this acquirer host instead of the built-in one, on the "
        "real clock; scenarios with a step that needs the built-in gateway (its ledger, magic "
        "amounts, faults) are skipped with the reason (possim docs real_hosts)",
    )
    run.add_argument(
        "--serve-port",
        type=int,
        metavar="PORT",
        help="serve each scenario's shop on http://127.0.0.1:PORT, on the real clock, for an "
        "outside cashier app (the expect_intent step; possim docs cashier_apps)",
    )
    run.add_argument("--junit", type=Path, help="write a JUnit XML report here")
    run.add_argument(
        "--card-transport",
        choices=("sim", "pcsc"),
        default="sim",
        help="how the terminal reaches the virtual card: in process (sim, the default) or "
        "through a private pcscd + vpcd, the real PC/SC stack (pcsc; needs root, pcscd, "
        "vsmartcard-vpcd and pyscard)",
    )
    run.add_argument(
        "--vendor",
        choices=VENDORS,
        help="the terminal vendor whose acquiring-app contract the cashier app calls "
        "(docs/vendors/); default: the terminal config's `vendor`",
    )
    run.add_argument(
        "--printer-transport",
        type=PRINTER_TRANSPORT,
        metavar="{sim,usb,pty,tcp}",
        help="how the terminal reaches the virtual printer: in process (sim), the user-space "
        "USB backend (usb), a pty (pty) or a loopback TCP 9100-style listener (tcp); default: "
        "the terminal config's [devices] printer URL (sim://?transport=...)",
    )
    run.add_argument(
        "--scanner-transport",
        type=SCANNER_TRANSPORT,
        metavar="{sim,pty,wedge}",
        help="how the terminal reaches the virtual scanner: in process (sim), a pty read "
        "by the serial:// driver (pty) or a keyboard wedge's key events decoded by the "
        "evdev:// driver (wedge); default: the terminal config's [devices] scanner URL",
    )
    run.add_argument(
        "--speaker",
        metavar="URL",
        help="the speaker instead of the terminal config's, e.g. espeak://cmn-latn-pinyin "
        "(expect_speech still checks what was said)",
    )
    run.add_argument(
        "--wav-dir",
        type=Path,
        metavar="DIR",
        help="write one WAV file per announcement to DIR (espeak-ng renders them)",
    )
    run.add_argument(
        "-v", "--verbose", action="store_true", help="print each scenario's transcript"
    )
    for action in run._actions:  # shell completion offers the lazy choices (argcomplete)
        if isinstance(action.type, LazyChoice):
            action.completer = action.type.complete  # type: ignore[attr-defined]
    run.set_defaults(handler=run_command)


def _host(text: str) -> Any:
    from simulator.terminal.config import HostEndpoint

    try:
        return HostEndpoint.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


@attrs.frozen
class Selected:
    """A scenario file that matched: parsed, or why it did not parse."""

    path: Path
    scenario: Scenario | None
    error: ScenarioError | None


def matches(pattern: str, *names: str) -> bool:
    wanted = pattern.casefold()
    if _GLOB & set(pattern):
        return any(fnmatch.fnmatchcase(name.casefold(), wanted) for name in names)
    return any(wanted in name.casefold() for name in names)


def select(files: Sequence[Path], pattern: str | None) -> list[Selected]:
    from simulator.errors import ScenarioError
    from simulator.scenario.loader import load_scenario

    chosen: list[Selected] = []
    for path in files:
        try:
            scenario: Scenario | None = load_scenario(path)
            error = None
        except ScenarioError as exc:
            scenario, error = None, exc
        names = (path.stem,) if scenario is None else (path.stem, scenario.name)
        if pattern is None or matches(pattern, *names):
            chosen.append(Selected(path, scenario, error))
    return chosen


class Reporter:
    """Plain lines; with a TTY and more than one run, a rich progress bar above them."""

    def __init__(self, total: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = Console(highlight=False, soft_wrap=True)
        self.progress: Progress | None = None
        if total > 1 and sys.stdout.isatty():
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
        self._task = self.progress.add_task("scenarios", total=total) if self.progress else None

    @contextmanager
    def running(self) -> Iterator[Reporter]:
        if self.progress is None:
            yield self
            return
        with self.progress:
            yield self

    def line(self, text: str) -> None:
        if self.progress is None:
            print(text, flush=True)
        else:
            self.progress.console.print(text, markup=False)

    def starting(self, label: str) -> None:
        if self.progress is not None and self._task is not None:
            self.progress.update(self._task, description=label)

    def done(self) -> None:
        if self.progress is not None and self._task is not None:
            self.progress.advance(self._task)


def run_command(args: argparse.Namespace) -> int:
    from simulator.errors import ScenarioError
    from simulator.scenario.loader import discover
    from simulator.scenario.report import write_reports

    try:
        files = discover(args.paths)
    except ScenarioError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    if not files:
        print("no scenario files (*.yaml) found", file=sys.stderr)
        return 2
    chosen = select(files, args.filter)
    if args.filter is not None:
        if not chosen:
            print(
                f"--filter {args.filter!r}: none of {len(files)} scenario file(s) matches",
                file=sys.stderr,
            )
            return 2
        print(f"--filter {args.filter!r}: {len(chosen)} of {len(files)} scenario(s) match")

    results: list[ScenarioResult] = []
    errors: list[ScenarioError] = []
    total = sum(args.repeat if item.scenario is not None else 1 for item in chosen)
    reporter = Reporter(total)
    with reporter.running():
        for item in chosen:
            stop = _run_selected(item, args, reporter, results, errors)
            if stop and args.fail_fast:
                reporter.line("--fail-fast: stopped after the first failure")
                break

    skipped = sum(bool(result.skipped) for result in results)
    passed = sum(result.passed for result in results) - skipped
    failed = len(results) - passed - skipped
    total_seconds = sum(result.seconds for result in results)
    print(
        f"\n{passed} passed, "
        + (f"{skipped} skipped (they need the built-in gateway), " if args.host else "")
        + f"{failed} failed, {len(errors)} invalid "
        f"in {total_seconds:.2f} s (artifacts in {args.out}/)"
    )
    report_dir = args.report if args.report is not None else args.out
    write_reports(results, report_dir, _run_info(args), invalid=errors, junit=args.junit)
    print(f"report: {report_dir / 'index.html'} and {report_dir / 'run.json'}")
    if args.junit is not None:
        print(f"JUnit report: {args.junit}")
    # Like pytest: an invalid scenario (or a world that cannot be built) is 2, failures 1.
    return 2 if errors else 1 if failed else 0


def _run_selected(
    item: Selected,
    args: argparse.Namespace,
    reporter: Reporter,
    results: list[ScenarioResult],
    errors: list[ScenarioError],
) -> bool:
    """Run one file (``--repeat`` times); True if something failed."""
    from drivers.traffic.trace import TraceError
    from simulator.errors import ScenarioError, SimulatorError
    from simulator.scenario.runner import run_scenario

    if item.scenario is None:
        assert item.error is not None
        errors.append(item.error)
        reporter.line(f"ERROR {item.error}")
        reporter.done()
        return True
    scenario = item.scenario
    failed = False
    for repetition in range(args.repeat):
        seed = args.seed if args.seed is not None else scenario.seed + repetition
        # Each repetition its own folder, so one cannot overwrite another's artifacts.
        out = args.out if args.repeat == 1 else args.out / f"repeat-{repetition + 1:02d}"
        reporter.starting(f"{scenario.path.stem} (seed {seed})")
        try:
            result = run_scenario(
                scenario,
                out,
                seed=seed,
                card_transport=args.card_transport,
                printer_transport=args.printer_transport,
                scanner_transport=args.scanner_transport,
                speaker=args.speaker,
                wav_dir=args.wav_dir,
                vendor=args.vendor,
                host=args.host,
                serve_port=args.serve_port,
            )
        except (SimulatorError, TraceError) as exc:  # the world could not be built: say why
            errors.append(ScenarioError(item.path, f"cannot run: {exc}"))
            reporter.line(f"ERROR {item.path}: cannot run: {exc}")
            reporter.done()
            return True
        results.append(result)
        reporter.done()
        _report(result, reporter)
        if args.verbose:
            reporter.line((result.artifacts / "transcript.txt").read_text(encoding="utf-8"))
        if not result.passed:
            failed = True
            if args.fail_fast:
                return True
    return failed


def _report(result: ScenarioResult, reporter: Reporter) -> None:
    from simulator.scenario.report import rerun_command

    scenario = result.scenario
    if result.skipped:
        reporter.line(f"SKIP  {scenario.path}  {scenario.name}  ({result.skipped})")
        return
    status = "PASS" if result.passed else "FAIL"
    reporter.line(
        f"{status}  {scenario.path}  {scenario.name}  ({len(scenario.steps)} steps, "
        f"{result.events} events, seed {result.used_seed}, {result.seconds:.2f} s)"
    )
    if not result.passed:
        reporter.line(_indent(result.failure_text))
        reporter.line(f"    rerun: {rerun_command(result)}")


def _run_info(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "paths": [str(path) for path in args.paths],
        "seed": args.seed,
        "repeat": args.repeat,
        "filter": args.filter,
        "fail_fast": args.fail_fast,
        "out": str(args.out),
        "card_transport": args.card_transport,
        "host": None if args.host is None else f"iso8583://{args.host.host}:{args.host.port}",
        "printer_transport": args.printer_transport,
        "scanner_transport": args.scanner_transport,
        "vendor": args.vendor,
        "speaker": args.speaker,
        "wav_dir": None if args.wav_dir is None else str(args.wav_dir),
    }


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())
