"""``possim channels serve CHANNEL``: a payment channel's own API as a standalone process.

The channel simulators speak each channel's real wire protocol (WeChat Pay:
docs/channel_wechat.md), so a merchant's or aggregator's code written with the
channel's SDK can be pointed at the printed base URL. Serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from types import FrameType
from typing import Any, NamedTuple


class Channel(NamedTuple):
    """A channel simulator: ``factory(clock, host=, port=, allow_remote=)`` gives an object
    with ``start() -> base URL``, ``banner() -> lines`` and ``stop()``."""

    factory: str  # "module:attribute", imported when served
    port: int


CHANNELS = {
    "wechat": Channel("simulator.channels.wechat.server:WechatPaySimulator", 5811),
}


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
    serve.add_argument("channel", choices=sorted(CHANNELS), help="the channel to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    ports = ", ".join(f"{name}: {channel.port}" for name, channel in CHANNELS.items())
    serve.add_argument("--port", type=int, help=f"port ({ports}; 0: any free port)", metavar="PORT")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    import signal

    from drivers.clock import RealClock
    from simulator.errors import SimulatorError
    from simulator.gateway.service_thread import is_loopback

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    channel = CHANNELS[args.channel]
    port = channel.port if args.port is None else args.port
    module, _, name = channel.factory.partition(":")
    factory = getattr(importlib.import_module(module), name)
    try:
        simulator = factory(RealClock(), host=args.host, port=port, allow_remote=True)
        if not is_loopback(args.host):
            print(
                f"possim channels: warning: listening on {args.host}, not loopback: "
                "the test keys sign for anyone who reaches it",
                file=sys.stderr,
                flush=True,
            )
        simulator.start()
        for line in simulator.banner():
            print(line, flush=True)
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
