"""Each channel's statement as that channel would write it: its own view of the
day (the ledger's lines of that channel, with the channel's faults applied),
its cost rate as the fee, in its own format."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path

import attrs

from simulator.gateway.backoffice.entries import CHANNELS, Entry
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.backoffice.faults import StatementFault, apply_faults
from simulator.gateway.backoffice.fees import Profile, line_fee
from simulator.gateway.backoffice.formats import FORMATS
from simulator.gateway.backoffice.ledger_view import channel_entries
from simulator.gateway.backoffice.statement import Statement, StatementFormat


@attrs.frozen
class StatementFile:
    channel: str
    filename: str
    media_type: str
    data: bytes


def statement_format(channel: str) -> StatementFormat:
    fmt = FORMATS.get(channel)
    if fmt is None:
        raise BackofficeError(f"unknown channel {channel!r}: expected one of {list(CHANNELS)}")
    return fmt


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` (or ``today`` is the caller's business)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BackofficeError(f"date {text!r}: expected YYYY-MM-DD") from None


def _local_seconds(iso: str) -> str:
    """The channel's clock: local time to the second, no zone (as its files print it)."""
    return datetime.fromisoformat(iso).strftime("%Y-%m-%dT%H:%M:%S")


def channel_view(
    db: sqlite3.Connection,
    channel: str,
    day: date,
    merchant_id: str,
    profile: Profile,
    faults: Iterable[StatementFault] = (),
) -> Statement:
    statement_format(channel)
    lines = apply_faults(channel, channel_entries(db, channel, day, merchant_id), faults, day)
    rate = profile.costs[channel]
    entries: list[Entry] = [
        attrs.evolve(e, at=_local_seconds(e.at), channel_fee_fen=line_fee(e, rate)) for e in lines
    ]
    return Statement(channel, merchant_id, day, tuple(entries), rate)


def produce(
    db: sqlite3.Connection,
    channel: str,
    day: date,
    merchant_id: str,
    profile: Profile,
    faults: Iterable[StatementFault] = (),
) -> StatementFile:
    """The channel's statement file for the merchant's day."""
    fmt = statement_format(channel)
    statement = channel_view(db, channel, day, merchant_id, profile, faults)
    return StatementFile(
        channel, fmt.filename(merchant_id, day), fmt.media_type, fmt.render(statement)
    )


def parse(file: StatementFile, day: date, merchant_id: str) -> Statement:
    return statement_format(file.channel).parse(file.data, day=day, merchant_id=merchant_id)


def open_ledger(path: Path | str) -> sqlite3.Connection:
    """A read-only connection to a gateway ledger file (the back office never writes it)."""
    if not Path(path).is_file():
        raise BackofficeError(f"no ledger at {path}")
    try:
        db = sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
        db.execute("SELECT 1 FROM qr_transactions LIMIT 1")
    except sqlite3.Error as exc:
        raise BackofficeError(f"{path} is not a possim gateway ledger: {exc}") from None
    return db
