"""The pcsc:// card reader driver on the real stack: pyscard -> pcscd -> vpcd -> our card."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import attrs
import pytest

from drivers.card_reader import CardInterface, CardPresented
from drivers.clock import RealClock
from drivers.errors import (
    CardProtocolError,
    CardRemoved,
    NoCard,
    PcscServiceUnavailable,
    ReaderNotFound,
)
from drivers.pcsc_card_reader import PcscCardReader, load_scard
from drivers.registry import DeviceContext, DeviceKind, open_device
from simulator.clock import VirtualClock
from simulator.devices.card import VirtualCard
from simulator.devices.card_image import CardImage
from simulator.devices.vpcd_card import ApduCard, VpcdCardLink, VpcdCardSlot
from simulator.emv import apdu as cmd
from simulator.pcscd import PrivatePcscd, VpcdSlot, wait_for_reader_state, watch_reader

SETTLE = 5.0  # real seconds pcscd may take to notice a card (it polls every ~400 ms)
SELECT_PSE = cmd.select(cmd.PSE_NAME)

needs_pcsc = [
    pytest.mark.system_package("pcscd"),
    pytest.mark.system_package("vpcd-config"),  # vsmartcard-vpcd
    pytest.mark.system_package("pyscard"),
]


@pytest.fixture
def slot(private_pcscd: PrivatePcscd) -> Iterator[VpcdSlot]:
    taken = private_pcscd.acquire_slot()
    yield taken
    private_pcscd.release_slot(taken)


@contextmanager
def inserted(pcscd: PrivatePcscd, slot: VpcdSlot, card: ApduCard) -> Iterator[VpcdCardLink]:
    """The card in the slot, as pcscd sees it; out again (and seen out) afterwards."""
    link = VpcdCardLink(lambda: pcscd.connect_vpcd(slot.port), name=slot.reader)
    link.insert(card)
    try:
        seen = watch_reader(slot.reader, True, SETTLE)
        assert seen is not None, link.last_error
        yield link
    finally:
        if link.card is not None:
            link.remove()
        # Until pcscd's poller itself saw the card go (see watch_reader).
        assert watch_reader(slot.reader, False, SETTLE, newer_than=seen) is not None


def debit_card() -> VirtualCard:
    return VirtualCard(CardImage.load("unionpay_debit"))


class ScriptedT0Card:
    """A tiny T=0 card that answers 6Cxx and 61xx, and records what reached it."""

    atr = bytes.fromhex("3B04504F5353")  # no interface bytes: T=0 only

    def __init__(self) -> None:
        self.received: list[str] = []

    def power_on(self) -> bytes:
        return self.atr

    def power_off(self) -> None:
        pass

    def process_apdu(self, apdu: bytes) -> bytes:
        self.received.append(apdu.hex().upper())
        answers = {
            "00B0000000": "6C05",  # wrong Le: "send it again with Le = 5"
            "00B0000005": "48454C4C4F9000",
            "00CB000002AABB": "6104",  # data waiting: "GET RESPONSE, Le = 4"
            "00C0000004": "DEADBEEF9000",
        }
        return bytes.fromhex(answers.get(apdu.hex().upper(), "6D00"))


# -- without pcscd -------------------------------------------------------------------------------


def test_missing_pyscard_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smartcard", None)
    with pytest.raises(PcscServiceUnavailable) as error:
        load_scard()
    message = str(error.value)
    assert "pip install 'possim[pcsc]'" in message
    assert "swig" in message and "libpcsclite-dev" in message


@pytest.mark.system_package("pyscard")
def test_pcscd_not_running_says_so() -> None:
    # libpcsclite reads the socket name once per process: ask from a fresh one.
    code = "from drivers.pcsc_card_reader import PcscCardReader\nPcscCardReader('x')\n"
    env = {"PCSCLITE_CSOCK_NAME": "/nonexistent/pcscd.comm", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode != 0
    assert "PcscServiceUnavailable: pcscd is not running" in result.stderr
    assert "systemctl start pcscd" in result.stderr


# -- on the private pcscd ------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:.*TripleDES")
class TestOnPrivatePcscd:
    pytestmark = needs_pcsc

    def test_connect_returns_the_atr_and_t1(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        card = debit_card()
        with inserted(private_pcscd, slot, card):
            reader = PcscCardReader(slot.reader)
            try:
                assert reader.card_present()
                assert reader.connect() == card.image.atr
                assert reader.protocol == "T=1"
                response = reader.transmit(SELECT_PSE)
                assert response.ok
                assert card.apdu_count == 1
            finally:
                reader.close()

    def test_t0_card_61xx_and_6cxx_through_pcscd(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        card = ScriptedT0Card()
        with inserted(private_pcscd, slot, card):
            reader = PcscCardReader(slot.reader)
            try:
                assert reader.connect() == card.atr
                assert reader.protocol == "T=0"
                assert reader.transmit(bytes.fromhex("00B0000000")).data == b"HELLO"
                response = reader.transmit(bytes.fromhex("00CB000002AABB"))
                assert response.data == bytes.fromhex("DEADBEEF") and response.ok
            finally:
                reader.close()
        assert card.received == ["00B0000000", "00B0000005", "00CB000002AABB", "00C0000004"]

    def test_t0_virtual_card_reads_through_get_response(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        image = attrs.evolve(
            CardImage.load("unionpay_debit"), atr=ScriptedT0Card.atr, protocol="T=0"
        )
        card = VirtualCard(image)
        with inserted(private_pcscd, slot, card):
            reader = PcscCardReader(slot.reader)
            try:
                reader.connect()
                assert reader.protocol == "T=0"
                assert reader._transmit_raw(SELECT_PSE)[0] == 0x61  # the card's T=0 answer
                reader.connect()  # a fresh session
                response = reader.transmit(SELECT_PSE)
                assert response.ok and response.data.startswith(b"\x6f")
            finally:
                reader.close()

    def test_unknown_reader_lists_the_readers(self, private_pcscd: PrivatePcscd) -> None:
        with pytest.raises(ReaderNotFound) as error:
            PcscCardReader("no such reader")
        assert private_pcscd.slots[0].reader in str(error.value)

    def test_ambiguous_reader_name_is_refused(self, private_pcscd: PrivatePcscd) -> None:
        with pytest.raises(ReaderNotFound, match="several"):
            PcscCardReader("possim vpcd")

    def test_a_unique_part_of_the_name_is_enough(self, slot: VpcdSlot) -> None:
        suffix = slot.reader.rsplit(" ", 2)[-2:]
        reader = PcscCardReader(" ".join(suffix))
        try:
            assert reader.reader_name == slot.reader
        finally:
            reader.close()

    def test_no_card(self, slot: VpcdSlot) -> None:
        reader = PcscCardReader(slot.reader)
        try:
            assert not reader.card_present()
            with pytest.raises(NoCard):
                reader.connect()
            with pytest.raises(NoCard):
                reader.transmit(SELECT_PSE)
        finally:
            reader.close()

    def test_waiting_for_a_card_polls_on_virtual_time(self, slot: VpcdSlot) -> None:
        clock = VirtualClock()
        reader = PcscCardReader(slot.reader, clock=clock)
        try:
            assert reader.wait_for_card(60) is None
            assert clock.monotonic() == pytest.approx(60)
        finally:
            reader.close()

    def test_waiting_sees_a_card_inserted_meanwhile(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        card = debit_card()
        reader = PcscCardReader(slot.reader, clock=RealClock())
        seen: list[CardPresented | None] = []
        waiter = threading.Thread(target=lambda: seen.append(reader.wait_for_card(SETTLE * 2)))
        waiter.start()
        try:
            with inserted(private_pcscd, slot, card):
                waiter.join()
        finally:
            waiter.join()
            reader.close()
        assert seen == [CardPresented(CardInterface.CONTACT, card.image.atr)]

    def test_card_removed_mid_transaction(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        reader = PcscCardReader(slot.reader)
        try:
            with inserted(private_pcscd, slot, debit_card()) as link:
                reader.connect()
                assert reader.transmit(SELECT_PSE).ok
                link.remove()
                assert wait_for_reader_state(slot.reader, False, SETTLE)
                with pytest.raises(CardRemoved):
                    reader.transmit(SELECT_PSE)
                with pytest.raises(CardRemoved):  # and stays so until disconnect()
                    reader.transmit(SELECT_PSE)
            reader.disconnect()
            with pytest.raises(NoCard):
                reader.transmit(SELECT_PSE)
        finally:
            reader.close()

    def test_not_connected_is_a_protocol_error(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        with inserted(private_pcscd, slot, debit_card()):
            reader = PcscCardReader(slot.reader)
            try:
                with pytest.raises(CardProtocolError, match="connect"):
                    reader.transmit(SELECT_PSE)
            finally:
                reader.close()

    def test_pcsc_url_opens_the_first_reader_with_a_card(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        card = debit_card()
        reader = open_device(DeviceKind.CARD_READER, "pcsc://", DeviceContext())
        assert isinstance(reader, PcscCardReader)
        try:
            assert not reader.card_present()
            with inserted(private_pcscd, slot, card):
                assert reader.card_present()
                assert reader.connect() == card.image.atr
                assert reader.transmit(SELECT_PSE).ok
        finally:
            reader.close()

    def test_card_back_in_right_after_a_pull_during_disconnect_is_seen(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        """The app powering the card down as it is pulled must not hide the next card.

        pcscd marks the reader empty when that power-down fails, before its
        poller notices; a card put back within one poll would then never be
        reported. VpcdCardSlot.remove() waits for the poller.
        """
        clock = VirtualClock()
        link = VpcdCardLink(lambda: private_pcscd.connect_vpcd(slot.port), name=slot.reader)
        card_slot = VpcdCardSlot(link, slot.reader, clock)
        reader = PcscCardReader(slot.reader, clock=clock)
        pull = link.remove

        def pull_while_the_app_powers_down() -> ApduCard | None:
            card = pull()
            reader.disconnect()  # the power-down fails: the card is gone
            return card

        link.remove = pull_while_the_app_powers_down  # type: ignore[method-assign]
        try:
            for _ in range(3):
                card_slot.insert(debit_card())
                assert reader.card_present()
                reader.connect()
                card_slot.remove()
                assert not reader.card_present()
        finally:
            card_slot.close()
            reader.close()
