"""Batch closes in the ledger: what the host counts for a batch, and each 0500 it answered.

``batch_totals`` counts a terminal's approved card rows of one batch (sales
and pre-auth completions as debits, voids, refunds and completion voids as
credits; a pre-auth and its void move no money and are not counted); ``card_settlements`` keeps each
batch close with the terminal's totals beside the host's, balanced or not
(docs/settlement.md).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from simulator.errors import GatewayError
from simulator.gateway.ledger.card import CREDIT_KINDS, DEBIT_KINDS, kind_of
from simulator.gateway.ledger.store import LedgerPart, frozen_mapping, json_text
from simulator.storage import Table
from simulator.wire.batch_totals import BatchTotals


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
    response: Mapping[str, str] | None = attrs.field(converter=frozen_mapping)
    created_at: datetime = attrs.field(converter=_datetime)


def _record(row: tuple[Any, ...]) -> SettlementRecord:
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
        response=response,
        created_at=created_at,
    )


_TOTALS = ("debit_count", "debit_total", "credit_count", "credit_total")
SETTLEMENTS = Table(
    SettlementRecord,
    "card_settlements",
    columns=(
        "id",
        "tid",
        "mid",
        "batch_no",
        "stan",
        "transmission",
        *_TOTALS,
        *(f"host_{column}" for column in _TOTALS),
        "result",
        "response",
        "created_at",
    ),
    convert={"response": json.loads},
    from_row=_record,
)
_BY_KEY = "tid = ? AND stan = ? AND transmission = ?"
_INSERT = (
    f"INSERT INTO card_settlements ({', '.join(SETTLEMENTS.column_names[1:])}) "
    f"VALUES ({', '.join('?' * (len(SETTLEMENTS.column_names) - 1))}) "
    "ON CONFLICT (tid, stan, transmission) DO NOTHING"
)


class Settlements(LedgerPart):
    """Batch closes (a part of :class:`~simulator.gateway.ledger.Ledger`)."""

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
        """Record one batch close (0500) and commit it.

        Args:
            tid, stan, transmission: the key (DE41, DE11, DE7).
            mid: the merchant (DE42).
            batch_no: the batch closed (DE60.2).
            sent: the terminal's totals (DE74-DE89).
            host: the host's, from :meth:`batch_totals`.
            response: the reply's fields, to answer a repeat.

        Returns:
            ``(record, True)``, or ``(existing, False)`` for a repeated key.

        Raises:
            GatewayError: the ledger cannot be written.
        """
        result = "balanced" if sent == host else "out_of_balance"
        with self._store.transaction() as db:
            cursor = db.execute(
                _INSERT,
                (
                    tid,
                    mid,
                    batch_no,
                    stan,
                    transmission,
                    *attrs.astuple(sent),
                    *attrs.astuple(host),
                    result,
                    json_text(response),
                    self.now_text(),
                ),
            )
            created = cursor.rowcount == 1
            record = SETTLEMENTS.first(db, _BY_KEY, (tid, stan, transmission))
        if record is None:  # pragma: no cover - the row was just written or was there
            raise GatewayError(f"ledger {self.path} lost settlement {tid}/{stan}/{transmission}")
        return record, created

    def batch_totals(self, tid: str, batch_no: str) -> BatchTotals:
        """What the host counts for one terminal's batch: approved rows only.

        Returns:
            Sales and completions as debits; voids, refunds and completion
            voids as credits (counts and fen). Pre-auths hold, they are not counted.
        """
        with self._store.reading() as db:
            rows = db.execute(
                "SELECT mti, processing_code, type_code, COUNT(*), COALESCE(SUM(amount), 0) "
                "FROM card_transactions WHERE tid = ? AND batch_no = ? AND status = 'approved' "
                "GROUP BY mti, processing_code, type_code",
                (tid, batch_no),
            ).fetchall()
        debit = credit = (0, 0)
        for mti, processing_code, type_code, count, total in rows:
            kind = kind_of(mti, processing_code, type_code)
            if kind in DEBIT_KINDS and kind != "other":
                debit = (debit[0] + int(count), debit[1] + int(total))
            elif kind in CREDIT_KINDS:
                credit = (credit[0] + int(count), credit[1] + int(total))
        return BatchTotals(*debit, *credit)

    def find_settlement(self, tid: str, stan: str, transmission: str) -> SettlementRecord | None:
        """The batch close with this key, if any."""
        return self._store.row_as(SETTLEMENTS, _BY_KEY, (tid, stan, transmission))

    def settlements(self, tid: str | None = None) -> list[SettlementRecord]:
        """Every batch close in arrival order (of one terminal, if given)."""
        if tid is None:
            return self._store.rows_as(SETTLEMENTS)
        return self._store.rows_as(SETTLEMENTS, "tid = ?", (tid,))
