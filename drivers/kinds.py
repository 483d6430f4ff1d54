"""The device protocols a terminal drives, by the name configurations, traces and
``--pos-<device>`` options use (each protocol declares its own ``device_kind``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from drivers.card_reader import CardReader
from drivers.magstripe_reader import MagstripeReader
from drivers.pin_entry import PinEntry
from drivers.printer import Printer
from drivers.scanner import Scanner
from drivers.speaker import Speaker

DEVICE_KINDS: Mapping[str, type[object]] = MappingProxyType(
    {
        protocol.device_kind: protocol
        for protocol in (CardReader, PinEntry, Printer, Scanner, Speaker, MagstripeReader)
    }
)
