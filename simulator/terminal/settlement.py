"""The terminal's batch close (settlement): 0500/0510 and the settlement report.

Started by the cashier app with ``proc_cd 900000`` through the vendor
contract. Reversals still owed go out first (the host must see them before it
counts; while one stays unanswered the batch close does not start, since the
host may refuse it and keep the original), then the open batch's approved card
transactions are totalled from the journal -- debit = sales and pre-auth
completions, credit = voids, refunds and completion voids, as CUP's DE48
carries them (:mod:`simulator.wire.batch_totals`) --
and sent in a 0500. The host recounts from its ledger and answers balanced
(DE48 result ``1``) or out of balance (``2``). Either way the batch is
settled: possim does not do CUP's batch upload (0320 per transaction); an
out-of-balance batch is reported on the screen and on the settlement report,
and the acquirer sorts it out from its ledger (docs/settlement.md). The
journal records the close and opens the next batch in one committed
transaction, then the report is printed.

A host that does not answer (or refuses) leaves the batch open: the
settlement can simply be run again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from drivers.clock import Clock
from drivers.errors import DriverError
from drivers.printer import PrintDocument
from simulator.errors import Iso8583Error
from simulator.events import EventBus
from simulator.terminal.acquiring_events import AppProblem, BatchSettled
from simulator.terminal.authorisation import Authoriser
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import PaymentOrder, PaymentOutcome, TransactionDetail
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.financial_requests import Merchant, transmission_time
from simulator.terminal.host_link import HostUnavailable, Iso8583HostLink
from simulator.terminal.journal import (
    Journal,
    JournalEntry,
    SettlementEntry,
    SettlementState,
    TxnState,
)
from simulator.wire.batch_totals import (
    SETTLE_BALANCED,
    SETTLE_OUT_OF_BALANCE,
    BatchTotals,
    decode_de48,
    encode_de48,
)
from simulator.wire.iso8583 import Fields
from simulator.wire.money import format_yuan
from simulator.wire.receipts import ReceiptTemplate
from simulator.wire.response_codes import APPROVED

SETTLE_TYPE_CODE = "00"  # DE60.1 of a 0500
SETTLE_NETWORK_CODE = "201"  # DE60.3: batch close (CUP "结算")
TOTAL_LABEL = "合计 TOTAL"
NET_CREDIT_LABEL = "净退款 NET CREDIT"
RESULT_TEXT = {
    SettlementState.BALANCED: "对账平 BALANCED",
    SettlementState.OUT_OF_BALANCE: "对账不平 OUT OF BALANCE",
}
_RESULTS = {
    SETTLE_BALANCED: SettlementState.BALANCED,
    SETTLE_OUT_OF_BALANCE: SettlementState.OUT_OF_BALANCE,
}


# What the batch counts as debit and as credit; a pre-auth and its void move no
# money and are not counted (docs/gateway.md).
DEBIT_OPERATIONS = ("sale", "preauth_completion")
CREDIT_OPERATIONS = ("void", "refund", "preauth_completion_void")


def batch_totals(entries: Iterable[JournalEntry]) -> BatchTotals:
    """The DE48 totals of these journal rows: approved rows only."""
    entries = list(entries)
    debit = [e.amount_fen for e in entries if _approved(e, *DEBIT_OPERATIONS)]
    credit = [e.amount_fen for e in entries if _approved(e, *CREDIT_OPERATIONS)]
    return BatchTotals(len(debit), sum(debit), len(credit), sum(credit))


def settlement_request(
    *,
    stan: str,
    transmission: str,
    batch_no: str,
    totals: BatchTotals,
    merchant: Merchant,
    now: datetime,
) -> Fields:
    """The 0500 closing ``batch_no`` with the terminal's ``totals`` in DE48.

    A pure function of its data: the batch close fills it from the journal,
    possim's Locust users (simulator.loadtest) from their per-terminal state.
    """
    return {
        "t": "0500",
        "7": transmission,
        "11": stan,
        "12": now.strftime("%H%M%S"),
        "13": now.strftime("%m%d"),
        "41": merchant.terminal_id,
        "42": merchant.merchant_id,
        "48": encode_de48(totals),
        "49": merchant.currency,
        "60": f"{SETTLE_TYPE_CODE}{batch_no}{SETTLE_NETWORK_CODE}",
    }


def report_rows(entries: Iterable[JournalEntry]) -> list[dict[str, str]]:
    """The settlement report's rows: one per card label, the batch total last."""
    approved = [e for e in entries if e.state is TxnState.APPROVED]
    labels = sorted({e.card_label for e in approved})
    rows = [_row(label, [e for e in approved if e.card_label == label]) for label in labels]
    rows.append(_row(TOTAL_LABEL, approved))
    return rows


def _row(label: str, entries: list[JournalEntry]) -> dict[str, str]:
    row = {"card_label": label or "-"}
    for operation in ("sale", "void", "refund"):
        amounts = [e.amount_fen for e in entries if e.operation == operation]
        row[f"{operation}_count"] = str(len(amounts))
        row[f"{operation}_amount"] = format_yuan(sum(amounts))
    completed = any(e.operation.startswith("preauth_completion") for e in entries)
    for name, operation in (
        ("completion", "preauth_completion"),
        ("cvoid", "preauth_completion_void"),
    ):
        amounts = [e.amount_fen for e in entries if e.operation == operation]
        # Empty when the batch has none: the report leaves their lines out.
        row[f"{name}_count"] = str(len(amounts)) if completed else ""
        row[f"{name}_amount"] = format_yuan(sum(amounts)) if completed else ""
    return row


def _approved(entry: JournalEntry, *operations: str) -> bool:
    return entry.state is TxnState.APPROVED and entry.operation in operations


class BatchClose:
    def __init__(
        self,
        *,
        host_link: Iso8583HostLink,
        journal: Journal,
        authoriser: Authoriser,
        display: Display,
        bus: EventBus,
        clock: Clock,
        merchant: Merchant,
        merchant_name: str,
        timeouts: Timeouts,
        print_document: Callable[[PrintDocument], None],
        paper_width: Callable[[], int],
        report: ReceiptTemplate,
    ) -> None:
        self._host = host_link
        self._journal = journal
        self._authoriser = authoriser
        self._display = display
        self._bus = bus
        self._clock = clock
        self._merchant = merchant
        self._merchant_name = merchant_name
        self._timeouts = timeouts
        self._print = print_document
        self._paper_width = paper_width
        self._report = report

    def run(self, order: PaymentOrder) -> PaymentOutcome:
        pending = self._authoriser.send_pending_reversals()
        batch_no = self._journal.batch_no
        if pending:
            # Until the host has answered the reversal, nobody knows whether the
            # original counts (reversed, or refused and standing): totals sent now
            # could only be guessed. Nothing is sent; the batch stays open.
            stans = ", ".join(entry.stan for entry in pending)
            reason = (
                f"settlement not started, batch {batch_no} stays open: the reversal of "
                f"STAN {stans} is still unanswered; run the settlement again"
            )
            self._display.show(ScreenId.CANCELLED, "结算失败 Settlement failed", reason)
            return PaymentOutcome(False, reason)
        owed = self._authoriser.advices.pending()
        if owed:
            # A completion approved offline counts once the host has it (0230).
            stans = ", ".join(entry.stan for entry in owed)
            reason = (
                f"settlement not started, batch {batch_no} stays open: the completion advice "
                f"of STAN {stans} is still unanswered; run the settlement again"
            )
            self._display.show(ScreenId.CANCELLED, "结算失败 Settlement failed", reason)
            return PaymentOutcome(False, reason)
        entries = self._journal.entries(batch_no=batch_no)
        totals = batch_totals(entries)
        now = self._clock.now()
        self._display.show(ScreenId.PROCESSING, "结算中 Settling", f"批次号 BATCH {batch_no}")
        entry = self._journal.begin_settlement(
            transmission=transmission_time(now),
            debit_count=totals.debit_count,
            debit_total=totals.debit_total,
            credit_count=totals.credit_count,
            credit_total=totals.credit_total,
        )
        request = settlement_request(
            stan=entry.stan,
            transmission=entry.transmission,
            batch_no=batch_no,
            totals=totals,
            merchant=self._merchant,
            now=now,
        )
        try:
            reply = self._host.exchange(request, self._timeouts.host)
        except (HostUnavailable, Iso8583Error) as exc:
            return self._failed(entry, f"acquirer host unavailable: {exc}")
        if reply is None:
            return self._failed(entry, "no answer from the acquirer host")
        code = reply.get("39", "")
        decoded = decode_de48(reply.get("48", ""))
        state = None if decoded is None else _RESULTS.get(decoded[1])
        if code != APPROVED or state is None:
            return self._failed(entry, f"refused by the acquirer host ({code})", code)
        entry = self._journal.finish_settlement(entry.id, state, response_code=code)
        result = RESULT_TEXT[state]
        self._bus.publish(
            BatchSettled(
                batch_no,
                state,
                totals.debit_count,
                totals.debit_total,
                totals.credit_count,
                totals.credit_total,
            )
        )
        self._display.show(
            ScreenId.APPROVED, "结算完成 Settled", result, f"批次号 BATCH {batch_no}"
        )
        self._print_report(entry, entries, result)
        if totals.net < 0:
            # More given back than taken (a day of refunds of earlier sales): the
            # contract's amount is unsigned, so the label says which way it went.
            result = f"{result} {NET_CREDIT_LABEL}"
        detail = TransactionDetail(
            merchant_id=self._merchant.merchant_id,
            terminal_id=self._merchant.terminal_id,
            batch_no=batch_no,
            stan=entry.stan,
            order_no=order.order_no,
            rrn="",
            auth_code="",
            amount_fen=abs(totals.net),
            masked_pan="",
            date=now.strftime("%m%d"),
            time=now.strftime("%H%M%S"),
            card_label=result,
            response_code=code,
        )
        return PaymentOutcome(True, detail=detail)

    def _failed(self, entry: SettlementEntry, reason: str, code: str = "") -> PaymentOutcome:
        self._journal.finish_settlement(
            entry.id, SettlementState.FAILED, response_code=code, reason=reason
        )
        reason = f"settlement failed, batch {entry.batch_no} stays open: {reason}"
        self._display.show(ScreenId.CANCELLED, "结算失败 Settlement failed", reason)
        return PaymentOutcome(False, reason)

    def _print_report(
        self, entry: SettlementEntry, entries: list[JournalEntry], result: str
    ) -> None:
        when = self._clock.now()
        values = {
            "merchant_name": self._merchant_name,
            "merchant_id": self._merchant.merchant_id,
            "terminal_id": self._merchant.terminal_id,
            "batch_no": entry.batch_no,
            "stan": entry.stan,
            "datetime": when.strftime("%Y/%m/%d %H:%M:%S"),
            "settle_result": result,
        }
        rows = {"totals": report_rows(entries)}
        for copy in self._report.copies:
            document = self._report.render(copy, values, width=self._paper_width(), rows=rows)
            try:
                self._print(document)
            except DriverError as exc:  # the batch is closed whatever the printer does
                self._bus.publish(AppProblem(f"settlement report not printed: {exc}"))
