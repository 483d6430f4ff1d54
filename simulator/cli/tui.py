"""``possim tui``: the command line side of the TUI (Textual is imported only when run)."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from simulator.shop import Shop
    from simulator.terminal.config import TerminalConfig

DEFAULT_PLAY_OUT = Path("possim-runs")


def register(commands: Any) -> None:
    tui = commands.add_parser(
        "tui", help="operate a simulated smart POS and its hardware on screen (Textual)"
    )
    tui.add_argument("--config", default="default", help="terminal config: a name or a TOML file")
    tui.add_argument(
        "--seed",
        type=int,
        default=None,
        help="random seed (default: 0, or the played scenario's own)",
    )
    tui.add_argument("--card", help="the catalogue card chosen at start (default: unionpay_debit)")
    tui.add_argument(
        "--workdir",
        type=Path,
        help="keep the journal and ledger here (default: a temporary folder)",
    )
    tui.add_argument(
        "--serve",
        type=int,
        metavar="PORT",
        help="serve the TUI to browsers on http://127.0.0.1:PORT instead (one session per "
        "browser tab; needs textual-serve, see `possim docs tui`)",
    )
    tui.add_argument(
        "--attach",
        metavar="URL",
        help="watch a served shop (possim serve) live instead: its screen, events and receipts "
        "(a token from --token or $POSSIM_SERVE_TOKEN)",
    )
    tui.add_argument("--token", help="the served shop's token, with --attach")
    play = tui.add_argument_group("playing a scenario")
    play.add_argument(
        "--play",
        type=Path,
        metavar="SCENARIO",
        help="run this scenario file visibly, step by step (space pauses, n steps, +/- speed); "
        "exits like `possim run` does: 0 passed, 1 failed, 2 invalid",
    )
    play.add_argument(
        "--step-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="real seconds before each step (default: %(default)s; 0 = as fast as it goes)",
    )
    play.add_argument("--paused", action="store_true", help="start paused (n runs one step)")
    play.add_argument(
        "--out",
        type=Path,
        default=DEFAULT_PLAY_OUT,
        help="the played scenario's artifacts folder (default: %(default)s)",
    )
    tui.set_defaults(handler=tui_command)


def tui_command(args: argparse.Namespace) -> int:
    if args.attach is not None:
        return attach_command(args)
    if args.serve is not None:
        return serve_command(args)
    if args.play is not None:
        return play_command(args)
    from simulator.tui.app import PossimApp

    config = checked_config(args)
    with tempfile.TemporaryDirectory(prefix="possim-tui-") as scratch:
        workdir = args.workdir or Path(scratch)

        def build() -> Shop:
            # Imported and built on the app's thread after its first paint.
            from simulator.shop import Shop

            return Shop(config, workdir, seed=args.seed or 0)

        app = PossimApp(card=args.card, build_shop=build)
        try:
            app.run()
        finally:
            app.close_shop()
    if app.startup_error is not None:
        raise app.startup_error
    return 0


def checked_config(args: argparse.Namespace) -> TerminalConfig:
    """The terminal config; a one-line error for a bad ``--config`` or ``--card``."""
    from simulator.devices import cards
    from simulator.errors import SimulatorError
    from simulator.terminal.config import TerminalConfig

    config = TerminalConfig.load(args.config)
    if args.card is not None and args.card not in cards.names():
        catalogue = ", ".join(cards.names())
        raise SimulatorError(f"--card {args.card!r} is not a catalogue card: {catalogue}")
    return config


def attach_command(args: argparse.Namespace) -> int:
    import os

    from simulator.tui.attached import AttachedApp

    AttachedApp(args.attach, args.token or os.environ.get("POSSIM_SERVE_TOKEN")).run()
    return 0


def served_command(args: argparse.Namespace) -> str:
    """The ``possim tui`` command line each browser session runs (``--serve`` dropped)."""
    # `-m possim`: the guarded entry (a user's own simulator/ in this folder is named, not run).
    words = [sys.executable, "-m", "possim", "tui", "--config", args.config]
    for flag, value in (("--seed", args.seed), ("--card", args.card), ("--workdir", args.workdir)):
        if value is not None:
            words += [flag, str(value)]
    if args.play is not None:
        words += ["--play", str(args.play), "--step-delay", str(args.step_delay)]
        words += ["--out", str(args.out), *(["--paused"] if args.paused else [])]
    return shlex.join(words)


def serve_command(args: argparse.Namespace) -> int:
    from simulator.errors import SimulatorError

    # Each browser session runs the TUI with these options: refuse bad ones here, once.
    if args.play is None:
        checked_config(args)
    elif not args.play.is_file():
        raise SimulatorError(f"--play {args.play}: no such scenario file")
    try:
        from simulator.tui import served
    except ImportError:
        print(
            "possim tui --serve needs textual-serve: pip install 'textual-serve>=1.1,<2'",
            file=sys.stderr,
        )
        return 2

    served.serve(served_command(args), args.serve)
    return 0


def play_command(args: argparse.Namespace) -> int:
    """Play one scenario; print and exit with the outcome ``possim run`` would report."""
    from simulator.errors import ScenarioError
    from simulator.scenario.loader import load_scenario
    from simulator.tui.playback_app import PlaybackApp

    if args.step_delay < 0:
        print("--step-delay cannot be negative", file=sys.stderr)
        return 2
    try:
        scenario = load_scenario(args.play)
    except ScenarioError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    app = PlaybackApp(scenario, args.out, delay=args.step_delay, paused=args.paused, seed=args.seed)
    app.run()
    result = app.result
    if result is None or app.playback.stopped:
        print(f"ABORTED  {scenario.path}  {scenario.name}", file=sys.stderr)
        return 130
    print(f"{'PASS' if result.passed else 'FAIL'}  {scenario.path}  {scenario.name}")
    if not result.passed:
        print(result.failure_text)
        return 1
    return 0
