"""How the terminal may reach each simulated device.

Each device declares its own transports (``CARD_TRANSPORTS`` beside the card
slot, ``PRINTER_TRANSPORTS`` in the printer's link, ``SCANNER_TRANSPORTS`` in
the scanner's link); :data:`TRANSPORT_AXES` gathers them under the names that
``possim run --*-transport``, :class:`~simulator.shop.Shop` and a scenario's
``variants:`` use.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from simulator.devices.card_slot import CARD_TRANSPORTS
from simulator.devices.printer.link import PRINTER_TRANSPORTS
from simulator.devices.scanner_link import SCANNER_TRANSPORTS

__all__ = ["CARD_TRANSPORTS", "PRINTER_TRANSPORTS", "SCANNER_TRANSPORTS", "TRANSPORT_AXES"]

# A scenario's variant axis (a run_scenario keyword) -> the transports it may take.
TRANSPORT_AXES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "card_transport": CARD_TRANSPORTS,
        "printer_transport": PRINTER_TRANSPORTS,
        "scanner_transport": SCANNER_TRANSPORTS,
    }
)
