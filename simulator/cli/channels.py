"""``possim channels serve CHANNEL``: a payment channel's own API, simulated, on loopback.

* ``possim channels serve alipay [--port 8400]`` -- Alipay's OpenAPI gateway
  (``http://127.0.0.1:PORT/gateway.do``): point an SDK's gateway there
  (docs/channel_alipay.md). Prints the gateway URL, the test app id, and the
  files of the test keys: the app's private key to sign with and the
  simulator's public key to verify answers and notifications with.
* ``possim channels serve unionpay [--port 8401]`` -- UnionPay QR, ACP style
  (``/gateway/api/backTransReq.do``, ``/gateway/api/queryTrans.do``;
  docs/channel_unionpay.md).

Both run on the wall clock and keep their trades in memory, within bounds
(docs/reliability.md); Ctrl-C or SIGTERM stops them.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path
from typing import Any

from drivers.clock import RealClock
from simulator.channels.alipay.errors import ChannelError

DEFAULT_PORTS = {"alipay": 8400, "unionpay": 8401}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    channels = subparsers.add_parser(
        "channels", help="serve a payment channel's own API (Alipay, UnionPay QR) on loopback"
    )
    commands = channels.add_subparsers(title="channels commands", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve one channel's API until Ctrl-C",
        description="Serve a simulated payment channel, speaking its real wire protocol, on "
        "loopback, for unmodified SDK code to run against.",
    )
    serve.add_argument("channel", choices=sorted(DEFAULT_PORTS), help="which channel")
    serve.add_argument(
        "--port", type=int, help="TCP port (default: alipay 8400, unionpay 8401; 0 picks one)"
    )
    serve.add_argument(
        "--key-dir",
        type=Path,
        help="where the test keys are kept (default: the cache folder's channel-test-keys/)",
    )
    serve.set_defaults(handler=serve_command)
    channels.set_defaults(handler=lambda args: _usage(channels))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def serve_command(args: argparse.Namespace) -> int:
    from simulator.channels.alipay.keys import key_dir

    port = DEFAULT_PORTS[args.channel] if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise ChannelError(f"--port {port}: expected 0 to 65535")
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stop.set())
    server: Any
    folder = key_dir(args.key_dir)
    if args.channel == "alipay":
        from simulator.channels.alipay.channel import TEST_APP_ID, AlipayChannel
        from simulator.channels.alipay.server import AlipayServer

        server = AlipayServer(
            AlipayChannel.with_test_keys(RealClock(), key_dir=args.key_dir), port=port
        )
        server.start()
        _write_public_key(folder, server.channel.signing_key, "alipay-simulator.public.pem")
        print(f"simulated Alipay: gateway {server.gateway_url}", flush=True)
        print(f"test app_id {TEST_APP_ID}; its private key {folder / 'alipay-test-app.pem'}")
        print(f"the simulator's public key {folder / 'alipay-simulator.public.pem'}")
    else:
        from simulator.channels.unionpay.channel import TEST_MER_ID, UnionPayChannel
        from simulator.channels.unionpay.server import UnionPayServer

        server = UnionPayServer(
            UnionPayChannel.with_test_keys(RealClock(), key_dir=args.key_dir), port=port
        )
        server.start()
        root = folder / "unionpay-test-root.cert.pem"
        root.write_text(server.channel.certificates.root_pem, encoding="ascii")
        print(f"simulated UnionPay QR: {server.base_url}/gateway/api/backTransReq.do", flush=True)
        print(
            f"test merId {TEST_MER_ID}, certId {server.channel.certificates.merchant_cert_id}; "
            f"its private key {folder / 'unionpay-test-merchant.pem'}; the root {root}"
        )
    print("press Ctrl-C to stop", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


def _write_public_key(folder: Path, key: Any, name: str) -> None:
    from cryptography.hazmat.primitives import serialization

    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (folder / name).write_bytes(pem)
