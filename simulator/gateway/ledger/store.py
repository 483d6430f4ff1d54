"""The ledger file: its schema versions, and what every part of the ledger stands on.

Version 1: ``card_transactions``, one row per authorisation request.
Version 2: ``qr_transactions`` and ``qr_refunds`` (QR orders and refunds).
Version 3: ``batch_no`` and ``original_rrn`` on card rows, their indexes and
``card_settlements`` (batch closes).
Version 4: ``type_code`` on card rows (DE60.1 of the pre-authorisation family,
'' for the rest). An older ledger is migrated in place when
it is opened (new tables and columns only: no row is rewritten).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from types import MappingProxyType

from drivers.clock import Clock
from simulator.errors import GatewayError
from simulator.storage import Schema, SqliteStore, add_columns, statements

VERSION_1 = (
    """
CREATE TABLE IF NOT EXISTS card_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tid TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission TEXT NOT NULL,
    mid TEXT NOT NULL,
    mti TEXT NOT NULL,
    processing_code TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    masked_pan TEXT NOT NULL,
    issuer TEXT,
    rrn TEXT,
    auth_code TEXT,
    response_code TEXT,
    status TEXT NOT NULL
        CHECK (status IN ('approved', 'declined', 'unanswered', 'reversed')),
    note TEXT NOT NULL DEFAULT '',
    response TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    reversal_received_at TEXT,
    UNIQUE (tid, stan, transmission)
)
""",
    "CREATE INDEX IF NOT EXISTS card_transactions_created ON card_transactions (created_at)",
)

# Only the masked payment code and its SHA-256 (to tell a repeat from a
# different code) are stored.
VERSION_2 = (
    """
CREATE TABLE IF NOT EXISTS qr_transactions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    terminal_id TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('micropay', 'precreate')),
    channel TEXT NOT NULL,
    amount_fen INTEGER NOT NULL,
    currency TEXT NOT NULL,
    masked_code TEXT,
    code_digest TEXT,
    description TEXT NOT NULL DEFAULT '',
    trade_state TEXT NOT NULL CHECK (trade_state IN
        ('SUCCESS', 'USERPAYING', 'NOTPAY', 'CLOSED', 'REVOKED', 'REFUND', 'PAYERROR')),
    error_code TEXT,
    transaction_id TEXT,
    paid_at TEXT,
    refunded_fen INTEGER NOT NULL DEFAULT 0,
    notify_url TEXT,
    issuance TEXT,
    qr_payload TEXT,
    expires_at TEXT,
    wallet TEXT,
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notified_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (merchant_id, out_trade_no)
)
""",
    """
CREATE TABLE IF NOT EXISTS qr_refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id TEXT NOT NULL,
    out_refund_no TEXT NOT NULL,
    out_trade_no TEXT NOT NULL,
    refund_fen INTEGER NOT NULL,
    refund_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (merchant_id, out_refund_no)
)
""",
)

VERSION_3_COLUMNS = (
    ("batch_no", "TEXT NOT NULL DEFAULT ''"),  # DE60.2 of the request
    ("original_rrn", "TEXT"),  # void / refund: the sale's RRN
)
VERSION_3 = (
    "CREATE INDEX IF NOT EXISTS card_transactions_batch ON card_transactions (tid, batch_no)",
    "CREATE INDEX IF NOT EXISTS card_transactions_rrn ON card_transactions (rrn)",
    "CREATE INDEX IF NOT EXISTS card_transactions_original ON card_transactions (original_rrn)",
    # Auth codes are never issued twice (AcquirerHost): looked up on every approval.
    "CREATE INDEX IF NOT EXISTS card_transactions_auth_code ON card_transactions (auth_code)",
    """
CREATE TABLE IF NOT EXISTS card_settlements (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tid TEXT NOT NULL,
    mid TEXT NOT NULL,
    batch_no TEXT NOT NULL,
    stan TEXT NOT NULL,
    transmission TEXT NOT NULL,
    debit_count INTEGER NOT NULL,
    debit_total INTEGER NOT NULL,
    credit_count INTEGER NOT NULL,
    credit_total INTEGER NOT NULL,
    host_debit_count INTEGER NOT NULL,
    host_debit_total INTEGER NOT NULL,
    host_credit_count INTEGER NOT NULL,
    host_credit_total INTEGER NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('balanced', 'out_of_balance')),
    response TEXT,
    created_at TEXT NOT NULL,
    UNIQUE (tid, stan, transmission)
)
""",
)


def _version_3(db: sqlite3.Connection) -> None:
    add_columns("card_transactions", *VERSION_3_COLUMNS)(db)
    statements(*VERSION_3)(db)


# DE60.1 of a pre-authorisation family row ('' for sales, voids, refunds):
# a completion is 0200/000000 like a sale, its void 0200/200000 like a void.
VERSION_4_COLUMNS = (("type_code", "TEXT NOT NULL DEFAULT ''"),)

SCHEMA = Schema(
    "ledger",
    (
        statements(*VERSION_1),
        statements(*VERSION_2),
        _version_3,
        add_columns("card_transactions", *VERSION_4_COLUMNS),
    ),
    error=GatewayError,
    writer="possim gateway",
)
SCHEMA_VERSION = SCHEMA.version


class LedgerPart:
    """What each part of the ledger (card, QR, settlement) stands on.

    The shared :class:`~simulator.storage.SqliteStore` and the clock that
    stamps rows; times are stored as ISO 8601 text with microseconds, so a
    simulation on virtual time writes the same ledger every run.
    """

    def __init__(self, store: SqliteStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self.path = store.path

    def now_text(self) -> str:
        """The clock's now as the ledger stores times."""
        return self._clock.now().isoformat(timespec="microseconds")


def frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """A read-only copy (None stays None)."""
    return None if value is None else MappingProxyType(dict(value))


def json_text(value: Mapping[str, str] | None) -> str | None:
    """An ISO 8583 reply as stored (JSON), None for no reply."""
    return None if value is None else json.dumps(dict(value))
