"""Authorisation at the acquirer host: 0200/0210, completing the card, reversals.

Whatever read the card (chip or stripe), the acquiring app hands this module
an :class:`AuthorisationCard`. The journal row (and its STAN) is committed
before the 0200 leaves; a purchase that may have been charged but was not
completed (no answer, card declined or removed after host approval) is
reversed (0400/0410), and a reversal that cannot be sent stays in the journal
and goes out before the next transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timezone

import attrs

from drivers.clock import Clock
from drivers.errors import DriverError
from simulator.errors import Iso8583Error
from simulator.events import EventBus
from simulator.terminal.amounts import format_yuan
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import PaymentOrder, PaymentOutcome, TransactionDetail
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv import EmvError
from simulator.terminal.host_link import (
    ConnectionLost,
    HostUnavailable,
    HostUnreachable,
    Iso8583HostLink,
)
from simulator.terminal.journal import Journal, JournalEntry, TxnState
from simulator.wire.iso8583 import Fields
from simulator.wire.response_codes import APPROVED, ResponseCodes

# Reversal reasons carried in the 0400's DE39.
REVERSAL_NO_ANSWER = "98"
REVERSAL_CARD_DECLINED = "06"

# complete(response code or None, reply or None) -> the card approved.
Completion = Callable[[str | None, Mapping[str, str] | None], bool]


@attrs.frozen
class Merchant:
    terminal_id: str
    merchant_id: str
    currency: str  # ISO 4217 numeric, 3 digits


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
    ) -> None:
        self._host = host_link
        self._journal = journal
        self._display = display
        self._bus = bus
        self._clock = clock
        self._merchant = merchant
        self._timeouts = timeouts
        self._response_codes = response_codes

    def authorise(
        self, order: PaymentOrder, card: AuthorisationCard, complete: Completion | None
    ) -> PaymentOutcome:
        """0200/0210, completion of the card (chip only), reversal when needed."""
        amount = format_yuan(order.amount_fen)
        now = self._clock.now()
        # The journal allocates the STAN in the same committed transaction.
        entry = self._journal.begin(
            order_no=order.order_no,
            transmission=_transmission_time(now),
            amount_fen=order.amount_fen,
            currency=self._merchant.currency,
            masked_pan=card.masked_pan,
            entry_mode=card.entry_mode,
        )
        stan = entry.stan
        request = self._purchase_request(order, card, stan, now)
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
            self._bus.publish("acquiring_app", "error", f"no usable host reply: {exc}")

        if reply is None:
            self._complete(complete, None, None)
            reversed_ok = self._reverse(self._journal.get(entry.id), REVERSAL_NO_ANSWER)
            state = "reversed" if reversed_ok else "reversal pending"
            return self._cancelled(f"no answer from the acquirer host: {state}", ScreenId.CANCELLED)

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
            self._reverse(self._journal.get(entry.id), REVERSAL_CARD_DECLINED)
            return self._cancelled("the card declined after host approval: reversed")

        entry = self._journal.update(
            entry.id,
            TxnState.APPROVED,
            response_code=response_code,
            rrn=reply.get("37", ""),
            auth_code=reply.get("38", ""),
        )
        self._display.show(ScreenId.APPROVED, "交易成功 Approved", f"金额 RMB {amount}")
        detail = TransactionDetail(
            merchant_id=self._merchant.merchant_id,
            terminal_id=self._merchant.terminal_id,
            batch_no=entry.batch_no,
            stan=stan,
            order_no=order.order_no,
            rrn=entry.rrn,
            auth_code=entry.auth_code,
            amount_fen=order.amount_fen,
            masked_pan=card.masked_pan,
            date=now.strftime("%m%d"),
            time=now.strftime("%H%M%S"),
            card_label=card.label,
            response_code=response_code,
            cvm=card.cvm,
        )
        return PaymentOutcome(True, detail=detail)

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
            self._bus.publish("acquiring_app", "error", f"card completion failed: {exc}")
            return False

    def _purchase_request(
        self, order: PaymentOrder, card: AuthorisationCard, stan: str, now: datetime
    ) -> Fields:
        return {
            "t": "0200",
            "3": "000000",
            "4": f"{order.amount_fen:012d}",
            "7": _transmission_time(now),
            "11": stan,
            "12": now.strftime("%H%M%S"),
            "13": now.strftime("%m%d"),
            "25": "00",
            "41": self._merchant.terminal_id,
            "42": self._merchant.merchant_id,
            "49": self._merchant.currency,
            **card.fields,
        }

    def send_pending_reversals(self) -> None:
        for entry in self._journal.entries(TxnState.REVERSAL_PENDING):
            self._reverse(entry, REVERSAL_NO_ANSWER)

    def _reverse(self, entry: JournalEntry, reason_code: str) -> bool:
        """Send 0400 for ``entry`` until a 0410 comes back; True once reversed."""
        if entry.state is not TxnState.REVERSAL_PENDING:
            entry = self._journal.update(entry.id, TxnState.REVERSAL_PENDING)
        self._display.show(ScreenId.REVERSING, "冲正中 Reversing", f"凭证号 {entry.stan}")
        request = {
            "t": "0400",
            "3": "000000",
            "4": f"{entry.amount_fen:012d}",
            "7": _transmission_time(self._clock.now()),
            "11": entry.stan,
            "22": entry.entry_mode,
            "25": "00",
            "39": reason_code,
            "41": self._merchant.terminal_id,
            "42": self._merchant.merchant_id,
            "49": entry.currency,
            "90": f"0200{entry.stan}{entry.transmission}".ljust(42, "0"),
        }
        for _ in range(self._timeouts.reversal_attempts):
            try:
                reply = self._host.exchange(request, self._timeouts.host)
            except (HostUnavailable, Iso8583Error) as exc:
                self._bus.publish("acquiring_app", "error", f"reversal not delivered: {exc}")
                continue
            if reply is not None and reply.get("t") == "0410":
                self._journal.update(
                    entry.id, TxnState.REVERSED, reason=f"reversed ({reason_code})"
                )
                return True
        self._bus.publish(
            "acquiring_app",
            "error",
            f"reversal of STAN {entry.stan} still pending after "
            f"{self._timeouts.reversal_attempts} attempts; it will be retried",
        )
        return False

    def _cancelled(self, reason: str, screen: ScreenId = ScreenId.CANCELLED) -> PaymentOutcome:
        self._display.show(screen, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)


def _transmission_time(now: datetime) -> str:
    """DE7, transmission date and time: MMDDhhmmss in UTC."""
    return now.astimezone(timezone.utc).strftime("%m%d%H%M%S")
