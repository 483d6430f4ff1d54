"""The terminal vendor's acquiring app: card payments end to end.

Started by the cashier app through the vendor contract, it reads the card with
the EMV kernel, takes the PIN, writes the journal, asks the acquirer host
(ISO 8583 0200/0210), completes the card (second GENERATE AC) and answers the
cardholder and the cashier app. A purchase that may have been charged but was
not completed (no answer, card declined after host approval) is reversed
(0400/0410); a reversal that cannot be sent stays in the journal and goes out
before the next transaction.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

import attrs

from drivers.card_reader import CardReader
from drivers.clock import Clock
from drivers.errors import CardError, DeviceTimeout, PinEntryCancelled
from drivers.pin_entry import PinEntry
from simulator.emv import tlv
from simulator.errors import EmvDataError, Iso8583Error
from simulator.events import EventBus
from simulator.redact import mask_track2
from simulator.terminal.amounts import format_yuan
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentResult,
    PaymentOrder,
    PaymentOutcome,
    TransactionDetail,
)
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv_kernel import (
    CardData,
    CvmOutcome,
    EmvError,
    EmvKernel,
    PinRequest,
    TerminalEmvConfig,
)
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
PIN_LENGTH = (4, 12)
ENTRY_MODE_ICC = "051"  # DE22: ICC read, terminal can accept PINs
_AAC = 0x00
_CID_TYPE_MASK = 0xC0


@attrs.frozen
class Merchant:
    terminal_id: str
    merchant_id: str
    currency: str  # ISO 4217 numeric, 3 digits


class AcquiringApp:
    def __init__(
        self,
        *,
        contract: IntentContract,
        card_reader: CardReader,
        pin_entry: PinEntry,
        host_link: Iso8583HostLink,
        journal: Journal,
        display: Display,
        bus: EventBus,
        clock: Clock,
        rng: random.Random,
        merchant: Merchant,
        emv_config: TerminalEmvConfig,
        timeouts: Timeouts,
        response_codes: ResponseCodes,
    ) -> None:
        self._contract = contract
        self._reader = card_reader
        self._pin_entry = pin_entry
        self._host = host_link
        self._journal = journal
        self._display = display
        self._bus = bus
        self._clock = clock
        self._rng = rng
        self._merchant = merchant
        self._emv_config = emv_config
        self._timeouts = timeouts
        self._response_codes = response_codes

    # -- the Intent entry point -------------------------------------------------

    def on_intent(self, extras: Mapping[str, Any]) -> IntentResult:
        try:
            order = self._contract.parse_request(extras)
        except ContractViolation as exc:
            return self._contract.build_result(PaymentOutcome(False, f"invalid request: {exc}"))
        if (order.method, order.operation) != ("card", "sale"):
            reason = f"{order.method} {order.operation} is not supported by this acquiring app yet"
            return self._contract.build_result(PaymentOutcome(False, reason))
        self.send_pending_reversals()
        outcome = self._card_sale(order)
        return self._contract.build_result(outcome)

    # -- card sale ----------------------------------------------------------------

    def _card_sale(self, order: PaymentOrder) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        self._display.show(ScreenId.PRESENT_CARD, "请插卡 Insert card", f"金额 RMB {amount}")
        if self._reader.wait_for_card(self._timeouts.card) is None:
            return self._cancel(f"no card presented within {self._timeouts.card:g} s")
        kernel = EmvKernel(self._reader, self._emv_config, self._rng, self._clock.now)
        try:
            return self._emv_sale(order, kernel)
        except PinEntryCancelled:
            return self._cancel("cancelled by the cardholder at PIN entry")
        except DeviceTimeout as exc:
            return self._cancel(f"timed out: {exc}")
        except CardError as exc:
            return self._cancel(f"card error: {exc}")
        except EmvError as exc:
            return self._cancel(f"card error: {exc}")
        finally:
            kernel.finish()
            self._await_card_removal()

    def _emv_sale(self, order: PaymentOrder, kernel: EmvKernel) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        self._display.show(ScreenId.READING_CARD, "读卡中 Reading card", "请勿拔卡 Do not remove")
        card = kernel.read_card(order.amount_fen)
        self._bus.add_secret(card.pan, card.masked_pan)
        self._bus.add_secret(card.track2, mask_track2(card.track2))
        cvm = kernel.verify_cardholder(self._pin_source(amount))
        if cvm.outcome is CvmOutcome.ONLINE_PIN:
            # ISO 9564 PIN blocks under a PIN key arrive with the online-PIN cards.
            return self._cancel("online PIN is not supported by this terminal yet")
        first_ac = kernel.first_generate_ac()
        if first_ac.cid & _CID_TYPE_MASK == _AAC:
            self._display.show(ScreenId.DECLINED, "交易拒绝 Declined", "卡片拒绝 Declined by card")
            return PaymentOutcome(False, "declined offline by the card (AAC)")

        now = self._clock.now()
        icc_data = tlv.encode(dict(first_ac.icc_data)).hex().upper()
        # The journal allocates the STAN in the same committed transaction.
        entry = self._journal.begin(
            order_no=order.order_no,
            transmission=_transmission_time(now),
            amount_fen=order.amount_fen,
            currency=self._merchant.currency,
            masked_pan=card.masked_pan,
            entry_mode=ENTRY_MODE_ICC,
        )
        stan = entry.stan
        request = self._purchase_request(order, card, stan, icc_data, now)
        self._display.show(ScreenId.PROCESSING, "处理中 Processing", "请稍候 Please wait")
        reply: Fields | None = None
        try:
            reply = self._host.exchange(request, self._timeouts.host)
        except HostUnreachable as exc:
            self._journal.update(entry.id, TxnState.ABORTED, reason=str(exc))
            kernel.second_generate_ac(None, None)
            return self._cancel(f"acquirer host unavailable: {exc}")
        except (ConnectionLost, Iso8583Error) as exc:
            # The request may have been processed: treat it as unanswered.
            self._bus.publish("acquiring_app", "error", f"no usable host reply: {exc}")

        if reply is None:
            kernel.second_generate_ac(None, None)
            reversed_ok = self._reverse(self._journal.get(entry.id), REVERSAL_NO_ANSWER)
            state = "reversed" if reversed_ok else "reversal pending"
            return self._cancel(f"no answer from the acquirer host: {state}", ScreenId.CANCELLED)

        response_code = reply.get("39", "")
        second_ac = kernel.second_generate_ac(response_code, _issuer_authentication(reply))
        if response_code != APPROVED:
            reason = f"{response_code} {self._response_codes.text(response_code, 'zh')}"
            self._journal.update(
                entry.id, TxnState.DECLINED, response_code=response_code, reason=reason
            )
            self._display.show(ScreenId.DECLINED, "交易失败 Declined", reason)
            return PaymentOutcome(False, f"declined: {reason}")
        if not second_ac.approved:
            self._journal.update(
                entry.id,
                TxnState.REVERSAL_PENDING,
                response_code=response_code,
                rrn=reply.get("37", ""),
                auth_code=reply.get("38", ""),
                reason="card declined after host approval",
            )
            self._reverse(self._journal.get(entry.id), REVERSAL_CARD_DECLINED)
            return self._cancel("the card declined after host approval: reversed")

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
        )
        return PaymentOutcome(True, detail=detail)

    def _pin_source(self, amount: str) -> Callable[[PinRequest], str]:
        def ask(request: PinRequest) -> str:
            lines = [f"金额 RMB {amount}"]
            if request.retry:
                lines.append(
                    f"密码错误，剩余{request.tries_left}次 Wrong PIN, {request.tries_left} left"
                )
            self._display.show(ScreenId.ENTER_PIN, "请输入密码 Enter PIN", *lines)

            def show_asterisks(count: int) -> None:
                self._display.show(ScreenId.ENTER_PIN, "请输入密码 Enter PIN", *lines, "*" * count)

            return self._pin_entry.read_pin(
                min_length=PIN_LENGTH[0],
                max_length=PIN_LENGTH[1],
                timeout=self._timeouts.pin,
                on_digits=show_asterisks,
            )

        return ask

    def _purchase_request(
        self,
        order: PaymentOrder,
        card: CardData,
        stan: str,
        icc_data: str,
        now: datetime,
    ) -> Fields:
        return {
            "t": "0200",
            "2": card.pan,
            "3": "000000",
            "4": f"{order.amount_fen:012d}",
            "7": _transmission_time(now),
            "11": stan,
            "12": now.strftime("%H%M%S"),
            "13": now.strftime("%m%d"),
            "14": card.expiry,
            "22": ENTRY_MODE_ICC,
            "23": card.psn.zfill(3),
            "25": "00",
            "35": card.track2,
            "41": self._merchant.terminal_id,
            "42": self._merchant.merchant_id,
            "49": self._merchant.currency,
            "55": icc_data,
        }

    # -- reversals ----------------------------------------------------------------

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

    # -- helpers ------------------------------------------------------------------

    def _cancel(self, reason: str, screen: ScreenId = ScreenId.CANCELLED) -> PaymentOutcome:
        self._display.show(screen, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)

    def _await_card_removal(self) -> None:
        if not self._reader.card_present():
            return
        current = self._display.screen
        self._display.show(ScreenId.REMOVE_CARD, "请取卡 Remove card", *current.lines)
        self._clock.wait_until(lambda: not self._reader.card_present(), self._timeouts.removal)
        self._display.show(current.id, current.title, *current.lines)


def _transmission_time(now: datetime) -> str:
    """DE7, transmission date and time: MMDDhhmmss in UTC."""
    return now.astimezone(timezone.utc).strftime("%m%d%H%M%S")


def _issuer_authentication(reply: Mapping[str, str]) -> bytes | None:
    icc = reply.get("55")
    if not icc:
        return None
    try:
        return tlv.decode_flat(bytes.fromhex(icc)).get("91")
    except (EmvDataError, ValueError):
        return None
