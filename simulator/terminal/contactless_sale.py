"""The acquiring app's contactless sale: a tap, the kernel's outcome, the authorisation.

The acquiring app (:mod:`simulator.terminal.acquiring_app`) waits for a card
inserted, swiped or tapped; a tap comes here. :meth:`ContactlessSale.run` runs
the contactless kernel (:func:`simulator.terminal.emv.contactless.run_contactless`)
and acts on its outcome:

* ``online request``: the online PIN when the kernel asks for it (after the
  card left the field, as contactless readers do), then the authorisation with
  DE22 ``071`` (contactless chip, PIN capable) and DE55 with the contactless
  tags (TTQ ``9F66``, CTQ ``9F6C``); there is no second GENERATE AC, so the
  host's ARPC is not sent to the card;
* ``see phone``: the screen says 请查看手机 and the terminal waits for the next tap;
* ``try again`` (the card left the field too soon) and ``present one card``
  (no card could be activated: two cards in the field): the screen says so and
  the terminal waits for the next tap;
* ``try another interface``: the screen asks to insert or swipe, and taps are
  no longer taken for this sale;
* ``declined``: the card declined (AAC).

A new tap is a new :meth:`~drivers.card_reader.CardReader.presentation`: a card
left in the field after its transaction is not read again (EMV Book A: the
card must leave the field first).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import ClassVar

import attrs

from drivers.card_reader import CardReader
from drivers.clock import Clock
from drivers.errors import DeviceTimeout, PinEntryCancelled
from drivers.wire import ber_tlv as tlv
from drivers.wire.masking import mask_track2
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload
from simulator.terminal.acquiring_events import SOURCE, ApplicationSelected
from simulator.terminal.authorisation import AuthorisationCard, Authoriser
from simulator.terminal.contract import PaymentOrder, PaymentOutcome
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv import PinRequest, TerminalEmvConfig
from simulator.terminal.emv.contactless import (
    ContactlessCvm,
    Outcome,
    ReaderLimits,
    TapResult,
    run_contactless,
)
from simulator.wire.pin_block import encipher_pin

# DE22: 07 contactless chip (ISO 8583:1987 PAN entry mode), 1 the terminal takes PINs.
ENTRY_MODE_CONTACTLESS = "071"


@attrs.frozen
class ContactlessOutcome(EventPayload):
    """How a tap ended (EMV Book A outcomes): the kernel, the outcome and why."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "contactless"

    kernel: str
    outcome: str
    cvm: str
    reason: str = attrs.field(default="", metadata=SUMMARY_ONLY)
    oda: str = "not performed"  # fDDA: verified, not offered, failed: why

    def summary(self) -> str:
        parts = [f"contactless {self.kernel or '-'}: {self.outcome}"]
        if self.outcome == Outcome.ONLINE_REQUEST.value:
            parts.append(f"CVM {self.cvm}")
            if self.oda == "verified":
                parts.append("fDDA verified")
        if self.reason:
            parts.append(self.reason)
        return ", ".join(parts)


@attrs.frozen
class TapAgain:
    """No payment yet: wait for the next tap (``taps`` False: insert or swipe only)."""

    taps: bool = True


class ContactlessSale:
    def __init__(
        self,
        *,
        reader: CardReader,
        limits: ReaderLimits,
        emv_config: TerminalEmvConfig,
        authoriser: Authoriser,
        display: Display,
        bus: EventBus,
        clock: Clock,
        rng: random.Random,
        pin_key: bytes,
    ) -> None:
        self.reader = reader
        self.limits = limits
        self._emv_config = emv_config
        self._authoriser = authoriser
        self._display = display
        self._bus = bus
        self._clock = clock
        self._rng = rng
        self._pin_key = pin_key
        self._last_read: int | None = None  # the presentation last read

    def allowed(self, amount_fen: int) -> bool:
        """Whether this amount may be paid by a tap (the transaction limit)."""
        return amount_fen < self.limits.transaction_limit_fen  # Book B 3.1.1.5

    def tapped(self) -> bool:
        """A card in the field that has not been read yet. No side effects."""
        presentation = self.reader.presentation()
        return presentation is not None and presentation != self._last_read

    def run(
        self, order: PaymentOrder, pin_source: Callable[[PinRequest], str]
    ) -> PaymentOutcome | TapAgain:
        self._last_read = self.reader.presentation()
        self.reader.wait_for_card(0)  # the trace shows the card presented
        self._display.show(ScreenId.READING_CARD, "读卡中 Reading card", "请勿移开 Hold the card")
        result = run_contactless(
            self.reader,
            self._emv_config,
            self.limits,
            self._rng,
            self._clock.now,
            order.amount_fen,
        )
        self._bus.publish(
            ContactlessOutcome(
                result.kernel, result.outcome.value, result.cvm.value, result.reason, result.oda
            )
        )
        outcome = result.outcome
        if outcome is Outcome.SEE_PHONE:
            self._display.show(
                ScreenId.SEE_PHONE,
                "请查看手机 See phone",
                "验证后请再次挥卡 Verify, then tap again",
            )
            return TapAgain()
        if outcome is Outcome.TRY_AGAIN:
            self._display.show(ScreenId.TAP_AGAIN, "请重新挥卡 Tap again", result.reason)
            return TapAgain()
        if outcome is Outcome.PRESENT_ONE_CARD:
            self._display.show(
                ScreenId.TAP_AGAIN, "请只出示一张卡 Present one card only", "请重新挥卡 Tap again"
            )
            return TapAgain()
        if outcome is Outcome.TRY_ANOTHER_INTERFACE:
            self._display.show(
                ScreenId.TRY_ANOTHER_INTERFACE, "请插卡或刷卡 Insert or swipe card", result.reason
            )
            return TapAgain(taps=False)
        if outcome is Outcome.DECLINED:
            self._display.show(ScreenId.DECLINED, "交易拒绝 Declined", "卡片拒绝 Declined by card")
            return PaymentOutcome(False, "declined offline by the card (AAC)")
        return self._online(order, result, pin_source)

    def _online(
        self, order: PaymentOrder, result: TapResult, pin_source: Callable[[PinRequest], str]
    ) -> PaymentOutcome:
        card = result.card
        assert card is not None  # an online request always reads the card
        self._bus.add_secret(card.pan, card.masked_pan)
        self._bus.add_secret(card.track2, mask_track2(card.track2))
        self._bus.publish(ApplicationSelected(card.aid, card.label))
        fields = {
            "2": card.pan,
            "14": card.expiry,
            "22": ENTRY_MODE_CONTACTLESS,
            "23": card.psn.zfill(3),
            "35": card.track2,
            "55": tlv.encode(dict(result.icc_data)).hex().upper(),
        }
        cvm = result.cvm.value
        if result.cvm is ContactlessCvm.ONLINE_PIN:
            try:
                pin = pin_source(PinRequest(tries_left=None, retry=False, online=True))
            except PinEntryCancelled:
                return self._cancel("cancelled by the cardholder")
            except DeviceTimeout as exc:
                return self._cancel(f"timed out: {exc}")
            if not pin:
                return self._cancel("this payment requires the PIN")
            fields["52"] = encipher_pin(pin, card.pan, self._pin_key).hex().upper()
        tapped = AuthorisationCard(card.masked_pan, card.label, ENTRY_MODE_CONTACTLESS, cvm, fields)
        # Over contactless the card has left: nothing to complete with the host's answer.
        return self._authoriser.authorise(order, tapped, None)

    def _cancel(self, reason: str) -> PaymentOutcome:
        self._display.show(ScreenId.CANCELLED, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)
