"""The ``replay://PATH.jsonl`` scheme: a recorded device, driven by the real driver.

==================  ==========================================================
trace kind          what ``replay://`` opens
==================  ==========================================================
``card_reader``     :class:`PcscCardReader` over :class:`ReplayScard`
``printer``         :class:`EscposPrinter` over :class:`ReplayEscpos`
``scanner``         :class:`SerialScanner` over :class:`ReplayPort`, or (a trace
                    whose ``device.transport`` is ``evdev``)
                    :class:`WedgeScanner` over :class:`ReplaySource`
==================  ==========================================================

``PATH`` is a file, relative to the working folder or to a fixtures folder
(``replay://traces/card_purchase/card_reader.jsonl`` finds
``firmware_fixtures/traces/card_purchase/card_reader.jsonl`` from anywhere).
In a simulation the replayed card reader and scanner also put a "hand" into the
simulated world, so ``insert_card``/``remove_card``/``scan_code`` steps say when
the recorded card arrives and leaves and when the recorded scan happens.
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from drivers import fixtures
from drivers.card_reader import CardReader
from drivers.errors import DeviceURLError
from drivers.printer import Printer
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.scanner import Scanner
from drivers.traffic.recording import RECORDING
from drivers.traffic.tape import Cursor
from drivers.traffic.trace import Trace, TraceFormatError
from drivers.url import DeviceURL

_HELP = (
    "the {kind} recorded in a trace (docs/replay.md), driven by the real driver; PATH is "
    "relative to the working folder or to a fixtures folder"
)


def register(registry: DeviceRegistry) -> None:
    registry.recording = RECORDING
    usage = "replay://PATH.jsonl"
    for protocol, kind, factory in (
        (CardReader, "card reader", open_card_reader),
        (Printer, "printer", open_printer),
        (Scanner, "scanner", open_scanner),
    ):
        registry.register(protocol, "replay", factory, usage=usage, help=_HELP.format(kind=kind))


def find_trace(url: DeviceURL) -> Path:
    if not url.target:
        raise DeviceURLError(f"{url.raw}: expected replay://PATH.jsonl")
    path = Path(url.target)
    if path.is_file():
        return path
    relative = Path(*path.parts[1:]) if path.parts[:1] == ("firmware_fixtures",) else path
    for folder in fixtures.search_path():
        candidate = folder / relative
        if not path.is_absolute() and candidate.is_file():
            return candidate
    folders = ", ".join(str(folder) for folder in fixtures.search_path())
    raise TraceFormatError(path, f"no such trace file (looked here and in {folders})")


# The replays opened on one clock belong to one terminal (see Cursor.peers).
_peers: weakref.WeakKeyDictionary[Any, list[Cursor]] = weakref.WeakKeyDictionary()
_peers_lock = threading.Lock()


def _cursor(url: DeviceURL, kind: str, context: DeviceContext) -> Cursor:
    trace = Trace.load(find_trace(url))
    if trace.kind != kind:
        raise TraceFormatError(trace.path, f"a {trace.kind} trace cannot replay a {kind}", line=1)
    cursor = Cursor(trace)
    with _peers_lock:
        peers = _peers.setdefault(context.clock, [])
        peers.append(cursor)
        cursor.peers = peers
    return cursor


def _world(context: DeviceContext, attribute: str) -> object | None:
    """The simulated world, when there is one with a place for ``attribute``."""
    world = context.simulation
    return world if world is not None and hasattr(world, attribute) else None


def open_card_reader(url: DeviceURL, context: DeviceContext) -> CardReader:
    from drivers.pcsc_card_reader import PcscCardReader
    from drivers.traffic.pcsc import ReplayCardSlot, ReplayScard

    cursor = _cursor(url, "card_reader", context)
    scard = ReplayScard(cursor)
    reader = PcscCardReader(
        str(cursor.trace.device.get("reader", "")), clock=context.clock, scard=scard
    )
    world = _world(context, "card_slot")
    if world is not None:
        setattr(world, "card_slot", ReplayCardSlot(scard, context.clock))  # noqa: B010
    return reader


def open_printer(url: DeviceURL, context: DeviceContext) -> Printer:
    from drivers.printer.escpos import EscposPrinter
    from drivers.printer.profile import PrinterProfile
    from drivers.printer.transports import DEFAULT_PROFILE
    from drivers.traffic.escpos import ReplayEscpos

    cursor = _cursor(url, "printer", context)
    device = cursor.trace.device
    profile = PrinterProfile.load(str(device.get("profile", DEFAULT_PROFILE)))
    escpos = ReplayEscpos(cursor, profile=profile.escpos_profile)
    printer = EscposPrinter(escpos, profile=profile, name=str(cursor.trace.header.get("url")))
    if device.get("status_on_open", True):
        printer.status()  # what the transports do on opening, so the trace has it
    return printer


def open_scanner(url: DeviceURL, context: DeviceContext) -> Scanner:
    from drivers.traffic.serial import ReplayPort, ReplayScannerHand, ReplaySerialScanner

    cursor = _cursor(url, "scanner", context)
    device = cursor.trace.device
    if device.get("transport") == "evdev":
        return _open_wedge(cursor, context)
    timeout = _device_field(cursor, "timeout", 0.05, "seconds up to 10", _seconds)
    suffix = _device_field(cursor, "suffix", "0d", "hex digits", _hex)
    port = ReplayPort(cursor, timeout)
    scanner = ReplaySerialScanner(
        port,
        cursor,
        clock=context.clock,
        prefix=str(device.get("prefix", "")),
        suffix=bytes.fromhex(suffix),
        max_length=_device_field(cursor, "max_length", 512, "1 to 65536", _length),
        name=str(cursor.trace.header.get("url")),
    )
    world = _world(context, "scanner")
    if world is not None:
        setattr(world, "scanner", ReplayScannerHand(scanner, context.clock))  # noqa: B010
    return scanner


def _open_wedge(cursor: Cursor, context: DeviceContext) -> Scanner:
    from drivers.traffic.evdev import ReplaySource, ReplayWedgeHand, ReplayWedgeScanner
    from drivers.wedge_keys import SUFFIX_KEYS, WedgeBurstDetector

    device = cursor.trace.device
    suffix = _device_field(cursor, "suffix", "ENTER", "one of ENTER, TAB, none", _wedge_suffix)
    detector = WedgeBurstDetector(
        gap=_device_field(cursor, "gap", 30, "1 to 10000 milliseconds", _millis) / 1000,
        suffix=SUFFIX_KEYS[suffix],
        prefix=str(device.get("prefix", "")),
        max_length=_device_field(cursor, "max_length", 512, "1 to 65536", _length),
        min_length=_device_field(cursor, "min_length", 4, "1 to 65536", _length),
    )
    scanner = ReplayWedgeScanner(
        ReplaySource(cursor),
        cursor,
        clock=context.clock,
        detector=detector,
        name=str(cursor.trace.header.get("url")),
    )
    world = _world(context, "scanner")
    if world is not None:
        setattr(world, "scanner", ReplayWedgeHand(scanner, context.clock))  # noqa: B010
    return scanner


T = TypeVar("T")


def _device_field(
    cursor: Cursor, name: str, default: T, expected: str, valid: Callable[[object], bool]
) -> T:
    """The header's ``device.<name>``, or ``default``; a TraceFormatError if malformed."""
    value = cursor.trace.device.get(name, default)
    if not valid(value):
        raise TraceFormatError(
            cursor.path, f"header: device.{name}: expected {expected}, got {value!r}", line=1
        )
    return value  # type: ignore[no-any-return]


def _seconds(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 10


def _hex(value: object) -> bool:
    return isinstance(value, str) and re.fullmatch(r"(?:[0-9A-Fa-f]{2})*", value) is not None


def _length(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 65536


def _millis(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 10000


def _wedge_suffix(value: object) -> bool:
    return value in ("ENTER", "TAB", "none")
