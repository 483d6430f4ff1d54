"""``possim printer``: the virtual printer as a real device, and checks of real printers.

* ``possim printer serve --tcp 9100 [--host 127.0.0.1] [--pty] [--profile NAME]``
  runs the virtual printer as a network printer (and/or on a pty, a serial
  printer) that any ESC/POS client can print to; each cut receipt is printed
  to stdout as text and, with ``--out DIR``, saved as ``receipt-NNNN.txt``.
  Each problem with the bytes is told on stderr as it happens, by connection
  and offset in that connection's stream (:mod:`simulator.devices.printer.problems`);
  the server keeps nothing else, so it runs for as long as it likes.
* ``possim printer status URL`` asks a printer for its status (``DLE EOT``).
* ``possim printer test URL`` prints a test receipt on it.

URLs are the driver's: ``usb://VID:PID``, ``serial:///dev/ttyUSB0?baud=9600``,
``tcp://HOST:9100``, ``file:///dev/usb/lp0`` (see docs/printer.md).
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from drivers.errors import DriverError
from drivers.printer import Align, Barcode, Cut, Feed, PrintDocument, QrCode, TextLine
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.registry import open_device
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.problems import PER_CONNECTION, ProblemLog
from simulator.devices.printer.retention import MIB, Retention
from simulator.devices.printer.transports.tcp import LOOPBACK, PRINTER_PORT

# A served printer tells receipts and problems as they come; it keeps only a few.
SERVE_RETENTION = Retention(receipts=10, receipt_bytes=8 * MIB, diagnostics=100, unprinted=100)


def register(commands: Any) -> None:
    printer = commands.add_parser(
        "printer", help="serve the virtual printer on TCP/pty, or check a real printer"
    )
    sub = printer.add_subparsers(title="printer commands", metavar="COMMAND")

    serve = sub.add_parser(
        "serve", help="run the virtual printer as a network (TCP 9100) and/or serial (pty) printer"
    )
    serve.add_argument(
        "--tcp",
        type=int,
        nargs="?",
        const=PRINTER_PORT,
        metavar="PORT",
        help=f"listen on this TCP port (default {PRINTER_PORT}; 0 picks a free one)",
    )
    serve.add_argument(
        "--host",
        default=LOOPBACK,
        help="address to listen on (default %(default)s; 0.0.0.0 exposes the printer to "
        "your network)",
    )
    serve.add_argument("--pty", action="store_true", help="also serve on a pty (serial printer)")
    serve.add_argument(
        "--profile", default="generic_58mm", help="printer profile (default %(default)s)"
    )
    serve.add_argument("--out", type=Path, help="save each receipt's text in this folder")
    serve.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="close a TCP connection idle this many seconds, so the next client gets its "
        "turn (default %(default)s; 0 never)",
    )
    serve.add_argument(
        "--problems-per-connection",
        type=int,
        default=PER_CONNECTION,
        metavar="N",
        help="print at most N problems per connection as they happen; the rest are counted "
        "(default %(default)s)",
    )
    serve.set_defaults(handler=serve_command)

    status = sub.add_parser("status", help="ask a printer for its status (DLE EOT)")
    status.add_argument("url", help="printer URL, e.g. usb://0416:5011 or tcp://192.168.1.50")
    status.set_defaults(handler=status_command)

    test = sub.add_parser("test", help="print a test receipt")
    test.add_argument("url", help="printer URL, e.g. usb://0416:5011 or tcp://192.168.1.50")
    test.set_defaults(handler=test_command)

    printer.set_defaults(handler=lambda args: _usage(printer))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def serve_command(args: argparse.Namespace) -> int:
    if args.tcp is None and not args.pty:
        args.tcp = PRINTER_PORT
    try:
        profile = PrinterProfile.load(args.profile)
    except DriverError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    printer = VirtualPrinter(profile, SERVE_RETENTION)
    port = PrinterPort(printer)
    problems = ProblemLog(
        port,
        lambda line: print(line, file=sys.stderr, flush=True),
        per_connection=max(0, args.problems_per_connection),
    )
    out: Path | None = args.out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    count = 0
    lock = threading.Lock()

    def show(receipt: Any) -> None:
        nonlocal count
        with lock:
            count += 1
            text = str(receipt.text)
            print(f"----- receipt {count} -----\n{text}\n", flush=True)
            if out is not None:
                (out / f"receipt-{count:04d}.txt").write_text(text + "\n", encoding="utf-8")

    printer.on_receipt.append(show)
    stop = threading.Event()
    # Before anything is announced: whoever read the address may stop us at once,
    # by Ctrl-C (SIGINT) or SIGTERM -- however the process was started.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stop.set())
    servers: list[Any] = []
    try:
        if args.tcp is not None:
            from simulator.devices.printer.transports.tcp import TcpPrinter

            try:
                tcp = TcpPrinter(
                    port,
                    host=args.host,
                    tcp_port=args.tcp,
                    idle_timeout=args.idle_timeout or None,
                )
            except OSError as exc:
                print(
                    f"ERROR cannot listen on {args.host}:{args.tcp}: {exc} (is another printer "
                    "server running? ports below 1024 need root; try --tcp 0)",
                    file=sys.stderr,
                )
                return 2
            tcp.on_error.append(problems.server_error)
            servers.append(tcp)
            print(f"virtual printer ({profile.name}) listening on {tcp.url}", flush=True)
        if args.pty:
            from simulator.devices.printer.transports.pty import PtyPrinter

            pty = PtyPrinter(port)
            pty.on_error.append(problems.server_error)
            servers.append(pty)
            print(f"virtual printer ({profile.name}) on serial {pty.url}", flush=True)
        print("press Ctrl-C to stop", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        for server in servers:
            server.close()
    # Problems were told as they happened: nothing is replayed, so stopping is quick.
    print(f"{count} receipt(s) printed, {problems.summary()}", flush=True)
    return 0


def _open(url: str) -> EscposPrinter | None:
    try:
        return open_device(EscposPrinter, url)
    except DriverError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return None


def status_command(args: argparse.Namespace) -> int:
    printer = _open(args.url)
    if printer is None:
        return 2
    try:
        status = printer.status()
        if not printer.status_known:
            print(f"{args.url}: status unknown: this transport cannot read replies")
            return 0
        problem = status.problem()
        near_end = " (paper near end)" if status.paper_near_end else ""
        print(f"{args.url}: {problem or 'ready'}{near_end}")
        return 0 if problem is None else 1
    except DriverError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    finally:
        printer.close()


TEST_PAGE = PrintDocument(
    title="possim test receipt",
    items=(
        TextLine("possim 测试小票", align=Align.CENTER, bold=True, double_height=True),
        TextLine("TEST RECEIPT", align=Align.CENTER),
        TextLine("--------------------------------"),
        TextLine("金额 AMOUNT: RMB 0.01", bold=True),
        QrCode("https://example.com/possim"),
        Barcode("20260115000001"),
        Feed(3),
        Cut(),
    ),
)


def test_command(args: argparse.Namespace) -> int:
    printer = _open(args.url)
    if printer is None:
        return 2
    try:
        printer.print_document(TEST_PAGE)
        print(f"{args.url}: test receipt printed")
        return 0
    except DriverError as exc:
        print(f"ERROR {exc}", file=sys.stderr)
        return 2
    finally:
        printer.close()
