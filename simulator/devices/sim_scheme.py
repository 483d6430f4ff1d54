"""The ``sim://`` scheme: in-process virtual devices for every device kind."""

from __future__ import annotations

from drivers.errors import DeviceURLError
from drivers.printer.escpos import EscposPrinter
from drivers.registry import DeviceContext, DeviceKind, DeviceRegistry, DeviceURL
from drivers.scanner import Scanner
from simulator.devices.card_reader import SimCardReader
from simulator.devices.magstripe_reader import VirtualMagstripeReader
from simulator.devices.pin_pad import VirtualPinPad
from simulator.devices.printer.link import open_virtual_printer
from simulator.devices.scanner import VirtualScanner
from simulator.devices.speaker import VirtualSpeaker
from simulator.devices.world import SimulatedWorld


def register(registry: DeviceRegistry) -> None:
    registry.register(DeviceKind.CARD_READER, "sim", open_card_reader)
    registry.register(DeviceKind.PIN_ENTRY, "sim", open_pin_pad)
    registry.register(DeviceKind.PRINTER, "sim", open_printer)
    registry.register(DeviceKind.SCANNER, "sim", open_scanner)
    registry.register(DeviceKind.SPEAKER, "sim", open_speaker)
    registry.register(DeviceKind.MAGSTRIPE_READER, "sim", open_magstripe_reader)


def open_card_reader(url: DeviceURL, context: DeviceContext) -> SimCardReader:
    world = SimulatedWorld.of(context)
    world.card_reader = SimCardReader(context.clock, name=url.target or "possim virtual reader")
    world.card_slot = world.card_reader
    return world.card_reader


def open_pin_pad(url: DeviceURL, context: DeviceContext) -> VirtualPinPad:
    world = SimulatedWorld.of(context)
    world.pin_pad = VirtualPinPad(context.clock)
    return world.pin_pad


def open_printer(url: DeviceURL, context: DeviceContext) -> EscposPrinter:
    """``sim://?profile=NAME[&transport=sim|usb|pty|tcp]`` (see simulator.devices.printer.link)."""
    world = SimulatedWorld.of(context)
    return open_virtual_printer(
        world,
        context,
        profile_name=url.param("profile", "generic_58mm"),
        transport=url.param("transport", "sim"),
    )


def open_scanner(url: DeviceURL, context: DeviceContext) -> Scanner:
    """``sim://[?transport=sim|pty&profile=NAME]``: in process, or through a pty
    and the real serial:// driver (simulator/devices/scanner_link.py)."""
    world = SimulatedWorld.of(context)
    transport = url.param("transport", "sim")
    if transport == "pty":
        from simulator.devices.scanner_link import open_pty_scanner

        link, hand = open_pty_scanner(context, url.param("profile", "generic_cdc"))
        world.scanner = hand
        return link
    if transport != "sim":
        raise DeviceURLError(f"{url.raw}: transport={transport!r}: expected sim or pty")
    scanner = VirtualScanner(context.clock)
    world.scanner = scanner
    return scanner


def open_speaker(url: DeviceURL, context: DeviceContext) -> VirtualSpeaker:
    """``sim://[?wav=DIR&voice=VOICE]``: records utterances; with ``wav``, also
    renders each to DIR through espeak-ng (docs/speaker.md)."""
    world = SimulatedWorld.of(context)
    wav = url.params.get("wav")
    if wav == "":
        raise DeviceURLError(f"{url.raw}: wav= needs a folder, e.g. sim://?wav=out/")
    world.speaker = VirtualSpeaker(
        language=url.param("language", "zh"), wav_dir=wav, voice=url.param("voice", "")
    )
    return world.speaker


def open_magstripe_reader(url: DeviceURL, context: DeviceContext) -> VirtualMagstripeReader:
    world = SimulatedWorld.of(context)
    world.magstripe_reader = VirtualMagstripeReader(
        context.clock, name=url.target or "possim virtual magstripe reader"
    )
    return world.magstripe_reader
