"""``possim card serve``: a catalogue card in a running pcscd, through vsmartcard's vpcd.

The system pcscd with vsmartcard-vpcd installed has a "Virtual PCD" reader
whose vpcd driver listens on TCP port 35963 (slot 00 00; 35964 is slot 00 01).
Connecting to it inserts a card; this command connects as the card and
answers APDUs from possim's virtual card until Ctrl-C, so any PC/SC
application -- ``pcsc_scan``, ``possim doctor``, a real terminal build on this
machine, a ``pcsc://Virtual PCD`` terminal config -- can read it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import datetime

from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.vpcd_card import DEFAULT_PORT, VpcdCardLink, tcp_connector
from simulator.errors import FixtureError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    card = subparsers.add_parser("card", help="virtual cards outside a simulation")
    commands = card.add_subparsers(title="card commands", metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="serve a catalogue card to a running pcscd through vsmartcard's vpcd driver",
        description="Insert a virtual card into the system pcscd's vpcd reader ('Virtual PCD') "
        "and answer its APDUs until Ctrl-C.",
    )
    serve.add_argument(
        "card", help="a catalogue card (firmware_fixtures/cards/, e.g. unionpay_debit) or a file"
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="where vpcd listens (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="vpcd's port: its reader.conf CHANNELID, +1 for the second slot "
        "(default: %(default)s)",
    )
    serve.set_defaults(handler=serve_command)

    def usage(args: argparse.Namespace) -> int:
        card.print_help()
        return 2

    card.set_defaults(handler=usage)


def serve_command(args: argparse.Namespace) -> int:
    try:
        image = cards.load(args.card)
    except FixtureError as exc:
        print(f"possim card serve: {exc}", file=sys.stderr)
        print(f"catalogue cards: {', '.join(cards.names())}", file=sys.stderr)
        return 2
    where = f"{args.host}:{args.port}"
    chip = f"{image.protocol}, ATR {image.atr.hex().upper()}" if image.chip else "mute chip"
    print(
        f"serving card {image.name} ({image.brand}, PAN {image.masked_pan}, {chip}) "
        f"to vpcd at {where}",
        flush=True,
    )
    if not image.chip:
        print(
            "the card has no working chip: PC/SC shows it present but unresponsive "
            "(SCARD_STATE_MUTE, pcsc_scan: 'Unresponsive card'), and connecting to it fails "
            "as with a mute card in a real reader",
            flush=True,
        )
    print(
        "needs pcscd running with vsmartcard-vpcd (reader 'Virtual PCD'); check with "
        "`pcsc_scan` or `possim doctor`. Ctrl-C stops.",
        flush=True,
    )
    last: list[str] = []

    def report(message: str) -> None:
        # The reconnect loop repeats its error every second: say it once.
        if last and last[0] == message:
            return
        last[:] = [message]
        hint = ""
        if message.startswith("cannot connect"):
            hint = " -- is pcscd running with vsmartcard-vpcd? (retrying)"
        stamp = datetime.now().strftime("%H:%M:%S")
        print(f"{stamp} {where}: {message}{hint}", flush=True)

    # Ctrl-C (SIGINT) or SIGTERM stops serving, however the process was started.
    stop = threading.Event()
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: stop.set())
    link = VpcdCardLink(
        tcp_connector(args.host, args.port), name=where, reconnect_interval=1.0, on_event=report
    )
    try:
        link.insert(VirtualCard(image))
        while not stop.wait(0.5):
            pass
    finally:
        link.remove()
    print(f"card removed after {link.exchanges} APDU(s); stopped", flush=True)
    return 0
