"""Application selection: priority order, the cardholder's choice, and the
SELECT_APPLICATION screen with a digit key on the PIN pad."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from sim_helpers import insert, key, pin, remove, run_sale, simulation

from drivers.errors import DeviceTimeout, DeviceUnavailable
from drivers.pin_entry import PinEntry
from drivers.wire import ber_tlv as tlv
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_image import CardImage
from simulator.devices.card_reader import SimCardReader
from simulator.devices.pin_pad import VirtualPinPad
from simulator.terminal.acquiring_events import ApplicationSelected
from simulator.terminal.display import ScreenId, ScreenShown
from simulator.terminal.emv import ApplicationChoice, EmvKernel, TerminalEmvConfig
from simulator.terminal.host_link import LinkIsoMessage

DUAL = cards.load("unionpay_dual_app")  # QCredit (priority 2) listed before Debit (1)
QCREDIT, DEBIT = "A000000333010103", "A000000333010101"


def kernel_for(image: CardImage) -> EmvKernel:
    clock = VirtualClock()
    reader = SimCardReader(clock)
    reader.insert(VirtualCard(image))
    return EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)


def test_without_a_chooser_the_highest_priority_wins() -> None:
    assert kernel_for(DUAL).read_card(100).aid == DEBIT


def test_the_chooser_sees_the_list_in_priority_order_and_decides() -> None:
    seen: list[Sequence[ApplicationChoice]] = []

    def choose(choices: Sequence[ApplicationChoice]) -> int:
        seen.append(choices)
        return 1

    kernel = kernel_for(DUAL)
    card = kernel.read_card(100, chooser=choose)
    assert [choice.aid for choice in seen[0]] == [DEBIT, QCREDIT]
    assert [choice.priority & 0x0F for choice in seen[0]] == [1, 2]
    assert card.aid == QCREDIT
    assert kernel.card_tag("84") == bytes.fromhex(QCREDIT)


def test_a_single_application_is_not_offered_unless_it_asks_for_confirmation() -> None:
    calls: list[int] = []
    kernel = kernel_for(cards.load("unionpay_debit"))
    kernel.read_card(100, chooser=lambda choices: calls.append(len(choices)) or 0)
    assert calls == []


class ConfirmingReader(SimCardReader):
    """The card's priority indicators (87) gain b8: cardholder confirmation required."""

    def _transmit_raw(self, apdu: bytes) -> bytes:
        return super()._transmit_raw(apdu).replace(b"\x87\x01\x01", b"\x87\x01\x81")


def test_confirmation_bit_offers_even_one_application() -> None:
    clock = VirtualClock()
    reader = ConfirmingReader(clock)
    reader.insert(VirtualCard(cards.load("unionpay_debit")))
    kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)
    offered: list[list[int]] = []
    kernel.read_card(
        100, chooser=lambda choices: offered.append([c.priority for c in choices]) or 0
    )
    assert offered == [[0x81]]


def test_pin_entry_without_single_keys_keeps_the_default() -> None:
    class OldPad(PinEntry):
        def read_pin(self, **kwargs: object) -> str:  # type: ignore[override]
            return ""

    with pytest.raises(DeviceUnavailable):
        OldPad().read_key(keys={"1"}, timeout=1)


def test_virtual_pad_reads_one_allowed_key() -> None:
    clock = VirtualClock()
    pad = VirtualPinPad(clock)
    assert not pad.press("1")  # not listening yet
    results: list[str] = []

    def worker() -> None:
        with clock.actor():
            results.append(pad.read_key(keys={"1", "2"}, timeout=10))

    with clock.actor():
        thread = threading.Thread(target=worker)
        thread.start()
        clock.settle()
        assert pad.awaiting_key and not pad.awaiting_pin
        assert pad.press("7") and pad.press("2")
    thread.join(5)
    assert results == ["2"]
    assert not pad.awaiting_key


def test_virtual_pad_key_cancel_and_timeout() -> None:
    clock = VirtualClock()
    pad = VirtualPinPad(clock)
    with pytest.raises(DeviceTimeout):
        pad.read_key(keys={"1"}, timeout=5)
    assert clock.monotonic() == pytest.approx(5)


def test_terminal_shows_the_menu_and_the_cardholder_picks_with_a_key(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 1800, insert(DUAL), key("2"), pin(DUAL.pin), remove)
        assert result.approved, result.outcome.reason
        menus = [
            e.payload.lines
            for e in sim.bus.of(ScreenShown)
            if e.payload.screen is ScreenId.SELECT_APPLICATION
        ]
        chosen = [e.payload.aid for e in sim.bus.of(ApplicationSelected)]
        de55 = next(
            e.payload.fields["55"]["value"]
            for e in sim.bus.of(LinkIsoMessage)
            if e.payload.mti == "0200"
        )
    assert menus[0] == ("1. UnionPay Debit", "2. UP Quasi Credit")
    assert chosen == [QCREDIT]
    assert QCREDIT in de55  # tag 84 in DE55 (the redactor leaves AIDs readable)


def test_cancel_on_the_menu_cancels_the_sale(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 1800, insert(DUAL), key("CANCEL"), remove)
    assert not result.approved and "cancelled" in result.outcome.reason


def test_de55_tag_84_is_the_selected_aid() -> None:
    kernel = kernel_for(DUAL)
    kernel.read_card(100, chooser=lambda choices: 1)
    kernel.verify_cardholder(lambda request: DUAL.pin)
    first = kernel.first_generate_ac()
    assert first.icc_data["84"] == bytes.fromhex(QCREDIT)
    assert tlv.decode_flat(tlv.encode(dict(first.icc_data)))["84"] == bytes.fromhex(QCREDIT)
