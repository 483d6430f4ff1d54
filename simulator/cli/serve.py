"""``possim serve``: one shop as a local service on the real clock (docs/cashier_apps.md).

Prints the shop's events as lines (its log: an Intent the vendor's app refused
names the key and the rule there), serves until SIGINT/SIGTERM, and stops
within a couple of seconds: a payment waiting for a card is cancelled.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import attrs

from simulator.gateway.qr.http_server import DEFAULT_IDLE_TIMEOUT, DEFAULT_REQUEST_TIMEOUT
from simulator.terminal.vendor_names import VENDORS


def register(commands: Any) -> None:
    from simulator.serve.server import (
        DEFAULT_KEEP_EVENTS,
        DEFAULT_MAX_CONNECTIONS,
        DEFAULT_PORT,
        TOKEN_ENV,
    )

    serve = commands.add_parser(
        "serve",
        help="one shop as a local service: a cashier app's door, hands and view over HTTP",
        description="Serve one simulated shop on the real clock until SIGINT/SIGTERM: the "
        "vendor acquiring app's door for your cashier app (POST /v1/intent), the cardholder's "
        "and customer's hands, the view and the event stream (`possim docs cashier_apps`; "
        "the API is at /openapi.yaml).",
    )
    serve.add_argument("--config", default="default", help="terminal config: a name or a TOML file")
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="port (default: %(default)s; 0: any free)"
    )
    serve.add_argument(
        "--token",
        default=os.environ.get(TOKEN_ENV),
        help=f"require 'Authorization: Bearer TOKEN' on every request (default: ${TOKEN_ENV}); "
        "needed to listen anywhere but loopback",
    )
    serve.add_argument(
        "--vendor",
        choices=VENDORS,
        help="the terminal vendor whose acquiring app the door serves (docs/vendor_*.md); "
        "default: the terminal config's `vendor`",
    )
    serve.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    serve.add_argument(
        "--workdir",
        type=Path,
        help="keep the journal, ledger and device files here (default: a temporary folder)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=DEFAULT_MAX_CONNECTIONS,
        help="connections open at once (default: %(default)s)",
    )
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a connection may wait for its next request (default: %(default)s)",
    )
    serve.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULT_REQUEST_TIMEOUT,
        help="seconds a request may take to arrive (default: %(default)s)",
    )
    serve.add_argument(
        "--keep-events",
        type=int,
        default=DEFAULT_KEEP_EVENTS,
        help="events kept for /v1/events (default: %(default)s)",
    )
    serve.add_argument(
        "--ecr-port",
        type=int,
        metavar="PORT",
        help="also serve Newland's PC interface (JSON lines) on this TCP port (0: any free)",
    )
    serve.add_argument(
        "--ecr-pty",
        action="store_true",
        help="also serve Newland's PC interface on a pty (a till's serial port; path printed)",
    )
    serve.add_argument("--quiet", action="store_true", help="print refusals and problems only")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    stop = threading.Event()
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(args, stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    from simulator.events import Event, Problem
    from simulator.serve.door import IntentRefused
    from simulator.serve.ecr import EcrRefused
    from simulator.serve.server import ServedShop, ServeError, ServeOptions, check_exposure
    from simulator.terminal.config import TerminalConfig

    if args.keep_events < 1:
        raise ServeError("--keep-events must be at least 1")
    if args.max_connections < 1:
        raise ServeError("--max-connections must be at least 1")
    check_exposure(args.host, args.token)  # before anything is built
    output = threading.Lock()

    def say(line: str) -> None:
        with output:
            print(line, flush=True)

    def show(event: Event) -> None:
        if args.quiet and not isinstance(event.payload, (Problem, IntentRefused, EcrRefused)):
            return
        say(event.line())

    options = ServeOptions(
        host=args.host,
        port=args.port,
        token=args.token or None,
        max_connections=args.max_connections,
        idle_timeout=args.idle_timeout,
        request_timeout=args.request_timeout,
        keep_events=args.keep_events,
        seed=args.seed,
        ecr_port=args.ecr_port,
        ecr_pty=args.ecr_pty,
    )
    config = TerminalConfig.load(args.config)
    if args.vendor is not None:  # the same shop with another vendor's acquiring app
        config = attrs.evolve(config, vendor=args.vendor)
    with tempfile.TemporaryDirectory(prefix="possim-serve-") as scratch:
        workdir = args.workdir or Path(scratch)
        served = ServedShop(config, workdir, options, lambda line: say(f"possim serve: {line}"))
        unsubscribe = served.shop.bus.subscribe(show)
        try:
            with output:
                url = served.start()
                door = served.api.door
                print(
                    f"possim serve: shop ({door.vendor} acquiring app {door.component}) "
                    f"listening on {url} (API: {url}/openapi.yaml)",
                    flush=True,
                )
                ecr = "possim serve: ECR door (Newland PC interface, JSON lines) on"
                if served.ecr_tcp is not None:
                    host, port = served.ecr_tcp.address
                    print(f"{ecr} tcp {host}:{port}", flush=True)
                if served.ecr_pty is not None:
                    print(f"{ecr} pty {served.ecr_pty.path}", flush=True)
            while not stop.wait(0.2):
                pass
        finally:
            unsubscribe()
            served.stop()
    return 0
