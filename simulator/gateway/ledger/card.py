"""Card transactions in the ledger: authorisations, voids, refunds and reversals.

One row per authorisation request, keyed uniquely by terminal id (DE41),
STAN (DE11) and transmission date-time (DE7): a retransmitted request finds
its row instead of charging twice, and a reversal (which carries no PAN)
finds the original by the same key from DE90.

A sale is mti ``0200`` processing code ``000000``; a void ``0200``/``200000``;
a refund ``0220``/``200000`` (docs/settlement.md). Every row carries
``batch_no`` (DE60.2, '' when the request had none) and void/refund rows
``original_rrn`` (the sale's RRN). A voided sale keeps status ``approved``:
the approved void row offsets it. Only the masked PAN is ever stored.

The pre-authorisation family (docs/gateway.md) is told apart by ``type_code``
(DE60.1): a pre-auth ``0100``/``030000`` (``10``) holds money but charges
nothing, its void ``0100``/``200000`` (``11``) releases it; a completion
``0200``/``000000`` (``20``, or the ``0220`` advice ``24``) charges, naming the
pre-auth's RRN in ``original_rrn``; a completion void ``0200``/``200000``
(``21``) credits the completion back, naming its RRN.
"""

from __future__ import annotations

import enum
import json
import re
import sqlite3
from collections.abc import Mapping
from datetime import date, datetime
from types import MappingProxyType

import attrs

from drivers.wire.masking import mask_pan
from simulator.errors import GatewayError
from simulator.gateway.ledger.store import LedgerPart, frozen_mapping, json_text
from simulator.storage import Table

_MASKED_PAN = re.compile(r"^\d{6}\*{2,9}\d{4}$")

# (mti, processing code) of each kind of card row.
SALE = ("0200", "000000")
VOID = ("0200", "200000")
REFUND = ("0220", "200000")
KINDS = {SALE: "sale", VOID: "void", REFUND: "refund"}
# DE60.1 -> kind, for the pre-authorisation family (type_code).
PREAUTH_KINDS = {
    "10": "preauth",
    "11": "preauth_void",
    "20": "preauth_completion",
    "21": "preauth_completion_void",
    "24": "preauth_completion",
}
# Kinds that take money and kinds that give it back (batch debit / credit).
DEBIT_KINDS = ("sale", "preauth_completion", "other")
CREDIT_KINDS = ("void", "refund", "preauth_completion_void")


def kind_of(mti: str, processing_code: str, type_code: str = "") -> str:
    """sale, void, refund, preauth, preauth_void, completion, completion_void or other."""
    if type_code:
        return PREAUTH_KINDS.get(type_code, "other")
    return KINDS.get((mti, processing_code), "other")


class Status(str, enum.Enum):
    APPROVED = "approved"
    DECLINED = "declined"
    UNANSWERED = "unanswered"  # the host never replied: not charged
    REVERSED = "reversed"  # was approved, then undone by a 0400

    def __str__(self) -> str:
        return self.value


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
    response: Mapping[str, str] | None = attrs.field(converter=frozen_mapping)
    batch_no: str = ""  # DE60.2 of the request ('' if it had none)
    original_rrn: str | None = None  # void / refund: the sale's RRN
    type_code: str = ""  # DE60.1 of a pre-authorisation family row, else ''

    @property
    def kind(self) -> str:
        """sale, void, refund, the pre-auth family or other (:func:`kind_of`)."""
        return kind_of(self.mti, self.processing_code, self.type_code)

    @property
    def charged(self) -> bool:
        """An approved sale or completion: money taken (a pre-auth only holds it)."""
        return self.status is Status.APPROVED and self.kind in DEBIT_KINDS

    @property
    def credited(self) -> bool:
        """An approved void, refund or completion void: money given back."""
        return self.status is Status.APPROVED and self.kind in CREDIT_KINDS

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.tid, self.stan, self.transmission)


ENTRIES = Table(
    LedgerEntry,
    "card_transactions",
    convert={
        "status": Status,
        "created_at": datetime.fromisoformat,
        "updated_at": datetime.fromisoformat,
        "reversal_received_at": datetime.fromisoformat,
        "response": json.loads,
    },
)
_BY_KEY = "tid = ? AND stan = ? AND transmission = ?"


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


class CardTransactions(LedgerPart):
    """The card rows of the ledger (a part of :class:`~simulator.gateway.ledger.Ledger`)."""

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
        type_code: str = "",
    ) -> tuple[LedgerEntry, bool]:
        """Insert one authorisation (a sale, void or refund) and commit it.

        If the key (tid, stan, transmission) is already there nothing changes
        and the existing row comes back: a retransmitted request is answered
        from its row and never charged twice.

        Args:
            tid, stan, transmission: the key (DE41, DE11, DE7).
            mid: the merchant (DE42).
            amount: fen (DE4).
            currency: ISO 4217 numeric (DE49), e.g. "156".
            pan: the card number; masked before it is stored (a masked PAN is kept).
            status: what the host decided (:class:`Status` or its value).
            response_code: DE39 of the reply, None if there was none.
            rrn, auth_code: DE37 and DE38 of the reply.
            mti, processing_code: the kind of row (:data:`SALE`, :data:`VOID`,
                :data:`REFUND`).
            issuer: which issuer decided.
            note: why, in words.
            response: the reply's fields (never card data), to answer a repeat.
            batch_no: DE60.2 of the request.
            original_rrn: a void's or refund's sale RRN (a completion's pre-auth,
                a completion void's completion).
            type_code: DE60.1 of a pre-authorisation family row ('' otherwise).

        Returns:
            ``(entry, True)`` for a new row, ``(existing, False)`` for a key
            already there.

        Raises:
            ValueError: ``status`` is not a :class:`Status`.
            GatewayError: the ledger cannot be written (one line, names the file).

        Example::

            >>> from simulator.clock import VirtualClock
            >>> from simulator.gateway.ledger import Ledger
            >>> sale = dict(tid="POSSIM01", stan="000001", transmission="0115103000",
            ...             mid="898310048990001", currency="156", pan="6214830027183655",
            ...             status="approved", response_code="00", rrn="260115000001")
            >>> with Ledger(":memory:", VirtualClock()) as ledger:
            ...     entry, created = ledger.record_authorisation(amount=1234, **sale)
            ...     again, created_again = ledger.record_authorisation(amount=1234, **sale)
            ...     net = ledger.totals().net_amount("156")
            >>> created, entry.masked_pan, entry.kind, entry.charged
            (True, '621483******3655', 'sale', True)
            >>> created_again, again == entry, net
            (False, True, 1234)
        """
        status = Status(status)
        masked = pan if not pan or _MASKED_PAN.match(pan) else mask_pan(pan)
        now = self.now_text()
        response_text = json_text(response)
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
        )
        with self._store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO card_transactions (tid, stan, transmission, mid, mti, "
                "processing_code, amount, currency, masked_pan, issuer, rrn, auth_code, "
                "response_code, status, note, response, created_at, updated_at, batch_no, "
                "original_rrn, type_code) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tid, stan, transmission) DO NOTHING",
                (*values, response_text, now, now, batch_no, original_rrn, type_code),
            )
            created = cursor.rowcount == 1
            if created:
                # The row is exactly what was just written: no need to read it back.
                row = (cursor.lastrowid, *values, now, now, None, response_text)
                entry: LedgerEntry | None = ENTRIES.make((*row, batch_no, original_rrn, type_code))
            else:
                entry = ENTRIES.first(db, _BY_KEY, (tid, stan, transmission))
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

        Args:
            tid, stan, transmission: the original's key (from DE90).

        Returns:
            The row before and after, and why a reversal was refused.

        Raises:
            GatewayError: the ledger cannot be written.
        """
        now = self.now_text()
        key = (tid, stan, transmission)
        with self._store.transaction() as db:
            before = ENTRIES.first(db, _BY_KEY, key)
            if before is None:
                return ReversalOutcome(None, None)
            refused = None
            status = before.status
            if before.status is Status.APPROVED:
                refused = _reversal_refusal(db, before)
                if refused is None:
                    status = Status.REVERSED
            if status is before.status and before.reversal_received_at is not None:
                return ReversalOutcome(before, before, refused)
            db.execute(
                "UPDATE card_transactions SET status = ?, updated_at = ?, "
                "reversal_received_at = COALESCE(reversal_received_at, ?) WHERE id = ?",
                (status.value, now, now, before.id),
            )
            return ReversalOutcome(before, ENTRIES.first(db, _BY_KEY, key), refused)

    def find(self, tid: str, stan: str, transmission: str) -> LedgerEntry | None:
        """The row with this key, if any."""
        return self._store.row_as(ENTRIES, _BY_KEY, (tid, stan, transmission))

    def find_sale(self, rrn: str) -> LedgerEntry | None:
        """The sale (0200/000000, not a completion) the host gave this RRN, if any."""
        return self._store.row_as(
            ENTRIES,
            "rrn = ? AND mti = ? AND processing_code = ? AND type_code = ''",
            (rrn, *SALE),
            order="id",
        )

    def find_of_type(self, rrn: str, *type_codes: str) -> LedgerEntry | None:
        """The pre-auth family row with this RRN and one of these DE60.1 codes, if any."""
        marks = ", ".join("?" * len(type_codes))
        return self._store.row_as(
            ENTRIES, f"rrn = ? AND type_code IN ({marks})", (rrn, *type_codes), order="id"
        )

    def auth_code_issued(self, auth_code: str) -> bool:
        """Has any card row ever carried this auth code?"""
        with self._store.reading() as db:
            row = db.execute(
                "SELECT 1 FROM card_transactions WHERE auth_code = ? LIMIT 1", (auth_code,)
            ).fetchone()
        return row is not None

    def offsets(self, original_rrn: str) -> list[LedgerEntry]:
        """The void and refund rows that name this sale's RRN, in arrival order."""
        return self._store.rows_as(ENTRIES, "original_rrn = ?", (original_rrn,))

    def transactions(self, day: date | str | None = None) -> list[LedgerEntry]:
        """Every card row in arrival order; ``day`` keeps one local date.

        Raises:
            ValueError: ``day`` is text but not an ISO date.
        """
        if day is None:
            return self._store.rows_as(ENTRIES)
        return self._store.rows_as(ENTRIES, "substr(created_at, 1, 10) = ?", (_day_text(day),))

    def totals(self, day: date | str | None = None) -> LedgerTotals:
        """Counts by status and the net still charged per currency (of one day, if given)."""
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
        with self._store.reading() as db:
            row = db.execute("SELECT COALESCE(MAX(id), 0) FROM card_transactions").fetchone()
        return int(row[0])

    def __len__(self) -> int:
        with self._store.reading() as db:
            row = db.execute("SELECT COUNT(*) FROM card_transactions").fetchone()
        return int(row[0])


def _reversal_refusal(db: sqlite3.Connection, entry: LedgerEntry) -> str | None:
    """Why this approved row cannot be reversed, or None if it can."""
    if entry.reversal_received_at is not None:
        # Approved although a reversal arrived: that reversal was refused.
        return "an earlier reversal of it was refused"
    if entry.kind not in ("sale", "preauth", "preauth_completion") or not entry.rrn:
        return None
    credits = ENTRIES.select(db, "original_rrn = ? AND status = 'approved'", (entry.rrn,))
    if not credits:
        return None
    what = ", ".join(f"{e.kind} RRN {e.rrn} ({e.amount} fen)" for e in credits)
    return f"{entry.kind} RRN {entry.rrn} has approved {what}"


def _day_text(day: date | str) -> str:
    if isinstance(day, date):
        return day.isoformat()
    return date.fromisoformat(day).isoformat()
