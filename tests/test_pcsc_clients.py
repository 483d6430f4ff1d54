"""PC/SC clients nobody here wrote, against possim's cards in the private pcscd.

pcsc-tools' ``scriptor`` (raw APDUs) and python-emv's ``emvtool`` (PyPI ``emv``,
installed by ``make`` in a venv of its own, ``.venv/emvtool``: it pins an old
pyscard and click). Each reaches the card the way it would reach a card in a USB
reader: libpcsclite -> pcscd -> vpcd -> :class:`VirtualCard`. ``pcsc_scan`` and a
mute card are in test_pcsc_doctor.py (with ``possim card serve``).
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from pcsc_helpers import inserted

from drivers.pcsc_card_reader import PcscCardReader
from drivers.wire import iso7816 as cmd
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.pcscd import PrivatePcscd, VpcdSlot
from simulator.terminal.emv import EmvKernel, TerminalEmvConfig

pytestmark = [
    pytest.mark.system_package("pcscd"),
    pytest.mark.system_package("vpcd-config"),
    pytest.mark.system_package("pyscard", module="smartcard"),
    pytest.mark.filterwarnings("ignore:.*TripleDES"),
]

REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"
# The T=0 card of the catalogue: python-emv speaks T=0 only (emv/transmission.py).
T0_CARD = "mastercard_debit"


@pytest.fixture
def slot(private_pcscd: PrivatePcscd) -> Iterator[VpcdSlot]:
    taken = private_pcscd.acquire_slot()
    yield taken
    private_pcscd.release_slot(taken)


@pytest.fixture(scope="module")
def emvtool() -> Path:
    """python-emv's emvtool, from `make` (``.venv/emvtool``) or the PATH."""
    built = Path(sys.prefix) / "emvtool" / "bin" / "emvtool"
    found = built if built.is_file() else Path(shutil.which("emvtool") or built)
    if found.is_file():
        return found
    message = "python-emv's emvtool is not installed (`make .venv/emvtool/bin/emvtool` installs it)"
    if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
        pytest.fail(f"{message} but {REQUIRE_SYSTEM_ENV}=1 requires it", pytrace=False)
    pytest.skip(message)


# -- scriptor: raw APDUs ---------------------------------------------------------------------


def scriptor_responses(output: str) -> list[bytes]:
    """The responses in scriptor's transcript: ``< 6F 20 ... (16 a line) ... : meaning``."""
    return [
        bytes.fromhex(text.replace("\n", " "))
        for text in re.findall(r"^< (.*?) : ", output, re.MULTILINE | re.DOTALL)
    ]


@pytest.mark.system_package("scriptor")
def test_scriptor_get_response_with_a_short_le_gets_le_bytes_and_61xx(
    private_pcscd: PrivatePcscd, slot: VpcdSlot
) -> None:
    # ISO/IEC 7816-4: '61XX' -- "SW2 encodes the number of data bytes still available";
    # a GET RESPONSE asking for fewer bytes gets those and 61XX for the rest. The card
    # answered 6CXX before ("ask again for all of it").
    image = cards.load(T0_CARD)
    oracle = VirtualCard(attrs.evolve(image, protocol="T=1"))  # the FCI in one piece
    oracle.power_on()
    fci = oracle.process_apdu(cmd.select(cmd.PSE_NAME))[:-2]
    script = "\n".join(
        [cmd.select(cmd.PSE_NAME).hex(), "00C0000010", "00C0000005", "00C0000000", ""]
    )
    with inserted(private_pcscd, slot, VirtualCard(image)):
        result = subprocess.run(
            ["scriptor", "-r", slot.reader],
            input=script,
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(os.environ),  # PCSCLITE_CSOCK_NAME: the private pcscd
        )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Using T=0 protocol" in result.stdout
    select, first, second, too_long = scriptor_responses(result.stdout)
    assert select == bytes([0x61, len(fci)])
    assert first == fci[:16] + bytes([0x61, len(fci) - 16])
    assert second == fci[16:21] + bytes([0x61, len(fci) - 21])
    assert too_long == bytes([0x6C, len(fci) - 21])


# -- emvtool: an EMV reader's view of the card ------------------------------------------------


def run_emvtool(tool: Path, *args: str) -> str:
    result = subprocess.run(
        [str(tool), "--redact", *args],  # --redact: no PAN or track 2 in its output
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # terminaltables draws its boxes with DEC line-drawing: ESC ( 0 ... ESC ( B.
    return re.sub(r"\x1b\([0B]", "", result.stdout)


def reader_index(tool: Path, reader: str) -> str:
    listing = run_emvtool(tool, "readers")
    match = re.search(rf"^(\d+): {re.escape(reader)}$", listing, re.MULTILINE)
    assert match, listing
    return match.group(1)


def metadata(tool: Path, index: str) -> dict[str, int]:
    """What ``emvtool info`` reads with GET DATA: pin_retries, atc, last_online_atc."""
    text = run_emvtool(tool, "-r", index, "info")
    rows = re.findall(r"^x (pin_retries|atc|last_online_atc)\s+x (\d+)\s+x$", text, re.MULTILINE)
    return {name: int(value) for name, value in rows}


def test_emvtool_reads_the_card_and_its_atc_counts_transactions(
    private_pcscd: PrivatePcscd, slot: VpcdSlot, emvtool: Path
) -> None:
    image = cards.load(T0_CARD)
    app = image.applications[0]
    card = VirtualCard(image)
    with inserted(private_pcscd, slot, card):
        index = reader_index(emvtool, slot.reader)
        apps = run_emvtool(emvtool, "-r", index, "listapps")
        assert f'"{app.label}"' in apps
        assert " ".join(f"{byte:02X}" for byte in app.aid) in apps
        info = run_emvtool(emvtool, "-r", index, "info")
        assert image.cardholder_name in info
        assert image.pan not in info and "[REDACTED]" in info
        before = metadata(emvtool, index)
        assert before == {
            "pin_retries": image.pin_tries_left,
            "atc": image.atc,
            "last_online_atc": 0,
        }

        # emvtool marks appdata "[!]": its GET PROCESSING OPTIONS starts a transaction
        # on the card (python-emv, card.py: "Get Processing Options starts the
        # transaction on the card and increments the transaction counter").
        appdata = run_emvtool(emvtool, "-r", index, "appdata", "0")
        assert "Processing Options" in appdata and image.pan not in appdata
        assert metadata(emvtool, index)["atc"] == image.atc + 1

        # CAP: GPO, VERIFY, one GENERATE AC (an ARQC): one more transaction.
        cap = run_emvtool(emvtool, "-r", index, "-p", image.pin, "cap")
        assert cap.strip().isdigit(), cap
        assert metadata(emvtool, index)["atc"] == image.atc + 2

        # possim's terminal kernel on the same card: ARQC, then the second GENERATE AC
        # (TC) -- still one transaction, and both cryptograms carry its ATC.
        clock = VirtualClock()
        reader = PcscCardReader(slot.reader, clock=clock)
        kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(5), clock.now)
        try:
            kernel.read_card(1234)
            first = kernel.first_generate_ac()
            arc = b"00"
            arpc = app.method.generate_arpc(app.icc_master_key, first.icc_data, arc)
            second = kernel.second_generate_ac("00", arpc + arc)
        finally:
            kernel.finish()
            reader.close()
        assert second.cid == 0x40  # TC: the ARPC over the ARQC's data (and ATC) verified
        atc = metadata(emvtool, index)["atc"]
        assert atc == image.atc + 3
        assert first.atc == second.atc == atc.to_bytes(2, "big")
        assert metadata(emvtool, index)["last_online_atc"] == atc
