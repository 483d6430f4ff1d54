"""``Hands``: the only way to act on a simulated shop -- the people at the counter,
the simulated hardware, and the tester's faults on the simulated host.

Steps, the TUI's person at the counter (:mod:`simulator.tui.counter`), the pytest
``pos`` fixture and the benchmarks all act through one :class:`Hands`, so an
action has one implementation and one wording in the transcript. Acting on a
device the terminal reaches for real (not ``sim://``) raises
:class:`NotSimulated`: the scenario runner turns it into the step's failure,
the TUI shows it, a test sees it raised.

The parts, one module each: :class:`~simulator.hands.people.Cashier`,
:class:`~simulator.hands.people.Cardholder` and
:class:`~simulator.hands.people.Customer`;
:class:`~simulator.hands.devices.Devices` (scanner, printer faults, a card pulled,
time); :class:`~simulator.hands.host.Host` (acquirer and QR gateway faults,
notifies, an unrecorded sale); :class:`~simulator.hands.backoffice.Backoffice`.

Example::

    >>> from pathlib import Path
    >>> from tempfile import TemporaryDirectory
    >>> from simulator.devices import cards
    >>> from simulator.shop import Shop
    >>> from simulator.terminal.config import TerminalConfig
    >>> card = cards.load("unionpay_debit")
    >>> with TemporaryDirectory() as folder, Shop(TerminalConfig.load(), Path(folder)) as shop:
    ...     with shop.clock.actor():
    ...         sale = shop.hands.start_sale(1234)  # fen: RMB 12.34
    ...         shop.clock.settle()
    ...         shop.hands.insert_card(card)
    ...         shop.clock.settle()
    ...         typed = shop.hands.type_pin(card.pin)
    ...         shop.clock.settle()
    ...         taken = shop.hands.remove_card()
    ...         result = sale.wait(60)
    >>> typed, taken, result is not None and result.approved
    (True, True, True)
"""

from __future__ import annotations

import attrs

from simulator.hands.backoffice import Backoffice
from simulator.hands.base import HandsError, NotSimulated
from simulator.hands.devices import Devices, PrinterFaults
from simulator.hands.host import Host
from simulator.hands.people import Cardholder, Cashier, Customer

__all__ = ["Hands", "HandsError", "NotSimulated", "PrinterFaults"]


@attrs.frozen
class Hands(Cashier, Cardholder, Customer, Devices, Host, Backoffice):
    """Every hand on the shop (see the module docstring).

    Args:
        world: the simulated devices (:class:`~simulator.devices.world.SimulatedWorld`).
        terminal: the terminal under test (its cashier app and configuration).
        gateway: the built-in gateway (acquirer host, QR gateway, back office).
        bus: the event stream the hands' own events go to (faults armed, paper refilled).
        clock: the shop's virtual clock.
        actor: the source the hands' events name (``scenario``, ``counter``).

    Raises:
        NotSimulated: from an action on a device the terminal reaches for real.
        HandsError: when the shop has no part to act on (no QR gateway).
    """
