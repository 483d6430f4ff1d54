"""``possim gateway serve``: the acquirer host simulator as a standalone process.

The host is :class:`~simulator.gateway.builtin.BuiltinGateway`; this module
turns the options into its arguments and limits, prints its events and serves
until SIGINT/SIGTERM. The back-office commands on its ledger (``statement``,
``reconcile``, ``revenue``) are :mod:`simulator.cli.backoffice`'s.
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from drivers.clock import RealClock
from simulator.cli import backoffice
from simulator.errors import GatewayError, SimulatorError
from simulator.events import Event, EventBus, Problem
from simulator.gateway.builtin import BuiltinGateway, ServerLimits
from simulator.gateway.issuers import DEFAULT_ISSUERS
from simulator.gateway.listener import open_files_limit
from simulator.gateway.magic import DEFAULT_MAGIC_AMOUNTS
from simulator.gateway.preauth_rules import DEFAULT_PREAUTH_RULES
from simulator.gateway.problems import LimitReached
from simulator.gateway.qr.delivery import DEFAULT_MAX_IN_FLIGHT
from simulator.gateway.service_thread import is_loopback
from simulator.wire.iso8583 import BINARY_HEADER, DEFAULT_SPEC, HEADER_KINDS
from simulator.wire.mac import parse_mac_key

DEFAULT_PORT = 5800
DEFAULT_QR_PORT = 5801
DEFAULT_LEDGER = "possim-gateway.sqlite"
# Events the serving process keeps in memory: enough to look back on a burst,
# bounded so that hours of serving cost no more memory (or GC time) than minutes.
DEFAULT_KEEP_EVENTS = 1000
# Open files the process needs besides its connections: Python itself, the
# ledger, the listening sockets, notifies in flight.
FILES_RESERVED = 64 + DEFAULT_MAX_IN_FLIGHT
DEFAULTS = ServerLimits()


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``gateway serve`` to a CLI's subcommands."""
    gateway = subparsers.add_parser(
        "gateway",
        help="the acquirer host simulator",
        description="The ISO 8583 acquirer host and QR channels simulator "
        "(`possim docs gateway`, `possim docs qr_api`).",
    )
    commands = gateway.add_subparsers(dest="gateway_command", metavar="COMMAND", required=True)
    serve = commands.add_parser(
        "serve",
        help="serve ISO 8583 over TCP and the QR API over HTTP until interrupted",
        description="Serve ISO 8583 (2-byte length header framing) and the QR payment "
        "HTTP API until SIGINT/SIGTERM, printing every message as an event line.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (%(default)s)")
    serve.add_argument(
        "--iso8583-port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help="TCP port for ISO 8583 (%(default)s; 0 = any free port)",
    )
    serve.add_argument(
        "--qr-port",
        type=int,
        default=DEFAULT_QR_PORT,
        metavar="PORT",
        help="TCP port for the QR HTTP API (%(default)s; 0 = any free port)",
    )
    serve.add_argument(
        "--sim-customers",
        action="store_true",
        help="enable the /v1/sim/... calls (simulated customers, notify replay)",
    )
    serve.add_argument(
        "--spec", default=DEFAULT_SPEC, help="ISO 8583 spec name or JSON path (%(default)s)"
    )
    serve.add_argument(
        "--tpdu-length",
        type=int,
        default=0,
        metavar="BYTES",
        help="TPDU bytes after the length header, echoed back (%(default)s)",
    )
    serve.add_argument(
        "--length-header",
        choices=HEADER_KINDS,
        default=BINARY_HEADER,
        help="frame length header: 2-byte big-endian binary or 4 ASCII digits (%(default)s)",
    )
    serve.add_argument(
        "--tpdu-swap",
        action="store_true",
        help="swap the TPDU's destination and source addresses in replies, as real hosts do",
    )
    serve.add_argument(
        "--mac-key-file",
        type=Path,
        metavar="PATH",
        help="file holding a hex double-length TDES key: every request must carry a good "
        "ANSI X9.19 MAC in DE64/DE128 (else DE39 A0) and every reply gets one",
    )
    serve.add_argument(
        "--ledger", default=DEFAULT_LEDGER, metavar="PATH", help="SQLite ledger (%(default)s)"
    )
    serve.add_argument(
        "--seed",
        type=int,
        help="draw auth codes from a generator with this seed, for reproducible test runs "
        "(default: the OS's random source, as a real host; either way a code the ledger "
        "already holds is never issued again)",
    )
    serve.add_argument(
        "--quiet",
        action="store_true",
        help="print only the listening lines and errors, not every message, for load tests",
    )
    serve.add_argument(
        "--keep-events",
        type=int,
        default=DEFAULT_KEEP_EVENTS,
        metavar="N",
        help="how many of the newest events to keep in memory; older ones (already "
        "printed, unless --quiet) are dropped, so memory stays flat however long the "
        "gateway serves (%(default)s)",
    )
    limits = serve.add_argument_group(
        "limits",
        "what one client may hold (docs/reliability.md); past them possim closes "
        "or refuses the connection and keeps serving the others",
    )
    limits.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help=f"ISO 8583 connections open at once ({DEFAULTS.max_connections}, fewer if "
        "ulimit -n is too low for it); at the limit a new one replaces the connection idle "
        "longest, or is refused",
    )
    limits.add_argument(
        "--qr-max-connections",
        type=int,
        metavar="N",
        help=f"QR API connections open at once ({DEFAULTS.qr_max_connections}, fewer if "
        "ulimit -n is too low for it)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=float,
        default=DEFAULTS.idle_timeout,
        metavar="SECONDS",
        help="close a connection that sends no frame or request for this long (%(default)g)",
    )
    limits.add_argument(
        "--request-timeout",
        type=float,
        default=DEFAULTS.request_timeout,
        metavar="SECONDS",
        help="close a connection whose frame (ISO 8583) or request (QR API) is not complete "
        "this long after its first byte (%(default)g)",
    )
    limits.add_argument(
        "--max-frame",
        type=int,
        default=DEFAULTS.max_frame,
        metavar="BYTES",
        help="largest ISO 8583 frame a length header may announce (%(default)s)",
    )
    serve.add_argument("--issuers", default=DEFAULT_ISSUERS, help=argparse.SUPPRESS)
    serve.add_argument("--magic-amounts", default=DEFAULT_MAGIC_AMOUNTS, help=argparse.SUPPRESS)
    serve.add_argument(
        "--preauth-rules",
        default=DEFAULT_PREAUTH_RULES,
        metavar="YAML",
        help="pre-authorisation completion tolerance and validity "
        "(default: firmware_fixtures/gateway/preauth.yaml; docs/gateway.md)",
    )
    serve.set_defaults(handler=serve_command)
    # statement, reconcile, revenue: the back office (docs/backoffice.md)
    backoffice.register(commands, DEFAULT_LEDGER)


def serve_command(args: argparse.Namespace) -> int:
    stop = threading.Event()
    # Events quote what clients sent; whatever it is, print it rather than fail.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return _serve(args, stop)
    except SimulatorError as exc:
        print(f"possim gateway: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(args: argparse.Namespace, stop: threading.Event) -> int:
    if args.tpdu_length < 0:
        raise GatewayError("--tpdu-length cannot be negative")
    if args.keep_events < 1:
        raise GatewayError("--keep-events must be at least 1")
    limits, warning = server_limits(args)
    mac_key = None
    if args.mac_key_file is not None:
        # A file, not an argument: command lines show up in ps and shell history.
        try:
            text = Path(args.mac_key_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise GatewayError(f"cannot read --mac-key-file {args.mac_key_file}: {exc}") from None
        mac_key = parse_mac_key(text, f"the key in {args.mac_key_file}")
    clock = RealClock()
    # A server runs for hours: keep a window of events, not all of them. Every
    # event still reaches the subscribers (the printer below) as it happens.
    bus = EventBus(clock, keep_last=args.keep_events)
    output_lock = threading.Lock()

    def show(event: Event) -> None:
        if args.quiet and not isinstance(event.payload, (Problem, LimitReached)):
            return
        with output_lock:
            print(event.line(), flush=True)

    gateway = BuiltinGateway(
        Path(args.ledger),
        clock=clock,
        bus=bus,
        # A real host's auth codes cannot be guessed; a seeded one repeats its sequence.
        rng=random.SystemRandom() if args.seed is None else random.Random(args.seed),
        spec=args.spec,
        host=args.host,
        port=args.iso8583_port,
        qr_port=args.qr_port,
        simulation=args.sim_customers,
        tpdu_length=args.tpdu_length,
        allow_remote=True,  # the user named the address
        issuers=args.issuers,
        magic_amounts=args.magic_amounts,
        preauth_rules=args.preauth_rules,
        length_header=args.length_header,
        tpdu_swap=args.tpdu_swap,
        mac_key=mac_key,
        limits=limits,
    )
    if warning is not None:
        print(f"possim gateway: warning: {warning}", file=sys.stderr, flush=True)
    if not is_loopback(args.host):
        print(
            f"possim gateway: warning: listening on {args.host}, not loopback: "
            "test keys and a test ledger are reachable from the network",
            file=sys.stderr,
            flush=True,
        )
    unsubscribe = bus.subscribe(show)
    try:
        # Hold the output until the address line is out: events come after it.
        with output_lock:
            address, port = gateway.start()
            # What startup built (modules, specs, fixtures) lives as long as the process:
            # moved out of the collector's sight, it no longer lengthens the full
            # collections that stall every request in flight.
            gc.freeze()
            framing = gateway.framing
            binary = framing.header == BINARY_HEADER
            framing_text = "2-byte length header" if binary else "4-digit ASCII header"
            if framing.tpdu_length:
                framing_text += f" + {framing.tpdu_length}-byte TPDU"
                framing_text += " (swapped in replies)" if framing.swap_tpdu else ""
            if mac_key is not None:
                framing_text += ", X9.19 MAC"
            print(
                f"possim gateway: ISO 8583 (spec {gateway.spec.name}, {framing_text}) "
                f"listening on {address}:{port}",
                flush=True,
            )
            print(
                f"possim gateway: QR API (possim docs qr_api) listening on {gateway.qr_base_url}",
                flush=True,
            )
            print(
                f"possim gateway: limits (docs/reliability.md): {limits.max_connections} ISO 8583 "
                f"and {limits.qr_max_connections} QR API connections, idle "
                f"{limits.idle_timeout:g} s, request {limits.request_timeout:g} s, "
                f"frame {limits.max_frame} bytes",
                flush=True,
            )
        while not stop.wait(0.5):
            pass
    finally:
        gateway.stop()
        unsubscribe()
    return 0


def server_limits(args: argparse.Namespace) -> tuple[ServerLimits, str | None]:
    """The limits asked for, the defaults fitted to ``ulimit -n``; and a warning
    if the connections asked for cannot all be open at once."""
    for name in ("max_connections", "qr_max_connections", "max_frame"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise GatewayError(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("idle_timeout", "request_timeout"):
        if not getattr(args, name) > 0:
            raise GatewayError(f"--{name.replace('_', '-')} must be more than 0 seconds")
    iso, qr = args.max_connections, args.qr_max_connections
    files = open_files_limit()
    room = None if files is None else files - FILES_RESERVED
    if room is not None and room < 2:
        raise GatewayError(
            f"ulimit -n is {files}: possim gateway needs at least {FILES_RESERVED + 2} open files"
        )
    if room is not None:
        if iso is None and qr is None:
            if DEFAULTS.max_connections + DEFAULTS.qr_max_connections > room:
                iso = room * 2 // 3
                qr = room - iso
        elif iso is None:
            iso = max(1, min(DEFAULTS.max_connections, room - qr))
        elif qr is None:
            qr = max(1, min(DEFAULTS.qr_max_connections, room - iso))
    iso = DEFAULTS.max_connections if iso is None else iso
    qr = DEFAULTS.qr_max_connections if qr is None else qr
    limits = ServerLimits(
        max_connections=iso,
        qr_max_connections=qr,
        idle_timeout=args.idle_timeout,
        request_timeout=args.request_timeout,
        max_frame=args.max_frame,
    )
    warning = None
    if room is not None and iso + qr > room:
        warning = (
            f"{iso} ISO 8583 + {qr} QR API connections need more open files than ulimit -n "
            f"({files}) leaves ({room}); when they run out, new connections are refused"
        )
    return limits, warning
