"""Contactless through the real PC/SC stack: the PICC reader of the private pcscd.

pcsc-tools' ``pcsc_scan`` (not possim) must see the PICC reader, named as pcscd names
a real dual reader's contactless interface, and the PC/SC Part 3 contactless ATR of a
tapped card (PC/SC Part 3 3.1.3.2.3.1: ``3B 8n 80 01`` + historical bytes + TCK);
``possim doctor`` names the reader contactless and the card by its ATR.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.devices import cards
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
