"""The back office's day, assembled: every channel's statement produced and parsed
back, reconciled against the ledger, and merged for the merchant. Used by the
CLI, the QR API's statement download and the scenario steps."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

import attrs

from simulator.gateway.backoffice.entries import CHANNELS, Entry
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.fees import FeeTotals, Profile, totals
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.merged import MergedStatement, merge
from simulator.gateway.backoffice.reconcile import Report, reconcile
from simulator.gateway.backoffice.statement import Statement
from simulator.gateway.backoffice.statements import StatementFile, parse, produce


@attrs.frozen
class BackofficeDay:
    day: date
    merchant_id: str
    files: Mapping[str, StatementFile]
    statements: Mapping[str, Statement]
    platform: tuple[Entry, ...]
    report: Report
    merged: MergedStatement
    fees: Mapping[str, FeeTotals]


def run_day(
    db: sqlite3.Connection,
    day: date,
    merchant_id: str,
    profile: Profile,
    faults: Iterable[StatementFault] = (),
    *,
    files: Mapping[str, StatementFile] | None = None,
    channels: Sequence[str] = CHANNELS,
) -> BackofficeDay:
    """Produce (or take) each channel's file, parse it back, reconcile, merge."""
    fault_list = list(faults)
    produced = dict(files or {})
    for channel in channels:
        if channel not in produced:
            produced[channel] = produce(db, channel, day, merchant_id, profile, fault_list)
    parsed = {ch: parse(f, day, merchant_id) for ch, f in produced.items()}
    platform = tuple(day_entries(db, day, merchant_id))
    report = reconcile(day, merchant_id, platform, parsed)
    return BackofficeDay(
        day=day,
        merchant_id=merchant_id,
        files=produced,
        statements=parsed,
        platform=platform,
        report=report,
        merged=merge(day, merchant_id, platform, profile, report),
        fees=totals(platform, profile),
    )
