"""``possim tui``: the command line side of the TUI (Textual is imported only when run)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any


def register(commands: Any) -> None:
    tui = commands.add_parser(
        "tui", help="operate a simulated smart POS and its hardware on screen (Textual)"
    )
    tui.add_argument("--config", default="default", help="terminal config: a name or a TOML file")
    tui.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    tui.add_argument("--card", help="the catalogue card chosen at start (default: unionpay_debit)")
    tui.add_argument(
        "--workdir",
        type=Path,
        help="keep the journal and ledger here (default: a temporary folder)",
    )
    tui.set_defaults(handler=tui_command)


def tui_command(args: argparse.Namespace) -> int:
    from simulator.simulation import Simulation
    from simulator.terminal.config import TerminalConfig
    from simulator.tui.app import PossimApp

    config = TerminalConfig.load(args.config)
    with tempfile.TemporaryDirectory(prefix="possim-tui-") as scratch:
        workdir = args.workdir or Path(scratch)
        with Simulation(config, workdir, seed=args.seed) as simulation:
            PossimApp(simulation, card=args.card).run()
    return 0
