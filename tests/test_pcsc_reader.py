"""The pcsc:// card reader driver on the real stack: pyscard -> pcscd -> vpcd -> our card."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator

import attrs
import pytest
from pcsc_helpers import SETTLE, inserted

from drivers.card_reader import CardInterface, CardPresented, CardReader
from drivers.clock import RealClock
from drivers.errors import (
    CardProtocolError,
    CardRemoved,
    NoCard,
    PcscServiceUnavailable,
    ReaderNotFound,
)
from drivers.pcsc_card_reader import PcscCardReader, load_scard
from drivers.registry import DeviceContext, open_device
from drivers.wire import iso7816 as cmd
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_reader import SimCardReader
from simulator.devices.vpcd_card import ApduCard, VpcdCardLink, VpcdCardSlot
from simulator.pcscd import PrivatePcscd, VpcdSlot, wait_for_reader_state

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


def debit_card() -> VirtualCard:
    return VirtualCard(cards.load("unionpay_debit"))


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
        image = attrs.evolve(cards.load("unionpay_debit"), atr=ScriptedT0Card.atr, protocol="T=0")
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

    def test_t0_get_response_with_a_short_le_gives_le_bytes_and_61xx(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        # ISO/IEC 7816-4: GET RESPONSE with Le shorter than what is waiting answers Le
        # bytes and '61XX', XX = the bytes still available (it answered 6Cxx before).
        image = cards.load("mastercard_debit")
        assert image.protocol == "T=0"
        oracle = VirtualCard(attrs.evolve(image, protocol="T=1"))  # answers in one piece
        oracle.power_on()
        fci = oracle.process_apdu(SELECT_PSE)[:-2]
        with inserted(private_pcscd, slot, VirtualCard(image)):
            reader = PcscCardReader(slot.reader)
            try:
                reader.connect()
                assert reader.protocol == "T=0"
                raw = reader._transmit_raw  # pyscard's SCardTransmit: what pcscd passes on
                assert raw(SELECT_PSE) == bytes([0x61, len(fci)])
                first = raw(bytes.fromhex("00C0000010"))
                assert first == fci[:16] + bytes([0x61, len(fci) - 16])
                second = raw(bytes.fromhex("00C0000005"))
                assert second == fci[16:21] + bytes([0x61, len(fci) - 21])
                # Le longer than what is left: 6Cxx with the exact count, then the rest.
                assert raw(bytes.fromhex("00C0000000")) == bytes([0x6C, len(fci) - 21])
                rest = raw(bytes([0x00, 0xC0, 0x00, 0x00, len(fci) - 21]))
                assert rest == fci[21:] + b"\x90\x00"
                # The driver's own chaining gets the same FCI.
                assert reader.transmit(SELECT_PSE).data == fci
            finally:
                reader.close()

    def test_a_mute_card_is_present_unresponsive_and_refused_as_in_process(
        self, private_pcscd: PrivatePcscd, slot: VpcdSlot
    ) -> None:
        scard = load_scard()
        card = VirtualCard(cards.load("magstripe_only"))
        with inserted(private_pcscd, slot, card):
            _hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            try:
                _hr, states = scard.SCardGetStatusChange(
                    context, 0, [(slot.reader, scard.SCARD_STATE_UNAWARE)]
                )
            finally:
                scard.SCardReleaseContext(context)
            (_name, state, atr) = states[0]
            assert state & scard.SCARD_STATE_PRESENT and state & scard.SCARD_STATE_MUTE
            assert bytes(atr) == b""
            reader = PcscCardReader(slot.reader)
            try:
                assert reader.wait_for_card(0) == CardPresented(CardInterface.CONTACT, b"")
                with pytest.raises(CardProtocolError) as over_pcsc:
                    reader.connect()
            finally:
                reader.close()
        assert card.apdu_count == 0
        in_process = SimCardReader(VirtualClock(), name=slot.reader)
        in_process.insert(VirtualCard(cards.load("magstripe_only")))
        assert in_process.wait_for_card(0) == CardPresented(CardInterface.CONTACT, b"")
        with pytest.raises(CardProtocolError) as in_memory:
            in_process.connect()
        assert str(over_pcsc.value) == str(in_memory.value)
        assert "mute card: no ATR" in str(over_pcsc.value)

    def test_unknown_reader_lists_the_readers(self, private_pcscd: PrivatePcscd) -> None:
        with pytest.raises(ReaderNotFound) as error:
            PcscCardReader("no such reader")
        assert private_pcscd.slots[0].reader in str(error.value)

    def test_ambiguous_reader_name_is_refused(self, private_pcscd: PrivatePcscd) -> None:
        with pytest.raises(ReaderNotFound, match="several"):
            PcscCardReader("possim vpcd")

    def test_a_unique_part_of_the_name_is_enough(self, slot: VpcdSlot) -> None:
        # "vpcd 00 00": unique, where "00 00" alone also names the dual reader's PICC side.
        suffix = slot.reader.rsplit(" ", 3)[-3:]
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
        reader = open_device(CardReader, "pcsc://", DeviceContext())
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
