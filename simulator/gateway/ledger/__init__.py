"""The gateway's ledger of card and QR transactions: one SQLite file, three parts.

* :mod:`.card` -- card authorisations, voids, refunds and reversals
  (``card_transactions``);
* :mod:`.qr` -- QR orders and refunds (``qr_transactions``, ``qr_refunds``),
  written by the state machine in :mod:`simulator.gateway.qr.orders`;
* :mod:`.settlement` -- batch totals and batch closes (``card_settlements``);

all on one :class:`~simulator.storage.SqliteStore` whose schema versions are in
:mod:`.store` (an older ledger is migrated in place when opened).
:class:`Ledger` is the facade the gateway, the back office and the tests use.

Durability: one ``BEGIN IMMEDIATE`` transaction around each change, committed
before the reply leaves (see :mod:`simulator.storage`). Only the masked PAN is
ever stored. Times come from the injected clock, so a simulation on virtual
time writes the same ledger every run. One connection shared by all threads
behind a lock.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from pathlib import Path

from drivers.clock import Clock
from simulator.gateway.ledger.card import (
    REFUND,
    SALE,
    VOID,
    CardTransactions,
    LedgerEntry,
    LedgerTotals,
    ReversalOutcome,
    Status,
)
from simulator.gateway.ledger.qr import QrOrder, QrOrders, QrRefund
from simulator.gateway.ledger.settlement import SettlementRecord, Settlements
from simulator.gateway.ledger.store import SCHEMA, SCHEMA_VERSION
from simulator.storage import SqliteStore

__all__ = [
    "REFUND",
    "SALE",
    "SCHEMA",
    "SCHEMA_VERSION",
    "VOID",
    "Ledger",
    "LedgerEntry",
    "LedgerTotals",
    "QrOrder",
    "QrRefund",
    "ReversalOutcome",
    "SettlementRecord",
    "Status",
]


class Ledger(CardTransactions, Settlements):
    """Thread-safe SQLite ledger; ``path`` may be ``":memory:"``.

    The card and settlement methods are its own (from :class:`CardTransactions`
    and :class:`Settlements`); the QR tables are :attr:`qr_orders`.

    Args:
        path: the ledger file (created, or migrated from an older version).
        clock: stamps the rows; a real clock checkpoints in the background.
        writer: this process serves the ledger (a gateway) and takes its
            :class:`~simulator.storage.WriterLock`. Readers (statements,
            reconciliation, tests) open it without.

    Raises:
        GatewayError: one line naming the file: it is not a ledger, is from a
            newer possim, or (``writer``) another process is writing it.
    """

    def __init__(self, path: Path | str, clock: Clock, *, writer: bool = False) -> None:
        super().__init__(SqliteStore(path, clock, SCHEMA, writer=writer), clock)
        self.qr_orders = QrOrders(self._store)

    def close(self) -> None:
        """Close the file and drop the writer lock, if held."""
        self._store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception), for
        readers of the raw tables such as the back office's statements."""
        return self._store.transaction()
