"""The in-process card reader."""

from __future__ import annotations

import threading

import pytest

from drivers.card_reader import CardInterface, CardPresented, CardReader
from drivers.clock import RealClock
from drivers.errors import CardError, CardProtocolError, CardRemoved, NoCard
from drivers.wire import iso7816 as cmd
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_reader import SimCardReader

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

SELECT_PSE = cmd.select(cmd.PSE_NAME)


def card() -> VirtualCard:
    return VirtualCard(cards.load("unionpay_debit"))


def test_wait_for_card_times_out_on_virtual_time() -> None:
    clock = VirtualClock()
    reader = SimCardReader(clock, name="slot")
    assert reader.wait_for_card(60) is None
    assert clock.monotonic() == pytest.approx(60)
    assert not reader.card_present()


def test_inserted_card_is_presented_with_its_atr() -> None:
    reader = SimCardReader(VirtualClock(), name="slot")
    inserted = card()
    reader.insert(inserted)
    assert inserted.powered
    assert reader.inserted_card is inserted
    assert reader.wait_for_card(0) == CardPresented(CardInterface.CONTACT, inserted.image.atr)
    assert reader.name == "slot"


def test_insert_from_another_thread_wakes_the_waiter() -> None:
    reader = SimCardReader(RealClock(), name="slot")
    inserted = card()
    timer = threading.Timer(0.05, reader.insert, args=(inserted,))
    timer.start()
    try:
        presented = reader.wait_for_card(5)
    finally:
        timer.join()
    assert presented is not None
    assert presented.atr == inserted.image.atr


def test_transmit_reaches_the_card() -> None:
    reader = SimCardReader(VirtualClock(), name="slot")
    inserted = card()
    reader.insert(inserted)
    assert reader.connect() == inserted.image.atr
    response = reader.transmit(SELECT_PSE)
    assert response.ok
    assert inserted.apdu_count == 1
    reader.disconnect()
    assert not inserted.powered
    with pytest.raises(CardProtocolError, match="not powered"):
        reader.transmit(SELECT_PSE)


def test_no_card_and_removed_card_are_typed_errors() -> None:
    reader = SimCardReader(VirtualClock(), name="slot")
    with pytest.raises(NoCard):
        reader.transmit(SELECT_PSE)
    with pytest.raises(NoCard):
        reader.connect()
    reader.insert(card())
    reader.connect()
    removed = reader.remove()
    assert removed is not None and not removed.powered
    assert reader.inserted_card is None
    with pytest.raises(CardRemoved):
        reader.transmit(SELECT_PSE)
    reader.disconnect()
    with pytest.raises(NoCard):
        reader.transmit(SELECT_PSE)


def test_one_card_at_a_time() -> None:
    reader = SimCardReader(VirtualClock(), name="slot")
    reader.insert(card())
    with pytest.raises(CardError, match="already"):
        reader.insert(card())


def test_wait_for_removal() -> None:
    clock = VirtualClock()
    reader = SimCardReader(clock, name="slot")
    reader.insert(card())
    assert reader.wait_for_removal(5) is False
    reader.remove()
    assert reader.wait_for_removal(5) is True


class _ScriptedReader(CardReader):
    """A reader whose card answers from a table, recording every command it got."""

    name = "scripted"

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[str] = []

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        return CardPresented(CardInterface.CONTACT)

    def card_present(self) -> bool:
        return True

    def connect(self) -> bytes:
        return b""

    def disconnect(self) -> None:
        pass

    def _transmit_raw(self, apdu: bytes) -> bytes:
        self.sent.append(apdu.hex().upper())
        return bytes.fromhex(self.answers.get(apdu.hex().upper(), "6D00"))


def test_get_response_chains_61xx_and_a_6cxx_repeats_the_get_response() -> None:
    # ISO/IEC 7816-3 (T=0): after '6CXX' the reader re-sends the *previous* command with
    # P3 = XX -- here the GET RESPONSE, not the case-4 command before it (which would
    # run it twice on the card).
    reader = _ScriptedReader(
        {
            "80CA000002AABB": "6108",
            "00C0000008": "6C06",
            "00C0000006": "1122334455666104",
            "00C0000004": "778899AA9000",
        }
    )
    response = reader.transmit(bytes.fromhex("80CA000002AABB"))
    assert response.data == bytes.fromhex("112233445566778899AA") and response.ok
    assert reader.sent == ["80CA000002AABB", "00C0000008", "00C0000006", "00C0000004"]
