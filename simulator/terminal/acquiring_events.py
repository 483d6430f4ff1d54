"""What the acquiring app publishes (source ``acquiring_app``).

The app is one publisher spread over several modules -- card payments
(:mod:`~simulator.terminal.acquiring_app`), authorisation and reversals
(:mod:`~simulator.terminal.authorisation`), QR payments
(:mod:`~simulator.terminal.qr_payments`), the batch close
(:mod:`~simulator.terminal.settlement`) and the cashier's CANCEL
(:mod:`~simulator.terminal.cashier_cancel`) -- so its payloads live together
here, below all of them.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from simulator.events import OMIT_NONE, SUMMARY_ONLY, EventPayload, Problem
from simulator.terminal.journal import SettlementState
from simulator.wire.money import format_yuan

SOURCE = "acquiring_app"


@attrs.frozen
class AppProblem(Problem):
    """Something went wrong in the acquiring app (a host reply, the card, the printer)."""

    source: ClassVar[str] = SOURCE


@attrs.frozen
class ApplicationSelected(EventPayload):
    """The terminal selected an EMV application on the chip."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "application"

    aid: str
    label: str

    def summary(self) -> str:
        return f"application {self.aid} {self.label}"


@attrs.frozen
class ChipFallback(EventPayload):
    """The chip could not be read: the cardholder swipes instead."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "fallback"

    reason: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"chip failed, fallback: {self.reason}"


@attrs.frozen
class CancelPressed(EventPayload):
    """The cashier pressed CANCEL: taken while the payment waited for ``waiting_for``,
    or refused for ``reason``."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "cashier_cancel"

    accepted: bool
    waiting_for: str | None = attrs.field(metadata=OMIT_NONE, default=None)
    reason: str = attrs.field(metadata=SUMMARY_ONLY, default="")

    def summary(self) -> str:
        if self.accepted:
            return f"the cashier pressed CANCEL while waiting for {self.waiting_for}"
        return f"CANCEL refused: {self.reason}"


@attrs.frozen
class ReversalRefused(EventPayload):
    """The host refused to reverse a transaction: the original stands (docs/settlement.md)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "reversal_refused"

    stan: str
    rrn: str
    operation: str  # sale, void or refund
    amount_fen: int
    # The operation as receipts name it ("消费 Sale").
    label: str = attrs.field(metadata=SUMMARY_ONLY)
    reason: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"{self.label} STAN {self.stan} ({format_yuan(self.amount_fen)}): {self.reason}"


@attrs.frozen
class PaidBeforeClose(EventPayload):
    """The close of an unpaid QR order found it paid: the payment is kept."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "paid_before_close"

    order_no: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"order {self.order_no} was paid before the close: the payment is kept"


@attrs.frozen
class ScanIgnored(EventPayload):
    """A code scanned while nothing waited for one (a doubled scan); masked."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "scan_ignored"

    code: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"ignored a scan: {self.code}"


@attrs.frozen
class BatchSettled(EventPayload):
    """The host accepted the batch close (0510): balanced or out of balance."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "settlement"

    batch_no: str
    result: SettlementState
    debit_count: int
    debit_total: int  # fen
    credit_count: int
    credit_total: int  # fen

    def summary(self) -> str:
        return f"batch {self.batch_no} settled: {self.result.value}"
