"""Authorisation at the acquirer host: 0200/0210, completing the card, reversals.

Whatever read the card (chip or stripe), the acquiring app hands this module
an :class:`AuthorisationCard`. The journal row (and its STAN) is committed
before the 0200 leaves; a purchase that may have been charged but was not
completed (no answer, card declined or removed after host approval) is
reversed (0400/0410), and a reversal that cannot be sent stays in the journal
and goes out before the next transaction.

Voids (0200, processing code 200000) and refunds (0220, 200000) of an earlier
sale go through the same steps: journal row first, one exchange, a reversal
(0400 naming the void or refund in DE90) when the answer is lost. Every
financial request carries the open batch in DE60 (CUP style: DE60.1 message
type code, DE60.2 batch number); a void or refund names the sale by its RRN
(DE37), auth code (DE38, void) and batch + STAN + date (DE61). See
docs/settlement.md.

The pre-authorisation family (docs/gateway.md) goes through the same steps: a
pre-auth is authorised like a sale but as a 0100 (DE3 030000, DE60.1 10);
its void (0100/200000/11), the completion (0200/000000/20) and the completion
void (0200/200000/21) name their original like a void does
(:meth:`Authoriser.follow_up`). All of them carry DE25 ``06`` (pre-auth
condition code) and are reversed with a 0400 when the answer is lost.

Where the acquirer takes completions as offline advices (``[gateway] completion
= "advice"``), a completion is approved on the terminal at once (journal state
``advice_pending``) and its 0220 (DE60.1 24) is owed to the host: sent at once,
and until a 0230 comes back again before the next transaction and before the
batch close -- never reversed. A 0230 that refuses it books the completion as
declined (the merchant's loss, as with any offline approval).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime

import attrs

from drivers.clock import Clock
from drivers.errors import DriverError
from simulator.errors import Iso8583Error
from simulator.events import EventBus
from simulator.terminal.acquiring_events import AppProblem, ReversalRefused
from simulator.terminal.completion_advice import CompletionAdvices
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import PaymentOrder, PaymentOutcome, TransactionDetail
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv import EmvError
from simulator.terminal.financial_requests import (
    ADVICE,
    OPERATIONS,
    REFUND_CARD_FIELDS,
    Merchant,
    financial_request,
    original_data,
    reversal_request,
    transmission_time,
)
from simulator.terminal.host_link import (
    ConnectionLost,
    HostUnavailable,
    HostUnreachable,
    Iso8583HostLink,
)
from simulator.terminal.journal import Journal, JournalEntry, TxnState
from simulator.wire.iso8583 import Fields
from simulator.wire.money import format_yuan
from simulator.wire.response_codes import APPROVED, ResponseCodes

# Reversal reasons carried in the 0400's DE39.
REVERSAL_NO_ANSWER = "98"
REVERSAL_CARD_DECLINED = "06"
# DE39 of a 0410 refusing the reversal: the original stands (docs/settlement.md).
REVERSAL_REFUSED = "12"


class ReversalResult(str, enum.Enum):
    """How a reversal ended; the value is what the cashier is told."""

    REVERSED = "reversed"
    REFUSED = "reversal refused by the host: it stands"
    PENDING = "reversal pending"


# complete(response code or None, reply or None) -> the card approved.
Completion = Callable[[str | None, Mapping[str, str] | None], bool]


@attrs.frozen
class AuthorisationCard:
    """What the authorisation needs from whichever interface read the card."""

    masked_pan: str
    label: str
    entry_mode: str
    cvm: str
    fields: Mapping[str, str] = attrs.field(repr=False)  # DE2/14/22/23/35/52/55


class Authoriser:
    def __init__(
        self,
        *,
        host_link: Iso8583HostLink,
        journal: Journal,
        display: Display,
        bus: EventBus,
        clock: Clock,
        merchant: Merchant,
        timeouts: Timeouts,
        response_codes: ResponseCodes,
        completion_advice: bool = False,
    ) -> None:
        self._completion_advice = completion_advice
        self.advices = CompletionAdvices(
            host_link=host_link,
            journal=journal,
            bus=bus,
            clock=clock,
            timeouts=timeouts,
            build=self._advice_request,
            approved=self.approved,
            response_text=lambda code: f"{code} {response_codes.text(code, 'zh')}",
        )
        self._host = host_link
        self._journal = journal
        self._display = display
        self._bus = bus
        self._clock = clock
        self._merchant = merchant
        self._timeouts = timeouts
        self._response_codes = response_codes

    @property
    def journal(self) -> Journal:
        return self._journal

    def authorise(
        self, order: PaymentOrder, card: AuthorisationCard, complete: Completion | None
    ) -> PaymentOutcome:
        """0200/0210, completion of the card (chip only), reversal when needed."""
        now = self._clock.now()
        # The journal allocates the STAN in the same committed transaction.
        entry = self._journal.begin(
            order_no=order.order_no,
            transmission=transmission_time(now),
            amount_fen=order.amount_fen,
            currency=self._merchant.currency,
            masked_pan=card.masked_pan,
            entry_mode=card.entry_mode,
            operation="preauth" if order.operation == "preauth" else "sale",
            card_label=card.label,
        )
        request = self._purchase_request(order, card, entry, now)
        return self._send(order, entry, request, complete, card.cvm, now)

    def void(self, order: PaymentOrder, sale: JournalEntry) -> PaymentOutcome:
        """Void ``sale`` (same batch): 0200/200000 for its full amount; no card needed."""
        return self.follow_up(order, sale, "void", sale.amount_fen)

    def follow_up(
        self, order: PaymentOrder, original: JournalEntry, operation: str, amount_fen: int
    ) -> PaymentOutcome:
        """A void, or a pre-auth void / completion / completion void, of ``original``.

        No card is needed: the request names the original by its RRN (DE37), auth
        code (DE38) and batch + STAN + date (DE61).
        """
        now = self._clock.now()
        entry = self._journal.begin(
            order_no=order.order_no,
            transmission=transmission_time(now),
            amount_fen=amount_fen,
            currency=original.currency,
            masked_pan=original.masked_pan,
            entry_mode=original.entry_mode,
            operation=operation,
            original_rrn=original.rrn,
            card_label=original.card_label,
        )
        if operation == "preauth_completion" and self._completion_advice:
            return self.advices.complete(order, entry, original, now)
        request = self.request(entry, now)
        request["37"] = original.rrn
        if original.auth_code:
            request["38"] = original.auth_code
        request["61"] = _original_data(original)
        return self._send(order, entry, request, None, "", now)

    def refund(
        self,
        order: PaymentOrder,
        card: AuthorisationCard,
        original_rrn: str,
        sale: JournalEntry | None,
    ) -> PaymentOutcome:
        """Refund (part of) the sale ``original_rrn``: 0220/200000 with the card presented."""
        now = self._clock.now()
        entry = self._journal.begin(
            order_no=order.order_no,
            transmission=transmission_time(now),
            amount_fen=order.amount_fen,
            currency=self._merchant.currency,
            masked_pan=card.masked_pan,
            entry_mode=card.entry_mode,
            operation="refund",
            original_rrn=original_rrn,
            card_label=card.label,
        )
        request = self.request(entry, now)
        request.update({k: v for k, v in card.fields.items() if k in REFUND_CARD_FIELDS})
        request["37"] = original_rrn
        if sale is not None:
            request["61"] = _original_data(sale)
        return self._send(order, entry, request, None, card.cvm, now)

    def _send(
        self,
        order: PaymentOrder,
        entry: JournalEntry,
        request: Fields,
        complete: Completion | None,
        cvm: str,
        now: datetime,
    ) -> PaymentOutcome:
        self._display.show(ScreenId.PROCESSING, "处理中 Processing", "请稍候 Please wait")
        reply: Fields | None = None
        try:
            reply = self._host.exchange(request, self._timeouts.host)
        except HostUnreachable as exc:
            self._journal.update(entry.id, TxnState.ABORTED, reason=str(exc))
            self._complete(complete, None, None)
            return self._cancelled(f"acquirer host unavailable: {exc}")
        except (ConnectionLost, Iso8583Error) as exc:
            # The request may have been processed: treat it as unanswered.
            self._bus.publish(AppProblem(f"no usable host reply: {exc}"))

        if reply is None:
            self._complete(complete, None, None)
            result = self._reverse(self._journal.get(entry.id), REVERSAL_NO_ANSWER)
            return self._cancelled(f"no answer from the acquirer host: {result.value}")

        response_code = reply.get("39", "")
        card_approved = self._complete(complete, response_code, reply)
        if response_code != APPROVED:
            reason = f"{response_code} {self._response_codes.text(response_code, 'zh')}"
            self._journal.update(
                entry.id, TxnState.DECLINED, response_code=response_code, reason=reason
            )
            self._display.show(ScreenId.DECLINED, "交易失败 Declined", reason)
            return PaymentOutcome(False, f"declined: {reason}")
        if not card_approved:
            self._journal.update(
                entry.id,
                TxnState.REVERSAL_PENDING,
                response_code=response_code,
                rrn=reply.get("37", ""),
                auth_code=reply.get("38", ""),
                reason="card declined after host approval",
            )
            result = self._reverse(self._journal.get(entry.id), REVERSAL_CARD_DECLINED)
            return self._cancelled(f"the card declined after host approval: {result.value}")

        entry = self._journal.update(
            entry.id,
            TxnState.APPROVED,
            response_code=response_code,
            rrn=reply.get("37", ""),
            auth_code=reply.get("38", ""),
        )
        return self.approved(order, entry, now, cvm)

    def approved(
        self, order: PaymentOrder, entry: JournalEntry, now: datetime, cvm: str = ""
    ) -> PaymentOutcome:
        """Show the approval and report ``entry`` to the cashier app."""
        title = "交易成功 Approved"
        if entry.operation != "sale":
            title += f" ({OPERATIONS[entry.operation][3]})"
        self._display.show(ScreenId.APPROVED, title, f"金额 RMB {format_yuan(entry.amount_fen)}")
        detail = TransactionDetail(
            merchant_id=self._merchant.merchant_id,
            terminal_id=self._merchant.terminal_id,
            batch_no=entry.batch_no,
            stan=entry.stan,
            order_no=order.order_no,
            rrn=entry.rrn,
            auth_code=entry.auth_code,
            amount_fen=entry.amount_fen,
            masked_pan=entry.masked_pan,
            date=now.strftime("%m%d"),
            time=now.strftime("%H%M%S"),
            card_label=entry.card_label,
            response_code=entry.response_code or APPROVED,
            cvm=cvm,
            **self._original_detail(entry),
        )
        return PaymentOutcome(True, detail=detail)

    def _original_detail(self, entry: JournalEntry) -> dict[str, str]:
        """What a void or refund receipt says about the sale it undoes."""
        if not entry.original_rrn:
            return {}
        sale = self._journal.find_by_rrn(entry.original_rrn)
        if sale is None:
            return {"orig_rrn": entry.original_rrn}
        return {
            "orig_rrn": entry.original_rrn,
            "orig_stan": sale.stan,
            "orig_date": f"{sale.transmission[:2]}/{sale.transmission[2:4]}",
        }

    def _complete(
        self,
        complete: Completion | None,
        response_code: str | None,
        reply: Mapping[str, str] | None,
    ) -> bool:
        """Complete the card; a card that fails or leaves now counts as declining."""
        if complete is None:
            return True  # magnetic stripe: nothing to complete
        try:
            return complete(response_code, reply)
        except (DriverError, EmvError) as exc:
            self._bus.publish(AppProblem(f"card completion failed: {exc}"))
            return False

    def _purchase_request(
        self, order: PaymentOrder, card: AuthorisationCard, entry: JournalEntry, now: datetime
    ) -> Fields:
        return {**self.request(entry, now), **card.fields}

    def request(self, entry: JournalEntry, now: datetime) -> Fields:
        """The fields every financial request carries, from its journal row."""
        return financial_request(
            entry.operation,
            amount_fen=entry.amount_fen,
            transmission=entry.transmission,
            stan=entry.stan,
            batch_no=entry.batch_no,
            currency=entry.currency,
            merchant=self._merchant,
            now=now,
        )

    def _advice_request(self, entry: JournalEntry) -> Fields:
        """The 0220 advice of an offline completion (same STAN and DE7 every time)."""
        mti, processing_code, type_code = ADVICE
        request = {
            **self.request(entry, self._clock.now()),
            "t": mti,
            "3": processing_code,
            "37": entry.original_rrn,
            "60": f"{type_code}{entry.batch_no}",
        }
        preauth = self._journal.find_by_rrn(entry.original_rrn)
        if preauth is not None:
            if preauth.auth_code:
                request["38"] = preauth.auth_code
            request["61"] = _original_data(preauth)
        return request

    def send_pending_reversals(self) -> list[JournalEntry]:
        """Send every reversal still owed, then every completion advice still owed;
        the entries whose reversal is still pending."""
        for entry in self._journal.entries(TxnState.REVERSAL_PENDING):
            self._reverse(entry, REVERSAL_NO_ANSWER)
        self.advices.send_pending()
        return self._journal.entries(TxnState.REVERSAL_PENDING)

    def _reverse(self, entry: JournalEntry, reason_code: str) -> ReversalResult:
        """Send 0400 for ``entry`` until a 0410 comes back.

        A 0410 with DE39 ``12`` refuses the reversal: the host keeps the original
        (money was already given back against it, docs/settlement.md), so the
        journal books it as approved with the RRN and auth code the 0410 names --
        the batch counts it as the host does. Any other 0410 ends the reversal.
        """
        if entry.state is not TxnState.REVERSAL_PENDING:
            entry = self._journal.update(entry.id, TxnState.REVERSAL_PENDING)
        self._display.show(ScreenId.REVERSING, "冲正中 Reversing", f"凭证号 {entry.stan}")
        request = reversal_request(
            entry.operation,
            amount_fen=entry.amount_fen,
            stan=entry.stan,
            original_transmission=entry.transmission,
            entry_mode=entry.entry_mode,
            currency=entry.currency,
            reason_code=reason_code,
            merchant=self._merchant,
            now=self._clock.now(),
        )
        for _ in range(self._timeouts.reversal_attempts):
            try:
                reply = self._host.exchange(request, self._timeouts.host)
            except (HostUnavailable, Iso8583Error) as exc:
                self._bus.publish(AppProblem(f"reversal not delivered: {exc}"))
                continue
            if reply is not None and reply.get("t") == "0410":
                if reply.get("39") == REVERSAL_REFUSED:
                    self._original_stands(entry, reply)
                    return ReversalResult.REFUSED
                self._journal.update(
                    entry.id, TxnState.REVERSED, reason=f"reversed ({reason_code})"
                )
                return ReversalResult.REVERSED
        self._bus.publish(
            AppProblem(
                f"reversal of STAN {entry.stan} still pending after "
                f"{self._timeouts.reversal_attempts} attempts; it will be retried"
            )
        )
        return ReversalResult.PENDING

    def _original_stands(self, entry: JournalEntry, reply: Mapping[str, str]) -> None:
        """The host refused the reversal: book the original as the host keeps it."""
        reason = (
            f"reversal refused ({REVERSAL_REFUSED}): the host keeps this {entry.operation}, "
            "money was already given back against it"
        )
        entry = self._journal.update(
            entry.id,
            TxnState.APPROVED,
            response_code=APPROVED,
            rrn=reply.get("37") or None,
            auth_code=reply.get("38") or None,
            reason=reason,
        )
        self._bus.publish(
            ReversalRefused(
                entry.stan,
                entry.rrn,
                entry.operation,
                entry.amount_fen,
                OPERATIONS[entry.operation][3],
                reason,
            )
        )

    def _cancelled(self, reason: str, screen: ScreenId = ScreenId.CANCELLED) -> PaymentOutcome:
        self._display.show(screen, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)


def _original_data(sale: JournalEntry) -> str:
    return original_data(sale.batch_no, sale.stan, sale.transmission)
