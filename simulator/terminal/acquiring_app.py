"""The terminal vendor's acquiring app: card payments end to end.

Started by the cashier app through the vendor contract, it waits for a card
inserted or swiped, reads the chip with the EMV kernel (the cardholder picks
the application when the card offers several), takes the PIN (offline, or
online: enciphered into DE52), writes the journal, asks the acquirer host
(ISO 8583 0200/0210), completes the card (second GENERATE AC) and answers the
cardholder and the cashier app. A chip that cannot be read falls back to the
magnetic stripe; a chip card swiped first is asked to be inserted. A purchase
that may have been charged but was not completed (no answer, card declined or
removed after host approval) is reversed (0400/0410); a reversal that cannot
be sent stays in the journal and goes out before the next transaction.

The rules (DE22 values, when a PIN is asked online, fallback) are in docs/emv.md.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs

from drivers.card_reader import CardReader
from drivers.clock import POLL_INTERVAL, Clock, poll_until
from drivers.errors import (
    CardError,
    CardProtocolError,
    DeviceTimeout,
    DeviceUnavailable,
    DriverError,
    PinEntryCancelled,
)
from drivers.magstripe_reader import MagstripeReader
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
from simulator.terminal.emv import (
    ApplicationChoice,
    CardBlocked,
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
from simulator.terminal.track2 import Track2
from simulator.wire.iso8583 import Fields
from simulator.wire.pin_block import encipher_pin
from simulator.wire.response_codes import APPROVED, ResponseCodes

# Reversal reasons carried in the 0400's DE39.
REVERSAL_NO_ANSWER = "98"
REVERSAL_CARD_DECLINED = "06"
PIN_LENGTH = (4, 12)
# DE22 (ISO 8583:1987): two digits of PAN entry mode, then PIN entry capability
# ("1": the terminal can accept PINs -- it always has its PIN pad).
ENTRY_MODE_ICC = "051"  # contact chip
ENTRY_MODE_MAGSTRIPE = "021"  # magnetic stripe, track 2 unaltered in DE35
ENTRY_MODE_FALLBACK = "801"  # magnetic stripe after the chip failed (fallback)
KEY_OK = "OK"
MAX_MENU = 9  # applications a digit key can pick
_AAC = 0x00
_CID_TYPE_MASK = 0xC0

# cvm values in TransactionDetail (and the contract): what the receipt needs.
CVM_PIN = "pin"
CVM_ONLINE_PIN = "online_pin"
CVM_SIGNATURE = "signature"
CVM_NONE = "none"

# complete(response code or None, reply or None) -> the card approved.
_Completion = Callable[[str | None, Mapping[str, str] | None], bool]


@attrs.frozen
class Merchant:
    terminal_id: str
    merchant_id: str
    currency: str  # ISO 4217 numeric, 3 digits


@attrs.frozen
class _Fallback:
    """The chip could not be read: the magnetic stripe may be used instead."""

    reason: str


@attrs.frozen
class _Presented:
    chip: bool
    track2: str | None = attrs.field(default=None, repr=False)


@attrs.frozen
class _Card:
    """What the authorisation needs from whichever interface read the card."""

    masked_pan: str
    label: str
    entry_mode: str
    cvm: str
    fields: Mapping[str, str] = attrs.field(repr=False)  # DE2/14/22/23/35/52/55


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
        pin_key: bytes,
        magstripe_reader: MagstripeReader | None = None,
    ) -> None:
        self._contract = contract
        self._reader = card_reader
        self._swiper = magstripe_reader
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
        self._pin_key = pin_key

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

    # -- waiting for a card -------------------------------------------------------

    def _card_sale(self, order: PaymentOrder) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        self._display.show(
            ScreenId.PRESENT_CARD, "请插卡或刷卡 Insert or swipe card", f"金额 RMB {amount}"
        )
        if self._swiper is not None:
            self._swiper.discard_swipes()  # a swipe before the sale is not for this sale
        deadline = self._clock.monotonic() + self._timeouts.card
        while True:
            presented = self._wait_for_card(deadline, chip=True)
            if presented is None:
                return self._cancel(f"no card presented within {self._timeouts.card:g} s")
            if presented.chip:
                result = self._chip_sale(order)
                if isinstance(result, _Fallback):
                    return self._fallback(order, result.reason)
                return result
            track = Track2.parse(presented.track2 or "")
            if track is None:
                self._display.show(
                    ScreenId.SWIPE_CARD, "刷卡失败 Swipe failed", "请重新刷卡 Please swipe again"
                )
            elif track.has_chip:
                # A chip card must use its chip unless the chip has failed (EMV fallback).
                self._display.show(
                    ScreenId.INSERT_CHIP,
                    "请插入芯片卡 Insert the chip card",
                    "此卡为芯片卡 Chip card",
                )
            else:
                return self._swipe_sale(order, track, fallback=False)

    def _wait_for_card(self, deadline: float, *, chip: bool) -> _Presented | None:
        """A card inserted (if ``chip``) or swiped before ``deadline``; None on timeout.

        A real PC/SC reader never notifies the clock, so this polls in short
        waits rather than one long one.
        """
        swiper = self._swiper

        def arrived() -> bool:  # no side effects: the clock may call it from any thread
            if chip and self._reader.card_present():
                return True
            return swiper is not None and swiper.swipe_waiting()

        while True:
            if chip and self._reader.card_present():
                # Through wait_for_card too, so the trace shows the card presented;
                # connect() decides whether the card is really there.
                self._reader.wait_for_card(0)
                return _Presented(chip=True)
            if swiper is not None:
                track2 = swiper.take_swipe()
                if track2 is not None:
                    return _Presented(chip=False, track2=track2)
            remaining = deadline - self._clock.monotonic()
            if remaining <= 0:
                return None
            self._clock.wait_until(arrived, min(remaining, POLL_INTERVAL))

    # -- chip -----------------------------------------------------------------------

    def _chip_sale(self, order: PaymentOrder) -> PaymentOutcome | _Fallback:
        kernel = EmvKernel(self._reader, self._emv_config, self._rng, self._clock.now)
        try:
            self._display.show(
                ScreenId.READING_CARD, "读卡中 Reading card", "请勿拔卡 Do not remove"
            )
            try:
                card = kernel.read_card(order.amount_fen, chooser=self._choose_application)
            except CardBlocked:
                raise  # a blocked card must not be swiped instead
            except (EmvError, CardProtocolError) as exc:
                # Mute chip, garbage answers, no common application: EMV allows fallback.
                self._display.show(
                    ScreenId.SWIPE_CARD,
                    "请刷卡 Please swipe the card",
                    "芯片读卡失败 Chip read failed",
                )
                return _Fallback(str(exc))
            return self._emv_sale(order, kernel, card)
        except PinEntryCancelled:
            return self._cancel("cancelled by the cardholder")
        except DeviceTimeout as exc:
            return self._cancel(f"timed out: {exc}")
        except CardError as exc:
            return self._cancel(f"card error: {exc}")
        except EmvError as exc:
            return self._cancel(f"card error: {exc}")
        finally:
            kernel.finish()
            self._await_card_removal()

    def _choose_application(self, choices: Sequence[ApplicationChoice]) -> int:
        """The cardholder picks an application with a digit key (OK: the first)."""
        shown = choices[:MAX_MENU]
        lines = [f"{number}. {choice.label}" for number, choice in enumerate(shown, 1)]
        self._display.show(ScreenId.SELECT_APPLICATION, "请选择应用 Select application", *lines)
        keys = {str(number) for number in range(1, len(shown) + 1)} | {KEY_OK}
        try:
            key = self._pin_entry.read_key(keys=keys, timeout=self._timeouts.pin)
        except DeviceUnavailable:
            return 0  # a PIN pad without single keys: the highest priority, as EMV allows
        self._display.show(ScreenId.READING_CARD, "读卡中 Reading card", "请勿拔卡 Do not remove")
        return 0 if key == KEY_OK else int(key) - 1

    def _emv_sale(self, order: PaymentOrder, kernel: EmvKernel, card: CardData) -> PaymentOutcome:
        amount = format_yuan(order.amount_fen)
        self._bus.add_secret(card.pan, card.masked_pan)
        self._bus.add_secret(card.track2, mask_track2(card.track2))
        self._bus.publish(
            "acquiring_app",
            "application",
            f"application {card.aid} {card.label}",
            aid=card.aid,
            label=card.label,
        )
        cvm = kernel.verify_cardholder(self._pin_source(amount))
        fields = {
            "2": card.pan,
            "14": card.expiry,
            "22": ENTRY_MODE_ICC,
            "23": card.psn.zfill(3),
            "35": card.track2,
        }
        cvm_kind = CVM_SIGNATURE if cvm.signature_required else CVM_NONE
        if cvm.outcome is CvmOutcome.ONLINE_PIN and cvm.online_pin:
            fields["52"] = encipher_pin(cvm.online_pin, card.pan, self._pin_key).hex().upper()
            cvm_kind = CVM_ONLINE_PIN
        elif cvm.outcome is CvmOutcome.OFFLINE_PIN and not cvm.signature_required:
            cvm_kind = CVM_PIN
        first_ac = kernel.first_generate_ac()
        if first_ac.cid & _CID_TYPE_MASK == _AAC:
            self._display.show(ScreenId.DECLINED, "交易拒绝 Declined", "卡片拒绝 Declined by card")
            return PaymentOutcome(False, "declined offline by the card (AAC)")
        fields["55"] = tlv.encode(dict(first_ac.icc_data)).hex().upper()

        def complete(response_code: str | None, reply: Mapping[str, str] | None) -> bool:
            issuer_data = None if reply is None else _issuer_authentication(reply)
            return kernel.second_generate_ac(response_code, issuer_data).approved

        chip = _Card(card.masked_pan, card.label, ENTRY_MODE_ICC, cvm_kind, fields)
        return self._go_online(order, chip, complete)

    # -- magnetic stripe ---------------------------------------------------------------

    def _fallback(self, order: PaymentOrder, reason: str) -> PaymentOutcome:
        self._bus.publish("acquiring_app", "fallback", f"chip failed, fallback: {reason}")
        self._display.show(
            ScreenId.SWIPE_CARD, "请刷卡 Please swipe the card", "芯片读卡失败 Chip read failed"
        )
        deadline = self._clock.monotonic() + self._timeouts.card
        while True:
            presented = self._wait_for_card(deadline, chip=False)
            if presented is None:
                return self._cancel(f"chip read failed ({reason}) and no card was swiped")
            track = Track2.parse(presented.track2 or "")
            if track is not None:
                return self._swipe_sale(order, track, fallback=True)
            self._display.show(
                ScreenId.SWIPE_CARD, "刷卡失败 Swipe failed", "请重新刷卡 Please swipe again"
            )

    def _swipe_sale(self, order: PaymentOrder, track: Track2, *, fallback: bool) -> PaymentOutcome:
        self._bus.add_secret(track.pan, track.masked_pan)
        self._bus.add_secret(track.text, mask_track2(track.text))
        entry_mode = ENTRY_MODE_FALLBACK if fallback else ENTRY_MODE_MAGSTRIPE
        fields = {"2": track.pan, "14": track.expiry, "22": entry_mode, "35": track.text}
        cvm_kind = CVM_SIGNATURE
        if track.pin_required:
            ask = self._pin_source(format_yuan(order.amount_fen))
            try:
                pin = ask(PinRequest(tries_left=None, retry=False, online=True))
            except PinEntryCancelled:
                return self._cancel("cancelled by the cardholder")
            except DeviceTimeout as exc:
                return self._cancel(f"timed out: {exc}")
            if not pin:
                return self._cancel("this card requires a PIN")
            fields["52"] = encipher_pin(pin, track.pan, self._pin_key).hex().upper()
            cvm_kind = CVM_ONLINE_PIN
        label = "磁条卡 Magstripe" if not fallback else "降级交易 Fallback"
        card = _Card(track.masked_pan, label, entry_mode, cvm_kind, fields)
        return self._go_online(order, card, None)

    # -- authorisation ------------------------------------------------------------------

    def _go_online(
        self, order: PaymentOrder, card: _Card, complete: _Completion | None
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
            return self._cancel(f"acquirer host unavailable: {exc}")
        except (ConnectionLost, Iso8583Error) as exc:
            # The request may have been processed: treat it as unanswered.
            self._bus.publish("acquiring_app", "error", f"no usable host reply: {exc}")

        if reply is None:
            self._complete(complete, None, None)
            reversed_ok = self._reverse(self._journal.get(entry.id), REVERSAL_NO_ANSWER)
            state = "reversed" if reversed_ok else "reversal pending"
            return self._cancel(f"no answer from the acquirer host: {state}", ScreenId.CANCELLED)

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
            cvm=card.cvm,
        )
        return PaymentOutcome(True, detail=detail)

    def _complete(
        self,
        complete: _Completion | None,
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

    def _pin_source(self, amount: str) -> Callable[[PinRequest], str]:
        def ask(request: PinRequest) -> str:
            lines = [f"金额 RMB {amount}"]
            if request.online:
                lines.append("联机密码 Online PIN")
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
        self, order: PaymentOrder, card: _Card, stan: str, now: datetime
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
        poll_until(self._clock, lambda: not self._reader.card_present(), self._timeouts.removal)
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
