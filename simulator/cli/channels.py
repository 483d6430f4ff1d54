"""``possim channels serve CHANNEL``: a payment channel's own API as a standalone process.

The channel simulators speak each channel's real wire protocol, so a merchant's
or aggregator's code written with the channel's SDK can be pointed at the
printed URL: WeChat Pay v2 and v3 (docs/channel_wechat.md), Alipay's OpenAPI
``gateway.do`` (docs/channel_alipay.md), UnionPay QR in the ACP style
(docs/channel_unionpay.md). Each prints where it listens and where its test keys
are, keeps its trades in memory within bounds (docs/reliability.md), runs on
the wall clock and serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple, Protocol


class ServedChannel(Protocol):
    def stop(self) -> None: ...


class Channel(NamedTuple):
    """A channel simulator: ``serve(args, port) -> (server, banner lines)``, started."""

    serve: str  # "module:attribute", imported when served
    port: int


CHANNELS = {
    "wechat": Channel("simulator.cli.channels:_serve_wechat", 5811),
    "alipay": Channel("simulator.cli.channels:_serve_alipay", 8400),
    "unionpay": Channel("simulator.cli.channels:_serve_unionpay", 8401),
}


def register(subparsers: Any) -> None:
    """Add ``channels serve`` to a CLI's subcommands."""
    parser = subparsers.add_parser(
        "channels",
        help="the payment channels' own APIs (WeChat Pay, Alipay, UnionPay QR) on loopback",
        description="The payment channels' own APIs, simulated "
        "(possim docs channel_wechat / channel_alipay / channel_unionpay).",
    )
    commands = parser.add_subparsers(dest="channels_command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve a channel's API over HTTP until interrupted",
        description="Serve a channel's API; prints its URL and where its test keys are.",
    )
    serve.add_argument("channel", choices=sorted(CHANNELS), help="the channel to serve")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    ports = ", ".join(f"{name}: {channel.port}" for name, channel in CHANNELS.items())
    serve.add_argument("--port", type=int, help=f"port ({ports}; 0: any free port)", metavar="PORT")
    serve.add_argument(
        "--key-dir",
        type=Path,
        help="Alipay and UnionPay: where the test keys are kept "
        "(default: the cache folder's channel-test-keys/)",
    )
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    import signal

    from simulator.errors import SimulatorError
    from simulator.service_thread import is_loopback

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    channel = CHANNELS[args.channel]
    port = channel.port if args.port is None else args.port
    module, _, name = channel.serve.partition(":")
    serve = getattr(importlib.import_module(module), name)
    try:
        if not 0 <= port <= 65535:
            print(f"possim channels: --port {port}: expected 0 to 65535", file=sys.stderr)
            return 2
        if not is_loopback(args.host):
            print(
                f"possim channels: warning: listening on {args.host}, not loopback: "
                "the test keys sign for anyone who reaches it",
                file=sys.stderr,
                flush=True,
            )
        server, banner = serve(args, port)
        for line in [*banner, "press Ctrl-C to stop"]:
            print(line, flush=True)
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.stop()
    except (SimulatorError, OSError) as exc:
        print(f"possim channels: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def _serve_wechat(args: argparse.Namespace, port: int) -> tuple[ServedChannel, list[str]]:
    from drivers.clock import RealClock
    from simulator.channels.wechat.server import WechatPaySimulator

    server = WechatPaySimulator(RealClock(), host=args.host, port=port, allow_remote=True)
    server.start()
    return server, server.banner()


def _serve_alipay(args: argparse.Namespace, port: int) -> tuple[ServedChannel, list[str]]:
    from drivers.clock import RealClock
    from simulator.channels.alipay.channel import TEST_APP_ID, AlipayChannel
    from simulator.channels.alipay.server import AlipayServer
    from simulator.channels.keys import key_dir

    folder = key_dir(args.key_dir)
    channel = AlipayChannel.with_test_keys(RealClock(), key_dir=args.key_dir)
    server = AlipayServer(channel, host=args.host, port=port, allow_remote=True)
    server.start()
    _write_public_key(folder, server.channel.signing_key, "alipay-simulator.public.pem")
    return server, [
        f"simulated Alipay: gateway {server.gateway_url}",
        f"test app_id {TEST_APP_ID}; its private key {folder / 'alipay-test-app.pem'}",
        f"the simulator's public key {folder / 'alipay-simulator.public.pem'}",
    ]


def _serve_unionpay(args: argparse.Namespace, port: int) -> tuple[ServedChannel, list[str]]:
    from drivers.clock import RealClock
    from simulator.channels.keys import key_dir
    from simulator.channels.unionpay.channel import TEST_MER_ID, UnionPayChannel
    from simulator.channels.unionpay.server import UnionPayServer

    folder = key_dir(args.key_dir)
    channel = UnionPayChannel.with_test_keys(RealClock(), key_dir=args.key_dir)
    server = UnionPayServer(channel, host=args.host, port=port, allow_remote=True)
    server.start()
    root = folder / "unionpay-test-root.cert.pem"
    root.write_text(server.channel.certificates.root_pem, encoding="ascii")
    return server, [
        f"simulated UnionPay QR: {server.base_url}/gateway/api/backTransReq.do",
        f"test merId {TEST_MER_ID}, certId {server.channel.certificates.merchant_cert_id}; "
        f"its private key {folder / 'unionpay-test-merchant.pem'}; the root {root}",
    ]


def _write_public_key(folder: Path, key: Any, name: str) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / name).write_bytes(pem)
