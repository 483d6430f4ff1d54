"""One load-test terminal's state: its identity, STAN, open batch and what it sold.

A :class:`LoadTerminal` is what a possim Locust user *is*: a terminal id and
merchant id, a STAN counter, the open batch (its number and every approved
sale, void and refund in it, for the 0500's totals), the sales a void or
refund may still undo, its own catalogue cards (each a
:class:`~simulator.devices.card.VirtualCard` with its own ATC), its connection
to the host and the sink that every finished request is reported to
(:class:`Exchange`). The transactions themselves are :mod:`.card_tasks` and
:mod:`.qr_tasks`; they are plain functions of a terminal, so they run the same
under Locust (a greenlet per user) and in a test's plain thread.

Card data (PAN, track 2, PIN) stays in memory: an :class:`Exchange` and a
:mod:`record <.record>` line carry only the masked PAN.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime

import attrs

from drivers.clock import RealClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_image import CardImage
from simulator.loadtest.connection import IsoConnection
from simulator.terminal.financial_requests import Merchant
from simulator.wire.batch_totals import BatchTotals

_IMAGES: dict[str, CardImage] = {}  # catalogue card images by name, shared by the terminals
MAX_STAN = 999_999  # DE11, n6; 000000 is not used
FIRST_BATCH = 1
MAX_BATCH = 999_999  # DE60.2, n6


@attrs.frozen
class Exchange:
    """One request and its answer, as Locust reports it (and :mod:`.record` keeps it).

    ``kind`` is Locust's request type (``ISO8583`` or ``QR``); ``name`` the row
    in its statistics (``0200 sale chip``, ``0400 reversal``, ``QR micropay``
    ...); ``error`` is empty when the host approved (or, for a query, answered).
    """

    kind: str
    name: str
    seconds: float
    error: str = ""
    size: int = 0
    record: dict[str, str] = attrs.field(factory=dict)

    @property
    def ok(self) -> bool:
        return not self.error


Report = Callable[[Exchange], None]


@attrs.define
class Sale:
    """An approved card sale a void (same batch) or refund may still undo."""

    amount_fen: int
    stan: str
    transmission: str
    batch_no: str
    rrn: str
    auth_code: str
    refund_fields: dict[str, str] = attrs.field(repr=False)  # REFUND_CARD_FIELDS of the card


@attrs.define
class LoadTerminal:
    """The state of one simulated terminal (one Locust user)."""

    merchant: Merchant
    connection: IsoConnection | None  # None: a QR-only terminal
    report: Report
    rng: random.Random
    pin_key: bytes = attrs.field(repr=False)
    stan: int = 0
    batch: int = FIRST_BATCH
    debit: list[int] = attrs.field(factory=list)  # approved sales of the open batch, fen
    credit: list[int] = attrs.field(factory=list)  # approved voids and refunds, fen
    open_sales: list[Sale] = attrs.field(factory=list)
    order: int = 0  # QR order numbers
    paid_orders: list[tuple[str, int]] = attrs.field(factory=list)  # QR (out_trade_no, fen)
    clock: RealClock = attrs.field(factory=RealClock)
    _cards: dict[str, VirtualCard] = attrs.field(factory=dict, repr=False)

    @property
    def terminal_id(self) -> str:
        return self.merchant.terminal_id

    @property
    def batch_no(self) -> str:
        return f"{self.batch:06d}"

    def next_stan(self) -> str:
        self.stan = self.stan % MAX_STAN + 1
        return f"{self.stan:06d}"

    def next_order(self, prefix: str) -> str:
        """A QR order number unique to this terminal and run (1-32 characters)."""
        self.order += 1
        return f"{prefix}{self.terminal_id}{int(time.time())}{self.order:06d}"

    def card(self, name: str) -> VirtualCard:
        """This terminal's own copy of a catalogue card (its ATC counts on)."""
        card = self._cards.get(name)
        if card is None:
            image = _IMAGES.get(name)
            if image is None:
                # Parsed once per process: hundreds of users parsing YAML at spawn would
                # hold the CPU long enough for a Locust worker to miss its heartbeats.
                image = _IMAGES[name] = cards.load(name)
            card = self._cards[name] = VirtualCard(image)
        return card

    def image(self, name: str) -> CardImage:
        return self.card(name).image

    def now(self) -> datetime:
        return self.clock.now()

    def totals(self) -> BatchTotals:
        return BatchTotals(len(self.debit), sum(self.debit), len(self.credit), sum(self.credit))

    def batch_closed(self) -> None:
        self.batch = self.batch % MAX_BATCH + 1
        self.debit.clear()
        self.credit.clear()
        self.open_sales = [sale for sale in self.open_sales if sale.batch_no == self.batch_no]

    def amount(self, low_yuan: int = 1, high_yuan: int = 500) -> int:
        """A whole-yuan amount: clear of the built-in host's magic fen values."""
        return self.rng.randint(low_yuan, high_yuan) * 100

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
