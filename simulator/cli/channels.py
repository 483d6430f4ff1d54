"""``possim channels serve wechat``: a payment channel's own API as a standalone process.

The channel simulators speak each channel's real wire protocol (WeChat Pay:
docs/channel_wechat.md), so a merchant's or aggregator's code written with the
channel's SDK can be pointed at the printed base URL. Serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import sys
import threading
from types import FrameType
from typing import Any

DEFAULT_PORTS = {"wechat": 5811}


def register(subparsers: Any) -> None:
    """Add ``channels serve`` to a CLI's subcommands."""
    parser = subparsers.add_parser(
        "channels",
        help="the payment channels' own APIs (WeChat Pay v2/v3) on loopback",
        description="The payment channels' own APIs, simulated (possim docs channel_wechat).",
    )
    commands = parser.add_subparsers(dest="channels_command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a channel's API over HTTP until interrupted",
        description="Serve a channel's API; prints its base URL and where its test keys are.",
    )
    serve.add_argument("channel", choices=sorted(DEFAULT_PORTS), help="the channel to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--port", type=int, help="port (wechat: 5811; 0: any free port)", metavar="PORT"
    )
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    import signal

    from drivers.clock import RealClock
    from simulator.channels.wechat.server import WechatPaySimulator, is_loopback
    from simulator.errors import SimulatorError

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    port = DEFAULT_PORTS[args.channel] if args.port is None else args.port
    try:
        simulator = WechatPaySimulator(RealClock(), host=args.host, port=port, allow_remote=True)
        if not is_loopback(args.host):
            print(
                f"possim channels: warning: listening on {args.host}, not loopback: "
                "the test keys sign for anyone who reaches it",
                file=sys.stderr,
                flush=True,
            )
        base_url = simulator.start()
        keys = simulator.core.keys
        print(f"WeChat Pay (v2 and v3) on {base_url}", flush=True)
        print(f"test keys: {keys.folder / 'keys.json'} (mch_id {keys.mch_id})", flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            simulator.stop()
    except (SimulatorError, OSError) as exc:
        print(f"possim channels: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
