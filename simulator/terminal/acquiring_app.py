"""The terminal vendor's acquiring app: card payments end to end.

Started by the cashier app through the vendor contract, it waits for a card
inserted or swiped, reads the chip with the EMV kernel (the cardholder picks
the application when the card offers several), takes the PIN (offline, or
online: enciphered into DE52), has the purchase authorised
(:mod:`simulator.terminal.authorisation`: journal, 0200/0210, completing the
card, reversals) and answers the cardholder and the cashier app. A chip that
cannot be read falls back to the magnetic stripe; a chip card swiped first is
asked to be inserted.

The rules (DE22 values, when a PIN is asked online, fallback) are in docs/emv.md.

Card voids and refunds, and the batch close (docs/settlement.md): a void
names the sale (its order number) and needs neither the card nor a supervisor
password -- the sale must be approved, in the open batch and not voided yet;
a refund (partial allowed, any later batch or day) names the sale by order
number or RRN and needs the card presented (inserted or swiped, no PIN) so
the host can check it is the card that paid. The batch close is
:mod:`simulator.terminal.settlement`.

While it waits for a card the cashier may cancel (``Terminal.cancel``,
:mod:`simulator.terminal.cashier_cancel`): the sale ends CANCELED "cancelled by
the cashier" and nothing is sent.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import attrs

from drivers.card_reader import CardReader
from drivers.clock import POLL_INTERVAL, Clock, poll_until
from drivers.errors import (
    CardError,
    CardProtocolError,
    DeviceTimeout,
    DeviceUnavailable,
    PinEntryCancelled,
)
from drivers.magstripe_reader import MagstripeReader
from drivers.pin_entry import PinEntry
from drivers.wire.masking import mask_track2
from simulator.events import EventBus
from simulator.terminal.acquiring_events import ApplicationSelected, ChipFallback
from simulator.terminal.authorisation import AuthorisationCard, Authoriser
from simulator.terminal.card_fields import (
    chip_card_fields,
    icc_field,
    issuer_authentication,
    pin_block_field,
    swipe_card_fields,
)
from simulator.terminal.cashier_cancel import CANCELLED_BY_CASHIER, CashierCancel
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import (
    ContractViolation,
    IntentContract,
    IntentResult,
    PaymentOrder,
    PaymentOutcome,
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
from simulator.terminal.journal import JournalEntry, TxnState
from simulator.terminal.preauth import FOLLOW_UPS as PREAUTH_FOLLOW_UPS
from simulator.terminal.preauth import PREAUTH, PreauthFollowUps
from simulator.terminal.qr_payments import QrPayments
from simulator.terminal.settlement import BatchClose
from simulator.terminal.track2 import Track2
from simulator.wire.money import format_yuan

PIN_LENGTH = (4, 12)
# DE22 (ISO 8583:1987): two digits of PAN entry mode, then PIN entry capability
# ("1": the terminal can accept PINs -- it always has its PIN pad).
ENTRY_MODE_ICC = "051"  # contact chip
ENTRY_MODE_MAGSTRIPE = "021"  # magnetic stripe, track 2 unaltered in DE35
ENTRY_MODE_FALLBACK = "801"  # magnetic stripe after the chip failed (fallback)
KEY_OK = "OK"
RRN_LENGTH = 12
MAX_MENU = 9  # applications a digit key can pick
_AAC = 0x00
_CID_TYPE_MASK = 0xC0

# cvm values in TransactionDetail (and the contract): what the receipt needs.
CVM_PIN = "pin"
CVM_ONLINE_PIN = "online_pin"
CVM_SIGNATURE = "signature"
CVM_NONE = "none"


@attrs.frozen
class _Fallback:
    """The chip could not be read: the magnetic stripe may be used instead."""

    reason: str


@attrs.frozen
class _RefundOf:
    """The sale a refund gives money back for (``sale``: None if not in this journal)."""

    rrn: str
    sale: JournalEntry | None


@attrs.frozen
class _Presented:
    chip: bool
    track2: str | None = attrs.field(default=None, repr=False)


class _NoCard(enum.Enum):
    """Why no card came: the wait ran out, or the cashier cancelled it."""

    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class AcquiringApp:
    def __init__(
        self,
        *,
        contract: IntentContract,
        card_reader: CardReader,
        pin_entry: PinEntry,
        authoriser: Authoriser,
        display: Display,
        bus: EventBus,
        clock: Clock,
        rng: random.Random,
        emv_config: TerminalEmvConfig,
        timeouts: Timeouts,
        pin_key: bytes,
        magstripe_reader: MagstripeReader | None = None,
        qr: QrPayments | None = None,
        batch_close: BatchClose | None = None,
        cashier_cancel: CashierCancel | None = None,
    ) -> None:
        self._cashier = cashier_cancel or CashierCancel(clock, bus)
        self._qr = qr
        self._batch_close = batch_close
        self._contract = contract
        self._reader = card_reader
        self._swiper = magstripe_reader
        self._pin_entry = pin_entry
        self._authoriser = authoriser
        self._display = display
        self._bus = bus
        self._clock = clock
        self._rng = rng
        self._emv_config = emv_config
        self._timeouts = timeouts
        self._pin_key = pin_key
        self._preauth = PreauthFollowUps(authoriser, display)

    @property
    def contract(self) -> IntentContract:
        """The vendor contract this app answers Intents by."""
        return self._contract

    # -- the Intent entry point -------------------------------------------------

    def on_intent(self, extras: Mapping[str, Any]) -> IntentResult:
        try:
            order = self._contract.parse_request(extras)
        except ContractViolation as exc:
            return self._contract.build_result(PaymentOutcome(False, f"invalid request: {exc}"))
        if self._qr is not None and self._qr.handles(order):
            return self._contract.build_result(self._qr.run(order))
        operation = order.operation if order.method == "card" else ""
        if operation == "settle" and self._batch_close is not None:
            return self._contract.build_result(self._batch_close.run(order))
        if operation not in ("sale", "void", "refund", PREAUTH, *PREAUTH_FOLLOW_UPS):
            reason = f"{order.method} {order.operation} is not supported by this acquiring app yet"
            return self._contract.build_result(PaymentOutcome(False, reason))
        self._authoriser.send_pending_reversals()
        if operation == "void":
            outcome = self._card_void(order)
        elif operation == "refund":
            outcome = self._card_refund(order)
        elif operation in PREAUTH_FOLLOW_UPS:
            outcome = self._preauth.run(order)
        else:  # a sale, or a pre-auth: the card is read the same way
            outcome = self._card_sale(order)
        return self._contract.build_result(outcome)

    # -- void and refund ----------------------------------------------------------

    def _card_void(self, order: PaymentOrder) -> PaymentOutcome:
        journal = self._authoriser.journal
        sale = journal.find_sale(order.orig_order_no)
        if sale is None or sale.state is not TxnState.APPROVED:
            return self._cancel(f"void: no approved card sale {order.orig_order_no}")
        if sale.batch_no != journal.batch_no:
            return self._cancel(
                f"void: sale {order.orig_order_no} is in settled batch {sale.batch_no}; refund it"
            )
        if any(
            e.operation == "void" and e.state is TxnState.APPROVED
            for e in journal.offsets(sale.rrn)
        ):
            return self._cancel(f"void: sale {order.orig_order_no} is already voided")
        if order.amount_fen != sale.amount_fen:
            return self._cancel(
                f"void: the amount must be the sale's RMB {format_yuan(sale.amount_fen)}"
            )
        return self._authoriser.void(order, sale)

    def _card_refund(self, order: PaymentOrder) -> PaymentOutcome:
        sale = self._authoriser.journal.find_sale(order.orig_order_no)
        if sale is not None and sale.state is not TxnState.APPROVED:
            return self._cancel(f"refund: card sale {order.orig_order_no} was not approved")
        rrn = order.orig_order_no if sale is None else sale.rrn
        if len(rrn) != RRN_LENGTH or not rrn.isalnum():
            return self._cancel(
                f"refund: no card sale {order.orig_order_no} (give its order number or RRN)"
            )
        return self._card_sale(order, _RefundOf(rrn, sale))

    # -- waiting for a card -------------------------------------------------------

    def _card_sale(self, order: PaymentOrder, refund: _RefundOf | None = None) -> PaymentOutcome:
        """A sale, or with ``refund`` a refund: both start with a card presented."""
        amount = format_yuan(order.amount_fen)
        what = "退货 Refund " if refund is not None else ""
        self._display.show(
            ScreenId.PRESENT_CARD, "请插卡或刷卡 Insert or swipe card", f"{what}金额 RMB {amount}"
        )
        if self._swiper is not None:
            self._swiper.discard_swipes()  # a swipe before the sale is not for this sale
        deadline = self._clock.monotonic() + self._timeouts.card
        while True:
            presented = self._wait_for_card(deadline, chip=True)
            if presented is _NoCard.CANCELLED:
                return self._cancel(CANCELLED_BY_CASHIER)
            if presented is _NoCard.TIMEOUT:
                return self._cancel(f"no card presented within {self._timeouts.card:g} s")
            if presented.chip:
                result = self._chip_sale(order, refund)
                if isinstance(result, _Fallback):
                    return self._fallback(order, result.reason, refund)
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
                return self._swipe_sale(order, track, fallback=False, refund=refund)

    def _wait_for_card(self, deadline: float, *, chip: bool) -> _Presented | _NoCard:
        """A card inserted (if ``chip``) or swiped before ``deadline``, unless the
        cashier cancels first (a card that comes with the CANCEL is left unread)."""
        with self._cashier.waiting("the card") as window:
            presented = self._card_arrival(deadline, chip=chip)
        if window.cancelled:
            return _NoCard.CANCELLED
        return presented or _NoCard.TIMEOUT

    def _card_arrival(self, deadline: float, *, chip: bool) -> _Presented | None:
        """The card presented; None once ``deadline`` passes or the cashier cancels.

        A real PC/SC reader never notifies the clock, so this polls in short
        waits rather than one long one.
        """
        swiper = self._swiper
        cashier = self._cashier

        def arrived() -> bool:  # no side effects: the clock may call it from any thread
            if cashier.requested or (chip and self._reader.card_present()):
                return True
            return swiper is not None and swiper.swipe_waiting()

        while not cashier.requested:
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
        return None

    # -- chip -----------------------------------------------------------------------

    def _chip_sale(
        self, order: PaymentOrder, refund: _RefundOf | None = None
    ) -> PaymentOutcome | _Fallback:
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
            if refund is not None:
                return self._chip_refund(order, card, refund)
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
        self._bus.publish(ApplicationSelected(card.aid, card.label))
        cvm = kernel.verify_cardholder(self._pin_source(amount))
        fields = chip_card_fields(card, ENTRY_MODE_ICC)
        cvm_kind = CVM_SIGNATURE if cvm.signature_required else CVM_NONE
        if cvm.outcome is CvmOutcome.ONLINE_PIN and cvm.online_pin:
            fields["52"] = pin_block_field(cvm.online_pin, card.pan, self._pin_key)
            cvm_kind = CVM_ONLINE_PIN
        elif cvm.outcome is CvmOutcome.OFFLINE_PIN and not cvm.signature_required:
            cvm_kind = CVM_PIN
        first_ac = kernel.first_generate_ac()
        if first_ac.cid & _CID_TYPE_MASK == _AAC:
            self._display.show(ScreenId.DECLINED, "交易拒绝 Declined", "卡片拒绝 Declined by card")
            return PaymentOutcome(False, "declined offline by the card (AAC)")
        fields["55"] = icc_field(first_ac)

        def complete(response_code: str | None, reply: Mapping[str, str] | None) -> bool:
            issuer_data = None if reply is None else issuer_authentication(reply)
            return kernel.second_generate_ac(response_code, issuer_data).approved

        chip = AuthorisationCard(card.masked_pan, card.label, ENTRY_MODE_ICC, cvm_kind, fields)
        return self._authoriser.authorise(order, chip, complete)

    def _chip_refund(
        self, order: PaymentOrder, card: CardData, refund: _RefundOf
    ) -> PaymentOutcome:
        """A refund needs the card's PAN only: no PIN, no cryptogram; the cardholder signs."""
        self._bus.add_secret(card.pan, card.masked_pan)
        self._bus.add_secret(card.track2, mask_track2(card.track2))
        fields = chip_card_fields(card, ENTRY_MODE_ICC)
        chip = AuthorisationCard(card.masked_pan, card.label, ENTRY_MODE_ICC, CVM_SIGNATURE, fields)
        return self._authoriser.refund(order, chip, refund.rrn, refund.sale)

    # -- magnetic stripe ---------------------------------------------------------------

    def _fallback(
        self, order: PaymentOrder, reason: str, refund: _RefundOf | None = None
    ) -> PaymentOutcome:
        self._bus.publish(ChipFallback(reason))
        self._display.show(
            ScreenId.SWIPE_CARD, "请刷卡 Please swipe the card", "芯片读卡失败 Chip read failed"
        )
        deadline = self._clock.monotonic() + self._timeouts.card
        while True:
            presented = self._wait_for_card(deadline, chip=False)
            if presented is _NoCard.CANCELLED:
                return self._cancel(CANCELLED_BY_CASHIER)
            if presented is _NoCard.TIMEOUT:
                return self._cancel(f"chip read failed ({reason}) and no card was swiped")
            track = Track2.parse(presented.track2 or "")
            if track is not None:
                return self._swipe_sale(order, track, fallback=True, refund=refund)
            self._display.show(
                ScreenId.SWIPE_CARD, "刷卡失败 Swipe failed", "请重新刷卡 Please swipe again"
            )

    def _swipe_sale(
        self,
        order: PaymentOrder,
        track: Track2,
        *,
        fallback: bool,
        refund: _RefundOf | None = None,
    ) -> PaymentOutcome:
        self._bus.add_secret(track.pan, track.masked_pan)
        self._bus.add_secret(track.text, mask_track2(track.text))
        entry_mode = ENTRY_MODE_FALLBACK if fallback else ENTRY_MODE_MAGSTRIPE
        fields = swipe_card_fields(track, entry_mode)
        label = "磁条卡 Magstripe" if not fallback else "降级交易 Fallback"
        if refund is not None:
            card = AuthorisationCard(track.masked_pan, label, entry_mode, CVM_SIGNATURE, fields)
            return self._authoriser.refund(order, card, refund.rrn, refund.sale)
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
            fields["52"] = pin_block_field(pin, track.pan, self._pin_key)
            cvm_kind = CVM_ONLINE_PIN
        card = AuthorisationCard(track.masked_pan, label, entry_mode, cvm_kind, fields)
        return self._authoriser.authorise(order, card, None)

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
