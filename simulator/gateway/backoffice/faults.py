"""Statement faults: make a channel's statement differ from the ledger on purpose,
one reconciliation case each.

=======================  ==============================================================
kind                     what the channel's statement then says
=======================  ==============================================================
channel_only             an extra payment the platform never saw (``ref``, ``amount``)
platform_only            the payment ``ref`` is missing (dropped from the statement)
amount_mismatch          the payment ``ref`` has another amount (``amount``; default +0.01)
reversed_after_success   the payment ``ref`` was reversed/refunded on the channel's side
=======================  ==============================================================

``ref`` defaults to the statement's first payment (not reversed). A spec is data:
a YAML file (``faults: [{channel: wechat, kind: channel_only, ...}]``), CLI
flags (``--fault wechat:platform_only:ORDER``) or a scenario step.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.gateway.backoffice.entries import CARD, CHANNELS, PAYMENT, Entry
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.wire.money import parse_yuan

FAULT_KINDS = ("channel_only", "platform_only", "amount_mismatch", "reversed_after_success")
DEFAULT_CHANNEL_ONLY_FEN = 100


@attrs.frozen
class StatementFault:
    channel: str
    kind: str
    ref: str | None = None
    amount_fen: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise BackofficeError(f"fault channel {self.channel!r}: expected one of {CHANNELS}")
        if self.kind not in FAULT_KINDS:
            raise BackofficeError(f"fault kind {self.kind!r}: expected one of {FAULT_KINDS}")
        if self.amount_fen is not None and self.amount_fen <= 0:
            raise BackofficeError("a fault's amount must be above zero")

    def describe(self) -> str:
        return f"{self.channel} {self.kind}" + (f" {self.ref}" if self.ref else "")


def fault_from_mapping(value: Mapping[str, Any]) -> StatementFault:
    """``{channel, kind, ref?, amount?}`` (amount in yuan); BackofficeError names the problem."""
    unknown = set(value) - {"channel", "kind", "ref", "amount"}
    if unknown:
        raise BackofficeError(f"unknown fault key(s) {sorted(unknown)}")
    amount = value.get("amount")
    try:
        amount_fen = None if amount is None else parse_yuan(str(amount))
    except ValueError as exc:
        raise BackofficeError(f"fault amount: {exc}") from None
    ref = value.get("ref")
    return StatementFault(
        channel=str(value.get("channel", "")),
        kind=str(value.get("kind", "")),
        ref=None if ref is None else str(ref),
        amount_fen=amount_fen,
    )


def parse_flag(text: str) -> StatementFault:
    """``CHANNEL:KIND[:REF[:AMOUNT]]`` as given to ``--fault``."""
    parts = text.split(":")
    if not 2 <= len(parts) <= 4:
        raise BackofficeError(f"--fault {text!r}: expected CHANNEL:KIND[:REF[:AMOUNT]]")
    spec: dict[str, str] = {"channel": parts[0], "kind": parts[1]}
    if len(parts) > 2 and parts[2]:
        spec["ref"] = parts[2]
    if len(parts) > 3:
        spec["amount"] = parts[3]
    return fault_from_mapping(spec)


def load_faults(path: Path) -> list[StatementFault]:
    """A YAML fault spec; errors name the file and line."""
    document = fixtures.load(path, error=FixtureError)
    items = document.get("faults") if isinstance(document, Mapping) else None
    if not isinstance(items, list):
        raise FixtureError(path, "expected a mapping with a 'faults' list", line_of(document))
    faults = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise FixtureError(path, f"faults[{index}]: expected a mapping", line_of(items, index))
        try:
            faults.append(fault_from_mapping(item))
        except BackofficeError as exc:
            raise FixtureError(path, f"faults[{index}]: {exc}", line_of(items, index)) from None
    return faults


def _target(entries: Sequence[Entry], fault: StatementFault) -> int:
    for index, entry in enumerate(entries):
        if entry.kind != PAYMENT:
            continue
        if fault.ref == entry.ref or (fault.ref is None and not entry.reversed):
            return index
    what = f"payment {fault.ref!r}" if fault.ref else "a payment"
    raise BackofficeError(f"fault {fault.describe()}: the {fault.channel} statement has no {what}")


def _invented(channel: str, fault: StatementFault, day: date, number: int) -> Entry:
    if fault.ref is not None:
        ref = fault.ref
    elif channel == CARD:
        ref = f"{day:%y%m%d}99{number:04d}"  # an RRN the acquirer made up: 12 digits
    else:
        ref = f"CHONLY{day:%Y%m%d}{number:04d}"
    return Entry(
        channel=channel,
        kind=PAYMENT,
        ref=ref,
        order=ref,
        amount_fen=fault.amount_fen or DEFAULT_CHANNEL_ONLY_FEN,
        at=f"{day.isoformat()}T23:00:00",
        transaction_id=ref if channel == CARD else f"CH{day:%Y%m%d}{number:010d}",
        method="micropay",
        original_fen=fault.amount_fen or DEFAULT_CHANNEL_ONLY_FEN,
    )


def apply_faults(
    channel: str, entries: Iterable[Entry], faults: Iterable[StatementFault], day: date
) -> list[Entry]:
    """The channel's lines after its faults, in the order the faults were given."""
    lines = list(entries)
    invented = 0
    for fault in (f for f in faults if f.channel == channel):
        if fault.kind == "channel_only":
            invented += 1
            lines.append(_invented(channel, fault, day, invented))
            continue
        index = _target(lines, fault)
        entry = lines[index]
        if fault.kind == "platform_only":
            del lines[index]
        elif fault.kind == "amount_mismatch":
            amount = fault.amount_fen or entry.amount_fen + 1
            lines[index] = attrs.evolve(entry, amount_fen=amount, original_fen=amount)
        else:
            lines[index] = attrs.evolve(entry, reversed=True)
    return lines
