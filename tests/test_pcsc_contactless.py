"""Contactless through the real PC/SC stack: the PICC reader of the private pcscd.

pcsc-tools' ``pcsc_scan`` (not possim) must see the PICC reader, named as pcscd names
a real dual reader's contactless interface, and the PC/SC Part 3 contactless ATR of a
tapped card (PC/SC Part 3 3.1.3.2.3.1: ``3B 8n 80 01`` + historical bytes + TCK) and
of a MIFARE Classic membership card (3.1.3.2.3.2); pyscard sends that card the Part 3
pseudo-APDUs (``FF CA``, ``FF 82``, ``FF 86``, ``FF B0``, ``FF D6``) directly;
``possim doctor`` names the reader contactless and the card by its ATR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from drivers.wire.pcsc_atr import storage_card_atr
from simulator.devices import cards
from simulator.devices.mifare import membership_card, read_value, value_block
from simulator.devices.vpcd_card import VpcdCardSlot
from simulator.pcscd import PrivatePcscd
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig

pytestmark = [
    pytest.mark.system_package("pcscd"),
    pytest.mark.system_package("vpcd-config"),
    pytest.mark.system_package("pyscard"),
    pytest.mark.filterwarnings("ignore:.*TripleDES"),
]


def _spaced(data: bytes) -> str:
    return " ".join(f"{byte:02X}" for byte in data)


@pytest.mark.system_package("pcsc_scan")
def test_pcsc_scan_and_doctor_see_the_picc_reader_and_a_tapped_cards_contactless_atr(
    private_pcscd: PrivatePcscd, tmp_path: Path
) -> None:
    image = cards.load("quickpass_debit")
    with Shop(TerminalConfig.load("default"), tmp_path, card_transport="pcsc") as shop:
        picc = shop.world.picc_slot
        assert isinstance(picc, VpcdCardSlot)
        assert "[possim Dual Reader PICC]" in picc.name
        with shop.clock.actor():
            shop.hands.tap_card(image)  # returns once pcscd reports the card
        env = dict(os.environ)
        scan = subprocess.run(
            ["pcsc_scan", "-c", "-n"], capture_output=True, text=True, timeout=60, env=env
        )
        doctor = subprocess.run(
            [sys.executable, "-m", "possim", "doctor"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        with shop.clock.actor():
            shop.hands.remove_card()
    # pcsc_scan prints each reader, then its state and ATR (pcsc_scan.c).
    ours = scan.stdout.split(f": {picc.name}\n", 1)
    assert len(ours) == 2, scan.stdout
    block = ours[1].split(" Reader ", 1)[0]
    assert "Card inserted" in block, scan.stdout
    atr = image.contactless_atr
    assert atr[:4] == bytes.fromhex("3B888001")
    assert f"ATR: {_spaced(atr)}" in block, scan.stdout
    line = next(line for line in doctor.stdout.splitlines() if picc.name in line)
    assert "[contactless]" in line and "contactless smart card (ISO/IEC 14443-4)" in line, line
    assert _spaced(atr) in line


MEMBER_KEY_A = bytes.fromhex("A0A1A2A3A4A5")
MEMBER_KEY_B = bytes.fromhex("B0B1B2B3B4B5")


def _transmit(connection: Any, apdu: str) -> tuple[bytes, str]:
    data, sw1, sw2 = connection.transmit(list(bytes.fromhex(apdu)))
    return bytes(data), f"{sw1:02X}{sw2:02X}"


@pytest.mark.system_package("pcsc_scan")
def test_a_membership_card_answers_pcsc_part3_pseudo_apdus_sent_with_pyscard(
    private_pcscd: PrivatePcscd, tmp_path: Path
) -> None:
    from smartcard.System import readers

    member = membership_card(
        bytes.fromhex("1A2B3C4D"),
        12345,
        key_a=MEMBER_KEY_A,
        key_b=MEMBER_KEY_B,
        member_no="M000123",
    )
    with Shop(TerminalConfig.load("default"), tmp_path, card_transport="pcsc") as shop:
        picc = shop.world.picc_slot
        assert picc is not None
        with shop.clock.actor():
            shop.hands.hold_storage_card(member)
        env = dict(os.environ)
        scan = subprocess.run(
            ["pcsc_scan", "-c", "-n"], capture_output=True, text=True, timeout=60, env=env
        )
        doctor = subprocess.run(
            [sys.executable, "-m", "possim", "doctor"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        (reader,) = [r for r in readers() if str(r) == picc.name]
        connection = reader.createConnection()
        connection.connect()
        try:
            # The Lakala membership sequence (gongjr/KXMealOrderApp ApduCommand.java).
            uid, sw = _transmit(connection, "FFCA000004")
            assert (uid, sw) == (bytes.fromhex("1A2B3C4D"), "9000")
            assert _transmit(connection, "FF82000006FFFFFFFFFFFF")[1] == "9000"
            assert _transmit(connection, "FF86000005010004600000")[1] == "6300"  # wrong key
            assert _transmit(connection, "FF82000006" + MEMBER_KEY_A.hex())[1] == "9000"
            assert _transmit(connection, "FF86000005010004600000")[1] == "9000"
            number, sw = _transmit(connection, "FFB0000410")
            assert sw == "9000" and number.rstrip(b"\0") == b"M000123"
            block, sw = _transmit(connection, "FFB0000510")
            assert sw == "9000" and read_value(block) == 12345
            # Key A reads; only key B writes this sector.
            assert _transmit(connection, "FFD6000510" + value_block(0, 5).hex())[1] == "6982"
            assert _transmit(connection, "FF82000106" + MEMBER_KEY_B.hex())[1] == "9000"
            assert _transmit(connection, "FF86000005010004610100")[1] == "9000"
            assert _transmit(connection, "FFD6000510" + value_block(10000, 5).hex())[1] == "9000"
            assert read_value(_transmit(connection, "FFB0000510")[0]) == 10000
        finally:
            connection.disconnect()
        with shop.clock.actor():
            shop.hands.remove_card()
    atr = storage_card_atr(0x0001)
    block = scan.stdout.split(f": {picc.name}\n", 1)[1].split(" Reader ", 1)[0]
    assert f"ATR: {_spaced(atr)}" in block, scan.stdout
    line = next(line for line in doctor.stdout.splitlines() if picc.name in line)
    assert "MIFARE Classic 1K" in line, line
