"""APDU naming and the redaction traces rely on."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.emv_tags import describe, tag_name
from drivers.wire.iso7816 import (
    ApduFormatError,
    CommandApdu,
    command_name,
    describe_command,
    redact_command,
    redact_response,
    status_text,
)
from simulator.devices import cards

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

PAN = "6214830027183655"


@pytest.mark.parametrize(
    ("apdu", "name"),
    [
        (cmd.select(cmd.PSE_NAME), "SELECT"),
        (cmd.get_processing_options(b""), "GET PROCESSING OPTIONS"),
        (cmd.read_record(1, 1), "READ RECORD"),
        (cmd.verify_plaintext("1234"), "VERIFY"),
        (cmd.generate_ac(cmd.AC_ARQC, b"\x00"), "GENERATE AC"),
        (cmd.get_data(0x9F17), "GET DATA"),
        (bytes.fromhex("00C0000010"), "GET RESPONSE"),
        (cmd.external_authenticate(bytes(10)), "EXTERNAL AUTHENTICATE"),
        (bytes.fromhex("0012000000"), "INS 12"),
        (b"\x00", "MALFORMED APDU"),
    ],
)
def test_command_name(apdu: bytes, name: str) -> None:
    assert command_name(apdu) == name


def test_describe_command_and_status_text() -> None:
    assert describe_command(cmd.select(cmd.PSE_NAME)) == "SELECT 1PAY.SYS.DDF01"
    assert describe_command(cmd.read_record(2, 1)) == "READ RECORD SFI 2 record 1"
    assert describe_command(cmd.generate_ac(cmd.AC_ARQC, b"\x01")) == "GENERATE AC (ARQC)"
    assert describe_command(cmd.verify_plaintext("683915")) == "VERIFY (plaintext PIN)"
    assert status_text(0x63C2) == "verification failed, 2 tries left"
    assert status_text(0x6983).startswith("authentication method blocked")
    assert tag_name("9F26") == "Application Cryptogram"
    assert describe("5a") == "5A (Application PAN)"
    assert tag_name("DF7F") == "tag DF7F"


def test_command_apdu_cases() -> None:
    assert CommandApdu.parse(bytes.fromhex("00B2010C00")) == CommandApdu(0, 0xB2, 1, 0x0C, le=0)
    case4 = CommandApdu.parse(cmd.select(b"\xa0\x00\x00\x03\x33"))
    assert case4.data == bytes.fromhex("A000000333") and case4.le == 0
    assert case4.encode() == cmd.select(b"\xa0\x00\x00\x03\x33")
    with pytest.raises(ApduFormatError):
        CommandApdu.parse(bytes.fromhex("00A4040005A000"))


def test_pin_block_format() -> None:
    assert cmd.plaintext_pin_block("683915").hex().upper() == "26683915FFFFFFFF"
    assert cmd.plaintext_pin_block("123456789012").hex().upper() == "2C123456789012FF"
    with pytest.raises(ValueError):
        cmd.plaintext_pin_block("12a4")


@given(st.text(alphabet="0123456789", min_size=4, max_size=12))
def test_redact_command_of_verify_hides_the_pin(pin: str) -> None:
    apdu = cmd.verify_plaintext(pin)
    redacted = redact_command(apdu)
    assert redacted[:10] == "0020008008"
    assert set(redacted[10:]) == {"*"}
    assert len(redacted) == 2 * len(apdu)
    assert cmd.plaintext_pin_block(pin).hex().upper() not in redacted
    assert apdu[5:].hex().upper() not in redacted


def test_redact_command_hides_the_known_pin_and_malformed_verify() -> None:
    assert "683915" not in redact_command(cmd.verify_plaintext("683915"))
    assert "683915" not in redact_command(bytes.fromhex("002000800826683915FF"))
    assert "1234" not in redact_command(bytes.fromhex("8024000008241234FFFFFFFFFF"))
    # Other commands are shown as they are.
    assert redact_command(cmd.read_record(1, 1)) == "00B2010C00"


def _record(sfi: int, number: int) -> bytes:
    return cards.load("unionpay_debit").applications[0].records[(sfi, number)]


def test_redact_response_masks_pan_track2_and_name() -> None:
    record = _record(1, 1) + b"\x90\x00"
    redacted = redact_response(cmd.read_record(1, 1), record)
    assert PAN not in redacted
    assert "621483******3655" in redacted
    assert "ZHANG" not in redacted and b"ZHANG/SAN".hex().upper() not in redacted
    assert redacted.endswith("9000")
    # track 2: the masked PAN, then only asterisks up to the next tag (5F20)
    track2 = redacted[redacted.index("5712") + 4 : redacted.index("5F20")]
    assert track2.startswith("621483******3655D")
    assert set(track2[17:]) == {"*"}


def test_redact_response_of_the_pan_record() -> None:
    redacted = redact_response(cmd.read_record(2, 1), _record(2, 1) + b"\x90\x00")
    assert PAN not in redacted
    assert "5A08621483******3655" in redacted
    assert "5F2403301231" in redacted  # non-sensitive data stays readable


def test_redact_response_keeps_ordinary_responses() -> None:
    gpo = bytes.fromhex("770E82021800940808010100100102009000")
    assert redact_response(cmd.get_processing_options(b""), gpo) == gpo.hex().upper()
    assert redact_response(cmd.verify_plaintext("1234"), b"\x63\xc2") == "63C2"


def test_unparseable_response_with_a_pan_like_run_is_redacted() -> None:
    junk_with_pan = bytes.fromhex("FF" + PAN + "01") + b"\x90\x00"
    assert redact_response(cmd.read_record(1, 1), junk_with_pan) == "[REDACTED]9000"
    junk = bytes.fromhex("FFAB0102") + b"\x90\x00"
    assert redact_response(cmd.read_record(1, 1), junk) == "FFAB01029000"


def test_proprietary_tag_with_a_pan_like_value_is_hidden() -> None:
    response = tlv.pack("70", tlv.pack("DF01", bytes.fromhex(PAN))) + b"\x90\x00"
    redacted = redact_response(cmd.read_record(1, 1), response)
    assert PAN not in redacted


@given(st.binary(max_size=80))
def test_redaction_never_raises(raw: bytes) -> None:
    redact_command(raw)
    out = redact_response(cmd.read_record(1, 1), raw)
    assert isinstance(out, str)
