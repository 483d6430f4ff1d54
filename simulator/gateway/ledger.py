"""The gateway's ledger of card and QR transactions (SQLite).

One row per authorisation request, keyed uniquely by terminal id (DE41),
STAN (DE11) and transmission date-time (DE7): a retransmitted request finds
its row instead of charging twice, and a reversal (which carries no PAN)
finds the original by the same key from DE90.

QR orders (``qr_transactions``, keyed by merchant id and the merchant's
order number) and their refunds (``qr_refunds``, keyed by merchant id and
refund number) live in the same file; :mod:`simulator.gateway.qr.orders`
reads and writes them through :meth:`Ledger.transaction`. Schema version 2
added them; a version 1 ledger is migrated in place (new tables only).

Schema version 3 (card voids, refunds and batch close, docs/settlement.md):
every card row carries ``batch_no`` (DE60.2, '' when the request had none)
and void/refund rows ``original_rrn`` (the sale's RRN). A sale is mti
``0200`` processing code ``000000``; a void ``0200``/``200000``; a refund
``0220``/``200000``. A voided sale keeps status ``approved``: the approved
void row offsets it. ``card_settlements`` keeps each batch close (0500).
A version 1 or 2 ledger is migrated in place (new columns and tables).

Durability: one ``BEGIN IMMEDIATE`` transaction around each change, committed
before the reply leaves (see :mod:`simulator.storage`). Only the masked PAN is ever stored. Times
come from the injected clock, so a simulation on virtual time writes the same
ledger every run. One connection shared by all threads behind a lock.
"""

from __future__ import annotations

import enum
import json
import re
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from drivers.clock import Clock
from drivers.wire.masking import mask_pan
from simulator.errors import GatewayError
from simulator.storage import DatabaseInUse, WriterLock, open_database
from simulator.wire.batch_totals import BatchTotals

SCHEMA_VERSION = 3
_MASKED_PAN = re.compile(r"^\d{6}\*{2,9}\d{4}$")

_SCHEMA = (
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
    batch_no TEXT NOT NULL DEFAULT '',
    original_rrn TEXT,
    UNIQUE (tid, stan, transmission)
)
""",
    "CREATE INDEX IF NOT EXISTS card_transactions_created ON card_transactions (created_at)",
    # Version 2: QR orders and refunds. Only the masked payment code and its
    # SHA-256 (to tell a repeat from a different code) are stored.
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

# Version 3: added to card_transactions (by ALTER TABLE when migrating).
_V3_COLUMNS = (
    ("batch_no", "TEXT NOT NULL DEFAULT ''"),
    ("original_rrn", "TEXT"),
)
_V3_SCHEMA = (
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

# (mti, processing code) of each kind of card row.
SALE = ("0200", "000000")
VOID = ("0200", "200000")
REFUND = ("0220", "200000")

_COLUMNS = (
    "id, tid, stan, transmission, mid, mti, processing_code, amount, currency, masked_pan, "
    "issuer, rrn, auth_code, response_code, status, note, response, created_at, updated_at, "
    "reversal_received_at, batch_no, original_rrn"
)
_SETTLEMENT_COLUMNS = (
    "id, tid, mid, batch_no, stan, transmission, debit_count, debit_total, credit_count, "
    "credit_total, host_debit_count, host_debit_total, host_credit_count, host_credit_total, "
    "result, response, created_at"
)


class Status(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNANSWERED = "unanswered"  # the host never replied: not charged
    REVERSED = "reversed"  # was approved, then undone by a 0400

    def __str__(self) -> str:
        return self.value


def _frozen_mapping(value: Mapping[str, str] | None) -> Mapping[str, str] | None:
    return None if value is None else MappingProxyType(dict(value))


@attrs.frozen
class LedgerEntry:
    id: int
    tid: str
    stan: str
    transmission: str
    mid: str
    mti: str
    processing_code: str
    amount: int  # fen
    currency: str  # ISO 4217 numeric, e.g. "156"
    masked_pan: str
    issuer: str | None
    rrn: str | None
    auth_code: str | None
    response_code: str | None
    status: Status
    note: str
    created_at: datetime
    updated_at: datetime
    reversal_received_at: datetime | None
    # The reply the host sent (ISO 8583 fields; never card data), so a
    # retransmitted request gets exactly the same answer. None: no reply.
    response: Mapping[str, str] | None = attrs.field(converter=_frozen_mapping)
    batch_no: str = ""  # DE60.2 of the request ('' if it had none)
    original_rrn: str | None = None  # void / refund: the sale's RRN

    @property
    def kind(self) -> str:
        """sale, void, refund or other (by mti and processing code)."""
        return _KINDS.get((self.mti, self.processing_code), "other")

    @property
    def charged(self) -> bool:
        """An approved sale: money taken (a void or refund row gives it back)."""
        return self.status is Status.APPROVED and self.kind in ("sale", "other")

    @property
    def credited(self) -> bool:
        """An approved void or refund: money given back."""
        return self.status is Status.APPROVED and self.kind in ("void", "refund")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tid, self.stan, self.transmission)


_KINDS = {SALE: "sale", VOID: "void", REFUND: "refund"}


def _datetime(value: datetime | str) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


@attrs.frozen
class SettlementRecord:
    id: int
    tid: str
    mid: str
    batch_no: str
    stan: str
    transmission: str
    sent: BatchTotals  # what the terminal's 0500 said
    host: BatchTotals  # what the ledger says
    result: str  # balanced / out_of_balance
    response: Mapping[str, str] | None = attrs.field(converter=_frozen_mapping)
    created_at: datetime = attrs.field(converter=_datetime)


@attrs.frozen
class ReversalOutcome:
    """What a reversal (0400/0401) did to the row it names."""

    before: LedgerEntry | None  # None: no row with that key
    after: LedgerEntry | None
    refused: str | None = None  # why the original stands (None: reversed or nothing to undo)


def _frozen_amounts(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


@attrs.frozen
class LedgerTotals:
    count: int
    approved: int
    declined: int
    unanswered: int
    reversed: int
    # currency -> fen still charged: approved sales not reversed, less approved
    # voids and refunds
    net_amounts: Mapping[str, int] = attrs.field(converter=_frozen_amounts)

    def net_amount(self, currency: str = "156") -> int:
        return self.net_amounts.get(currency, 0)


class Ledger:
    """Thread-safe SQLite ledger; ``path`` may be ``":memory:"``.

    ``writer=True``: this process serves the ledger (a gateway) and takes its
    :class:`~simulator.storage.WriterLock`; a second writer on the same file is
    refused with a :class:`GatewayError`. Readers (statements, reconciliation,
    tests) open it without.
    """

    def __init__(self, path: Path | str, clock: Clock, *, writer: bool = False) -> None:
        self.path = str(path)
        self._clock = clock
        self._lock = threading.Lock()
        self._writer: WriterLock | None = None
        if writer and self.path != ":memory:":
            try:
                self._writer = WriterLock(self.path)
            except DatabaseInUse as exc:
                holder = "another process" if exc.holder is None else f"process {exc.holder}"
                raise GatewayError(
                    f"ledger {self.path} is already being written by {holder} (another "
                    "possim gateway?): stop that one, or give this one another ledger"
                ) from None
            except OSError as exc:
                raise GatewayError(f"cannot lock ledger {self.path}: {exc}") from None
        try:
            self._db = open_database(self.path, clock=clock)
        except sqlite3.Error as exc:
            self._release_writer()
            raise GatewayError(f"cannot open ledger {self.path}: {exc}") from None
        try:
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            self._release_writer()
            raise GatewayError(f"cannot use ledger {self.path}: {exc}") from None

    # -- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()
        self._release_writer()

    def _release_writer(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.release()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- changes ---------------------------------------------------------------

    def record_authorisation(
        self,
        *,
        tid: str,
        stan: str,
        transmission: str,
        mid: str,
        amount: int,
        currency: str,
        pan: str,
        status: Status | str,
        response_code: str | None,
        rrn: str | None = None,
        auth_code: str | None = None,
        mti: str = "0200",
        processing_code: str = "000000",
        issuer: str | None = None,
        note: str = "",
        response: Mapping[str, str] | None = None,
        batch_no: str = "",
        original_rrn: str | None = None,
    ) -> tuple[LedgerEntry, bool]:
        """Insert one authorisation; ``(entry, True)``.

        If the key (tid, stan, transmission) is already there nothing changes
        and the existing row comes back: ``(existing, False)``. ``pan`` is
        masked before it is stored (an already masked PAN is kept).
        """
        status = Status(status)
        masked = pan if not pan or _MASKED_PAN.match(pan) else mask_pan(pan)
        now = self._now()
        values = (
            tid,
            stan,
            transmission,
            mid,
            mti,
            processing_code,
            int(amount),
            currency,
            masked,
            issuer,
            rrn,
            auth_code,
            response_code,
            status.value,
            note,
            None if response is None else json.dumps(dict(response)),
            now,
            now,
        )
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO card_transactions (tid, stan, transmission, mid, mti, "
                "processing_code, amount, currency, masked_pan, issuer, rrn, auth_code, "
                "response_code, status, note, response, created_at, updated_at, batch_no, "
                "original_rrn) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tid, stan, transmission) DO NOTHING",
                (*values, batch_no, original_rrn),
            )
            created = cursor.rowcount == 1
            if created:
                # The row is exactly what was just written: no need to read it back.
                row = (cursor.lastrowid, *values, None, batch_no, original_rrn)
                entry: LedgerEntry | None = _entry(row)
            else:
                entry = self._select_one(db, tid, stan, transmission)
        if entry is None:  # pragma: no cover - the row was just written or was there
            raise GatewayError(f"ledger {self.path} lost transaction {tid}/{stan}/{transmission}")
        return entry, created

    def reverse(self, tid: str, stan: str, transmission: str) -> ReversalOutcome:
        """Undo an approved transaction, unless money was already given back against it.

        Approved -> reversed. Declined, unanswered or already reversed: nothing
        to undo. A sale with a standing (approved) void or refund is *not*
        reversed: the credit was given against the charge, and undoing the charge
        alone would give the cardholder money they never paid; the sale stands
        and ``refused`` says why. A reversal once refused stays refused for that
        original (a repeat -- 0401, or a copy delayed in the network -- gets the
        same answer even after the credit is undone), so the terminal that booked
        the sale as standing is never contradicted. Only the first reversal's
        arrival time is noted. Check and change are one transaction.
        """
        now = self._now()
        with self._transaction() as db:
            before = self._select_one(db, tid, stan, transmission)
            if before is None:
                return ReversalOutcome(None, None)
            refused = None
            status = before.status
            if before.status is Status.APPROVED:
                refused = self._reversal_refusal(db, before)
                if refused is None:
                    status = Status.REVERSED
            if status is before.status and before.reversal_received_at is not None:
                return ReversalOutcome(before, before, refused)
            db.execute(
                "UPDATE card_transactions SET status = ?, updated_at = ?, "
                "reversal_received_at = COALESCE(reversal_received_at, ?) WHERE id = ?",
                (status.value, now, now, before.id),
            )
            return ReversalOutcome(before, self._select_one(db, tid, stan, transmission), refused)

    @staticmethod
    def _reversal_refusal(db: sqlite3.Connection, entry: LedgerEntry) -> str | None:
        """Why this approved row cannot be reversed, or None if it can."""
        if entry.reversal_received_at is not None:
            # Approved although a reversal arrived: that reversal was refused.
            return "an earlier reversal of it was refused"
        if entry.kind != "sale" or not entry.rrn:
            return None
        rows = db.execute(
            f"SELECT {_COLUMNS} FROM card_transactions "
            "WHERE original_rrn = ? AND status = 'approved' ORDER BY id",
            (entry.rrn,),
        ).fetchall()
        credits = [_entry(row) for row in rows]
        if not credits:
            return None
        what = ", ".join(f"{e.kind} RRN {e.rrn} ({e.amount} fen)" for e in credits)
        return f"sale RRN {entry.rrn} has approved {what}"

    def record_settlement(
        self,
        *,
        tid: str,
        mid: str,
        batch_no: str,
        stan: str,
        transmission: str,
        sent: BatchTotals,
        host: BatchTotals,
        response: Mapping[str, str] | None,
    ) -> tuple[SettlementRecord, bool]:
        """Record one batch close (0500); ``(existing, False)`` for a repeated key."""
        result = "balanced" if sent == host else "out_of_balance"
        with self._transaction() as db:
            cursor = db.execute(
                f"INSERT INTO card_settlements ({_SETTLEMENT_COLUMNS.removeprefix('id, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tid, stan, transmission) DO NOTHING",
                (
                    tid,
                    mid,
                    batch_no,
                    stan,
                    transmission,
                    *attrs.astuple(sent),
                    *attrs.astuple(host),
                    result,
                    None if response is None else json.dumps(dict(response)),
                    self._now(),
                ),
            )
            created = cursor.rowcount == 1
            record = _select_settlement(db, tid, stan, transmission)
        if record is None:  # pragma: no cover - the row was just written or was there
            raise GatewayError(f"ledger {self.path} lost settlement {tid}/{stan}/{transmission}")
        return record, created

    # -- queries ---------------------------------------------------------------

    def find_sale(self, rrn: str) -> LedgerEntry | None:
        """The sale (0200/000000) the host gave this RRN, if any."""
        with self._lock:
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM card_transactions "
                "WHERE rrn = ? AND mti = ? AND processing_code = ? ORDER BY id LIMIT 1",
                (rrn, *SALE),
            ).fetchone()
        return None if row is None else _entry(row)

    def auth_code_issued(self, auth_code: str) -> bool:
        """Has any card row ever carried this auth code?"""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM card_transactions WHERE auth_code = ? LIMIT 1", (auth_code,)
            ).fetchone()
        return row is not None

    def offsets(self, original_rrn: str) -> list[LedgerEntry]:
        """The void and refund rows that name this sale's RRN, in arrival order."""
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_COLUMNS} FROM card_transactions WHERE original_rrn = ? ORDER BY id",
                (original_rrn,),
            ).fetchall()
        return [_entry(row) for row in rows]

    def batch_totals(self, tid: str, batch_no: str) -> BatchTotals:
        """What the host counts for one terminal's batch: approved rows only."""
        with self._lock:
            rows = self._db.execute(
                "SELECT mti, processing_code, COUNT(*), COALESCE(SUM(amount), 0) "
                "FROM card_transactions WHERE tid = ? AND batch_no = ? AND status = 'approved' "
                "GROUP BY mti, processing_code",
                (tid, batch_no),
            ).fetchall()
        debit = credit = (0, 0)
        for mti, processing_code, count, total in rows:
            kind = _KINDS.get((mti, processing_code))
            if kind == "sale":
                debit = (debit[0] + int(count), debit[1] + int(total))
            elif kind in ("void", "refund"):
                credit = (credit[0] + int(count), credit[1] + int(total))
        return BatchTotals(*debit, *credit)

    def find_settlement(self, tid: str, stan: str, transmission: str) -> SettlementRecord | None:
        with self._lock:
            return _select_settlement(self._db, tid, stan, transmission)

    def settlements(self, tid: str | None = None) -> list[SettlementRecord]:
        query = f"SELECT {_SETTLEMENT_COLUMNS} FROM card_settlements"
        params: tuple[str, ...] = ()
        if tid is not None:
            query += " WHERE tid = ?"
            params = (tid,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [_settlement(row) for row in rows]

    def find(self, tid: str, stan: str, transmission: str) -> LedgerEntry | None:
        with self._lock:
            return self._select_one(self._db, tid, stan, transmission)

    def transactions(self, day: date | str | None = None) -> list[LedgerEntry]:
        """Every transaction in arrival order; ``day`` keeps one local date."""
        query = f"SELECT {_COLUMNS} FROM card_transactions"
        params: tuple[Any, ...] = ()
        if day is not None:
            query += " WHERE substr(created_at, 1, 10) = ?"
            params = (_day_text(day),)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY id", params).fetchall()
        return [_entry(row) for row in rows]

    def totals(self, day: date | str | None = None) -> LedgerTotals:
        counts = dict.fromkeys(Status, 0)
        net: dict[str, int] = {}
        for entry in self.transactions(day):
            counts[entry.status] += 1
            if entry.charged:
                net[entry.currency] = net.get(entry.currency, 0) + entry.amount
            elif entry.credited:
                net[entry.currency] = net.get(entry.currency, 0) - entry.amount
        return LedgerTotals(
            count=sum(counts.values()),
            approved=counts[Status.APPROVED],
            declined=counts[Status.DECLINED],
            unanswered=counts[Status.UNANSWERED],
            reversed=counts[Status.REVERSED],
            net_amounts=net,
        )

    def last_id(self) -> int:
        """The highest row id so far (0 when empty): a base for RRN counters."""
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM card_transactions").fetchone()
        return int(row[0])

    def __len__(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM card_transactions").fetchone()
        return int(row[0])

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT`` (rolled back on an exception)."""
        return self._transaction()

    def now_text(self) -> str:
        """The clock's now as the ledger stores times."""
        return self._now()

    # -- internals -------------------------------------------------------------

    def _now(self) -> str:
        return self._clock.now().isoformat(timespec="microseconds")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise GatewayError(f"ledger {self.path}: cannot begin: {exc}") from None
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._db.execute("ROLLBACK")
                raise GatewayError(f"ledger {self.path}: cannot commit: {exc}") from None

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version not in (0, 1, 2, SCHEMA_VERSION):
            raise GatewayError(
                f"ledger {self.path} has schema version {version}; "
                f"this possim writes version {SCHEMA_VERSION}"
            )
        with self._transaction() as db:
            for statement in _SCHEMA:
                db.execute(statement)
            present = {row[1] for row in db.execute("PRAGMA table_info(card_transactions)")}
            for column, declaration in _V3_COLUMNS:
                if column not in present:
                    db.execute(f"ALTER TABLE card_transactions ADD COLUMN {column} {declaration}")
            for statement in _V3_SCHEMA:
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @staticmethod
    def _select_one(
        db: sqlite3.Connection, tid: str, stan: str, transmission: str
    ) -> LedgerEntry | None:
        row = db.execute(
            f"SELECT {_COLUMNS} FROM card_transactions "
            "WHERE tid = ? AND stan = ? AND transmission = ?",
            (tid, stan, transmission),
        ).fetchone()
        return None if row is None else _entry(row)


def _day_text(day: date | str) -> str:
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(day).isoformat()


def _entry(row: tuple[Any, ...]) -> LedgerEntry:
    (
        id_,
        tid,
        stan,
        transmission,
        mid,
        mti,
        processing_code,
        amount,
        currency,
        masked_pan,
        issuer,
        rrn,
        auth_code,
        response_code,
        status,
        note,
        response,
        created_at,
        updated_at,
        reversal_received_at,
        batch_no,
        original_rrn,
    ) = row
    return LedgerEntry(
        id=int(id_),
        tid=tid,
        stan=stan,
        transmission=transmission,
        mid=mid,
        mti=mti,
        processing_code=processing_code,
        amount=int(amount),
        currency=currency,
        masked_pan=masked_pan,
        issuer=issuer,
        rrn=rrn,
        auth_code=auth_code,
        response_code=response_code,
        status=Status(status),
        note=note,
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
        reversal_received_at=(
            None if reversal_received_at is None else datetime.fromisoformat(reversal_received_at)
        ),
        response=None if response is None else json.loads(response),
        batch_no=batch_no,
        original_rrn=original_rrn,
    )


def _select_settlement(
    db: sqlite3.Connection, tid: str, stan: str, transmission: str
) -> SettlementRecord | None:
    row = db.execute(
        f"SELECT {_SETTLEMENT_COLUMNS} FROM card_settlements "
        "WHERE tid = ? AND stan = ? AND transmission = ?",
        (tid, stan, transmission),
    ).fetchone()
    return None if row is None else _settlement(row)


def _settlement(row: tuple[Any, ...]) -> SettlementRecord:
    (id_, tid, mid, batch_no, stan, transmission, *counts, result, response, created_at) = row
    return SettlementRecord(
        id=int(id_),
        tid=tid,
        mid=mid,
        batch_no=batch_no,
        stan=stan,
        transmission=transmission,
        sent=BatchTotals(*(int(n) for n in counts[:4])),
        host=BatchTotals(*(int(n) for n in counts[4:])),
        result=result,
        response=None if response is None else json.loads(response),
        created_at=created_at,
    )
