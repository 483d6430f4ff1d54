"""The ``sim://`` scheme: in-process virtual devices for every device kind.

One table, :data:`SIM_DEVICES`, says which factory makes each kind's virtual
device and which ``?key=value`` parameters it takes (declared once as
:class:`~drivers.params.UrlParam`: the registry checks them, the factories read
them, docs/devices.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from drivers.card_reader import CardInterface, CardReader
from drivers.magstripe_reader import MagstripeReader
from drivers.params import UrlParam
from drivers.pin_entry import PinEntry
from drivers.printer import Printer
from drivers.printer.escpos import EscposPrinter
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.scanner import Scanner
from drivers.speaker import Speaker
from drivers.url import DeviceURL
from simulator.devices.card_reader import SimCardReader
from simulator.devices.magstripe_reader import VirtualMagstripeReader
from simulator.devices.pin_pad import VirtualPinPad
from simulator.devices.printer.link import PRINTER_TRANSPORTS, open_virtual_printer
from simulator.devices.scanner import VirtualScanner
from simulator.devices.scanner_link import SCANNER_TRANSPORTS, open_pty_scanner
from simulator.devices.speaker import VirtualSpeaker
from simulator.devices.wedge import open_wedge_scanner
from simulator.devices.world import SimulatedWorld

PRINTER_PROFILE = UrlParam(
    "profile",
    str,
    "generic_58mm",
    help="the virtual printer's profile in `firmware_fixtures/printers/` (paper width, "
    "characters per line, Chinese, native QR) or a path to a `.yaml` file",
)
PRINTER_TRANSPORT = UrlParam(
    "transport",
    str,
    "sim",
    choices=PRINTER_TRANSPORTS,
    help="how the terminal's driver reaches the virtual printer: in process, or through the "
    "real `usb://`, `serial://` (a pty) or `tcp://` driver (docs/printer.md)",
)
SCANNER_TRANSPORT = UrlParam(
    "transport",
    str,
    "sim",
    choices=SCANNER_TRANSPORTS,
    help="how the terminal reaches the virtual scanner: in process, through a pty and the "
    "real `serial://` driver, or as a keyboard wedge's key events into the real `evdev://` "
    "driver (docs/scanner.md)",
)
SCANNER_PROFILE = UrlParam(
    "profile",
    str,
    "generic_cdc",
    help="with `transport=pty`: the scanner profile in `firmware_fixtures/scanners/` that "
    "frames the codes on the pty",
)
CARD_INTERFACE = UrlParam(
    "interface",
    str,
    "contact",
    choices=("contact", "contactless"),
    help="`contactless`: the PICC side of the virtual dual-interface reader, where "
    "scenarios tap cards (docs/contactless.md)",
)
SPEAKER_WAV: UrlParam[str | None] = UrlParam(
    "wav",
    str,
    None,
    needs="a folder",
    example="out/",
    help="also render each utterance to a WAV file in this folder through espeak-ng "
    "(a scenario run copies them next to `speech.txt`)",
)
SPEAKER_VOICE = UrlParam(
    "voice",
    str,
    "",
    default_doc="each language's",
    help="with `wav`: the espeak-ng voice for the utterances in its language",
)


def open_card_reader(url: DeviceURL, context: DeviceContext) -> SimCardReader:
    world = SimulatedWorld.of(context)
    if CARD_INTERFACE.value(url) == "contactless":
        world.contactless_reader = SimCardReader(
            context.clock,
            name=url.target or "possim virtual reader PICC",
            interface=CardInterface.CONTACTLESS,
        )
        world.picc_slot = world.contactless_reader
        return world.contactless_reader
    world.card_reader = SimCardReader(context.clock, name=url.target or "possim virtual reader")
    world.card_slot = world.card_reader
    return world.card_reader


def open_pin_pad(url: DeviceURL, context: DeviceContext) -> VirtualPinPad:
    world = SimulatedWorld.of(context)
    world.pin_pad = VirtualPinPad(context.clock)
    return world.pin_pad


def open_printer(url: DeviceURL, context: DeviceContext) -> EscposPrinter:
    """The virtual printer, reached over ``transport`` (see simulator.devices.printer.link)."""
    world = SimulatedWorld.of(context)
    return open_virtual_printer(
        world,
        context,
        profile_name=PRINTER_PROFILE.value(url),
        transport=PRINTER_TRANSPORT.value(url),
    )


def open_scanner(url: DeviceURL, context: DeviceContext) -> Scanner:
    """In process, or through a pty and the real serial:// driver (scanner_link)."""
    world = SimulatedWorld.of(context)
    if SCANNER_TRANSPORT.value(url) == "pty":
        link, hand = open_pty_scanner(context, SCANNER_PROFILE.value(url))
        world.scanner = hand
        return link
    if SCANNER_TRANSPORT.value(url) == "wedge":
        wedge, wedge_hand = open_wedge_scanner(context, url)
        world.scanner = wedge_hand
        return wedge
    scanner = VirtualScanner(context.clock)
    world.scanner = scanner
    return scanner


def open_speaker(url: DeviceURL, context: DeviceContext) -> VirtualSpeaker:
    """Records utterances; with ``wav``, also renders each through espeak-ng (docs/speaker.md)."""
    world = SimulatedWorld.of(context)
    world.speaker = VirtualSpeaker(wav_dir=SPEAKER_WAV.value(url), voice=SPEAKER_VOICE.value(url))
    return world.speaker


def open_magstripe_reader(url: DeviceURL, context: DeviceContext) -> VirtualMagstripeReader:
    world = SimulatedWorld.of(context)
    world.magstripe_reader = VirtualMagstripeReader(
        context.clock, name=url.target or "possim virtual magstripe reader"
    )
    return world.magstripe_reader


@attrs.frozen
class SimDevice:
    """One kind's virtual device: its factory, its parameters, what it is."""

    protocol: type[object]
    factory: Callable[[DeviceURL, DeviceContext], object]
    help: str
    params: tuple[UrlParam[object], ...] = ()
    usage: str = "sim://"


SIM_DEVICES: tuple[SimDevice, ...] = (
    SimDevice(
        CardReader,
        open_card_reader,
        "the virtual card reader: scenarios insert, remove and swipe cards (`sim://NAME` names "
        "it); `interface=contactless` is its PICC side, where cards are tapped",
        (CARD_INTERFACE,),
        usage="sim://[NAME]",
    ),
    SimDevice(PinEntry, open_pin_pad, "the virtual PIN pad: scenarios and the TUI press its keys"),
    SimDevice(
        Printer,
        open_printer,
        "the virtual ESC/POS printer: receipts as text and PNG, paper, cover and offline faults",
        (PRINTER_PROFILE, PRINTER_TRANSPORT),
    ),
    SimDevice(
        Scanner,
        open_scanner,
        "the virtual scanner: scenarios scan the customer's payment codes",
        (SCANNER_TRANSPORT, SCANNER_PROFILE),
    ),
    SimDevice(
        Speaker,
        open_speaker,
        "the virtual speaker: keeps each utterance's text and language (`expect_speech`)",
        (SPEAKER_WAV, SPEAKER_VOICE),
    ),
    SimDevice(
        MagstripeReader,
        open_magstripe_reader,
        "the virtual magnetic-stripe reader: scenarios swipe cards (`sim://NAME` names it)",
        usage="sim://[NAME]",
    ),
)


def register(registry: DeviceRegistry) -> None:
    for device in SIM_DEVICES:
        registry.register(
            device.protocol,
            "sim",
            device.factory,
            params=device.params,
            usage=device.usage,
            help=device.help,
        )
