"""The virtual MIFARE Classic 1K membership card behind the PICC slot: the PC/SC Part 3
pseudo-APDUs (FF CA/82/86/88/B0/D6), sector keys A/B and access bits (MIFARE Classic
data sheet, data block table), value blocks, a torn write, in process."""

from __future__ import annotations

from pathlib import Path

from drivers.card_reader import CardInterface
from drivers.wire.pcsc_atr import parse_contactless_atr
from simulator.clock import VirtualClock
from simulator.devices.card_reader import SimCardReader
from simulator.devices.mifare import (
    MifareClassic1K,
    access_bits,
    membership_card,
    read_value,
    value_block,
)
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig

KEY_A = bytes.fromhex("A0A1A2A3A4A5")
KEY_B = bytes.fromhex("B0B1B2B3B4B5")


def member() -> MifareClassic1K:
    return membership_card(
        bytes.fromhex("1A2B3C4D"), 5000, key_a=KEY_A, key_b=KEY_B, member_no="M000001"
    )


def reader_with(card: MifareClassic1K) -> SimCardReader:
    reader = SimCardReader(VirtualClock(), interface=CardInterface.CONTACTLESS)
    reader.insert(card)
    reader.connect()
    return reader


def sw(reader: SimCardReader, apdu: str) -> str:
    return f"{reader.transmit(bytes.fromhex(apdu)).sw:04X}"


def test_the_card_shows_the_part3_storage_atr_and_its_uid() -> None:
    reader = reader_with(member())
    parsed = parse_contactless_atr(reader.connect())
    assert parsed is not None and "MIFARE Classic 1K" in parsed.describe()
    response = reader.transmit(bytes.fromhex("FFCA000004"))
    assert (response.data.hex().upper(), response.sw) == ("1A2B3C4D", 0x9000)
    assert sw(reader, "FFCA010000") == "6A81"  # no ATS: a storage card


def test_a_wrong_key_is_63_00_and_nothing_reads_without_authentication() -> None:
    reader = reader_with(member())
    assert sw(reader, "FFB0000410") == "6982"
    assert sw(reader, "FF82000006FFFFFFFFFFFF") == "9000"
    assert sw(reader, "FF86000005010004600000") == "6300"
    assert sw(reader, "FFB0000410") == "6982"


def test_key_a_reads_key_b_writes_as_the_access_bits_say() -> None:
    reader = reader_with(member())
    assert sw(reader, "FF82000006" + KEY_A.hex()) == "9000"
    assert sw(reader, "FF86000005010005600000") == "9000"
    block = reader.transmit(bytes.fromhex("FFB0000510"))
    assert read_value(block.data) == 5000
    assert sw(reader, "FFD6000510" + value_block(1, 5).hex()) == "6982"
    assert sw(reader, "FF82000106" + KEY_B.hex()) == "9000"
    assert sw(reader, "FF88000561" + "01") == "9000"  # the obsolete AUTHENTICATE form
    assert sw(reader, "FFD6000510" + value_block(4200, 5).hex()) == "9000"
    assert read_value(reader.transmit(bytes.fromhex("FFB0000510")).data) == 4200
    # Another sector needs its own authentication.
    assert sw(reader, "FFB0000810") == "6982"


def test_the_trailer_hides_key_a_and_block_0_is_read_only() -> None:
    card = MifareClassic1K(bytes.fromhex("01020304"))
    reader = reader_with(card)
    assert sw(reader, "FF82000006FFFFFFFFFFFF") == "9000"
    assert sw(reader, "FF86000005010000600000") == "9000"
    trailer = reader.transmit(bytes.fromhex("FFB0000310")).data
    assert trailer[:6] == bytes(6) and trailer[6:10] == bytes.fromhex("FF078069")
    assert sw(reader, "FFD6000010" + "00" * 16) == "6982"
    assert sw(reader, "FFD6000110" + "11" * 16) == "9000"  # transport config: A writes


def test_a_torn_value_block_does_not_read_as_a_value() -> None:
    torn = bytearray(value_block(5000, 5))
    torn[8:12] = (4000).to_bytes(4, "little")  # the third copy written, the first not
    assert read_value(bytes(torn)) is None
    assert read_value(value_block(-20, 5)) == -20


def test_access_bits_encode_the_data_sheet_layout() -> None:
    assert access_bits((0, 0, 0)) == bytes.fromhex("FF078069")  # transport configuration
    # Data blocks 100 (read A|B, write B), trailer 011: the well-known 78 77 88.
    assert access_bits((1, 0, 0), trailer=(0, 1, 1))[:3] == bytes.fromhex("787788")


def test_a_membership_card_held_to_the_in_process_picc_slot(tmp_path: Path) -> None:
    card = member()
    with Shop(TerminalConfig.load("default"), tmp_path) as shop:
        with shop.clock.actor():
            shop.hands.hold_storage_card(card)
        reader = shop.terminal.contactless_reader
        assert reader is not None and reader.card_present()
        reader.connect()
        assert reader.transmit(bytes.fromhex("FFCA000004")).data == card.uid
        reader.disconnect()
        with shop.clock.actor():
            assert shop.hands.remove_card()
