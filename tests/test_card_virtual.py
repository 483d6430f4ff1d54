"""The virtual EMV card, APDU by APDU."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware_fixtures
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.wire import cryptogram

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

AID = bytes.fromhex("A000000333010101")
PDOL_DATA = bytes.fromhex("0156000000001000015600")
ISSUER_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")


def sw(response: bytes) -> str:
    return response[-2:].hex().upper()


def data(response: bytes) -> bytes:
    return response[:-2]


def fresh_card(name: str = "unionpay_debit") -> VirtualCard:
    card = VirtualCard(cards.load(name))
    card.power_on()
    return card


def cdol1_data(card: VirtualCard) -> bytes:
    values = {
        "9F02": bytes.fromhex("000000001000"),
        "9F03": bytes(6),
        "9F1A": bytes.fromhex("0156"),
        "95": bytes(5),
        "5F2A": bytes.fromhex("0156"),
        "9A": bytes.fromhex("260115"),
        "9C": b"\x00",
        "9F37": bytes.fromhex("11223344"),
    }
    return tlv.build_dol_data(card.image.applications[0].cdol1, values)


def selected_card() -> VirtualCard:
    card = fresh_card()
    assert sw(card.process_apdu(cmd.select(AID))) == "9000"
    return card


def gpo_done_card() -> VirtualCard:
    card = selected_card()
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "9000"
    return card


def arqc_card() -> tuple[VirtualCard, dict[str, bytes]]:
    card = gpo_done_card()
    response = card.process_apdu(cmd.generate_ac(cmd.AC_ARQC, cdol1_data(card)))
    assert sw(response) == "9000"
    return card, tlv.decode_flat(data(response))


# -- selection -------------------------------------------------------------------------------------


def test_atr_and_pse_selection() -> None:
    card = VirtualCard(cards.load("unionpay_debit"))
    assert card.power_on() == cards.load("unionpay_debit").atr
    response = card.process_apdu(cmd.select(cmd.PSE_NAME))
    assert sw(response) == "9000"
    (fci,) = tlv.parse(data(response))
    assert fci.tag == "6F"
    assert tlv.decode_flat(data(response)) == {"84": cmd.PSE_NAME, "88": b"\x01",
                                               "5F2D": b"zhen", "9F11": b"\x01"}  # fmt: skip
    directory = card.process_apdu(cmd.read_record(1, 1))
    assert sw(directory) == "9000"
    entry = tlv.parse(data(directory))[0].find("61")
    assert entry is not None
    assert entry.find("4F") is not None and entry.find("4F").value == AID  # type: ignore[union-attr]
    assert sw(card.process_apdu(cmd.read_record(1, 2))) == "6A83"


def test_select_aid_returns_fci_with_label_priority_and_pdol() -> None:
    card = fresh_card()
    response = card.process_apdu(cmd.select(AID))
    assert sw(response) == "9000"
    fci = tlv.decode_flat(data(response))
    assert fci["84"] == AID
    assert fci["50"] == b"UnionPay Debit"
    assert fci["87"] == b"\x01"
    assert fci["9F38"] == card.image.applications[0].pdol
    assert fci["9F12"] == b"UnionPay Debit"


def test_partial_aid_selection_and_next_occurrence() -> None:
    card = fresh_card()
    partial = AID[:7]
    assert sw(card.process_apdu(cmd.select(partial))) == "9000"
    assert card.selected_aid == AID.hex().upper()
    assert sw(card.process_apdu(cmd.select(partial, next_occurrence=True))) == "6A82"


def test_unknown_aid_and_ppse_are_not_found() -> None:
    card = fresh_card()
    assert sw(card.process_apdu(cmd.select(bytes.fromhex("A0000000031010")))) == "6A82"
    assert sw(card.process_apdu(cmd.select(cmd.PPSE_NAME))) == "6A82"


# -- GPO and records -------------------------------------------------------------------------------


def test_gpo_answers_format_2_with_aip_and_afl() -> None:
    card = selected_card()
    response = card.process_apdu(cmd.get_processing_options(PDOL_DATA))
    assert sw(response) == "9000"
    assert data(response)[0] == 0x77
    tags = tlv.decode_flat(data(response))
    assert tags["82"] == bytes.fromhex("1800")
    assert tags["94"] == bytes.fromhex("0801010010010200")


def test_gpo_validates_the_pdol_data_length() -> None:
    card = selected_card()
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA[:-1]))) == "6700"
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA + b"\x00"))) == "6700"
    bad_template = bytes.fromhex("80A8000003820100")
    assert sw(card.process_apdu(bad_template)) == "6A80"
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "9000"
    # A second GPO in the same selection is refused.
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "6985"


def test_read_record_per_afl_and_missing_records() -> None:
    card = gpo_done_card()
    record = card.process_apdu(cmd.read_record(2, 1))
    assert sw(record) == "9000"
    assert tlv.decode_flat(data(record))["5A"].hex() == "6214830027183655"
    assert sw(card.process_apdu(cmd.read_record(2, 3))) == "6A83"
    assert sw(card.process_apdu(cmd.read_record(9, 1))) == "6A82"


def test_conditions_of_use() -> None:
    card = fresh_card()
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "6985"
    assert sw(card.process_apdu(cmd.read_record(2, 1))) == "6985"
    card.process_apdu(cmd.select(AID))
    assert sw(card.process_apdu(cmd.generate_ac(cmd.AC_ARQC, cdol1_data(card)))) == "6985"
    assert sw(card.process_apdu(cmd.verify_plaintext("683915"))) == "6985"


@pytest.mark.parametrize(
    ("apdu_hex", "expected"),
    [
        ("", "6700"),
        ("00", "6700"),
        ("00A404", "6700"),
        ("00A40400", "6700"),  # SELECT without a name
        ("00A404000E315041", "6700"),  # Lc says 14, 3 bytes follow
        ("FFA4040000", "6E00"),
        ("0012000000", "6D00"),
        ("80A4040007A000000333010100", "6E00"),  # SELECT with a proprietary class
        ("00A4010007A000000333010100", "6A86"),
        ("00B2000C00", "6A86"),  # record 0
        ("00B2010000", "6A86"),  # P2 without the 'record in P1' bits
        ("80AE000100", "6A86"),
        ("80CA9F4F00", "6985"),  # GET DATA before any selection
        ("00C0000000", "6985"),  # GET RESPONSE with nothing pending
    ],
)
def test_malformed_commands_get_the_right_status(apdu_hex: str, expected: str) -> None:
    card = fresh_card()
    assert sw(card.process_apdu(bytes.fromhex(apdu_hex))) == expected
    assert card.last_error is None


def test_apdu_count_counts_every_command() -> None:
    card = fresh_card()
    for apdu in (b"", cmd.select(AID), cmd.get_processing_options(PDOL_DATA)):
        card.process_apdu(apdu)
    assert card.apdu_count == 3


# -- VERIFY and GET DATA ---------------------------------------------------------------------------


def test_verify_right_wrong_and_blocked() -> None:
    card = gpo_done_card()
    assert sw(card.process_apdu(cmd.verify_plaintext("000000"))) == "63C2"
    assert sw(card.process_apdu(cmd.verify_plaintext("683915"))) == "9000"
    assert card.pin_tries_left == 3  # reset by the right PIN
    assert sw(card.process_apdu(cmd.verify_plaintext("111111"))) == "63C2"
    assert sw(card.process_apdu(cmd.verify_plaintext("111111"))) == "63C1"
    assert sw(card.process_apdu(cmd.verify_plaintext("111111"))) == "63C0"
    assert sw(card.process_apdu(cmd.verify_plaintext("683915"))) == "6983"
    tries = card.process_apdu(cmd.get_data(0x9F17))
    assert data(tries) == bytes.fromhex("9F170100")
    # The counter lives in the card's EEPROM: a power cycle does not reset it.
    card.power_on()
    card.process_apdu(cmd.select(AID))
    assert data(card.process_apdu(cmd.get_data(0x9F17))) == bytes.fromhex("9F170100")


def test_verify_rejects_malformed_blocks() -> None:
    card = gpo_done_card()
    assert sw(card.process_apdu(bytes.fromhex("0020008004241234FF"))) == "6700"
    assert sw(card.process_apdu(bytes.fromhex("002000800834123456FFFFFFFF"))) == "6A80"
    assert sw(card.process_apdu(bytes.fromhex("00200080082312345FFFFFFFFF"))) == "6A80"
    assert sw(card.process_apdu(bytes.fromhex("0020008808261234FFFFFFFFFF"))) == "6A86"
    assert card.pin_tries_left == 3


def test_get_data_atc_and_unknown_tag() -> None:
    card, _ = arqc_card()
    assert data(card.process_apdu(cmd.get_data(0x9F36))) == bytes.fromhex("9F36020001")
    assert sw(card.process_apdu(cmd.get_data(0x9F4F))) == "6A88"


def test_t0_get_response_with_a_short_le_answers_le_bytes_and_61xx() -> None:
    # ISO/IEC 7816-4: '61XX', "SW2 encodes the number of data bytes still available".
    t0 = fresh_card("mastercard_debit")
    assert t0.image.protocol == "T=0"
    t1 = VirtualCard(attrs.evolve(t0.image, protocol="T=1"))
    t1.power_on()
    fci = data(t1.process_apdu(cmd.select(cmd.PSE_NAME)))
    assert t0.process_apdu(cmd.select(cmd.PSE_NAME)) == bytes([0x61, len(fci)])
    pieces = []
    for le in (16, 16):
        answer = t0.process_apdu(bytes([0x00, 0xC0, 0x00, 0x00, le]))
        pieces.append(answer[:-2])
        assert answer[-2:] == bytes([0x61, len(fci) - 16 * len(pieces)])
    assert t0.process_apdu(bytes.fromhex("00C0000000")) == bytes([0x6C, len(fci) - 32])
    last = t0.process_apdu(bytes([0x00, 0xC0, 0x00, 0x00, len(fci) - 32]))
    assert b"".join(pieces) + last == fci + b"\x90\x00"
    assert sw(t0.process_apdu(bytes.fromhex("00C0000001"))) == "6985"  # nothing left


# -- GENERATE AC -----------------------------------------------------------------------------------


def test_first_generate_ac_answers_an_arqc_the_issuer_can_check() -> None:
    card, answer = arqc_card()
    assert answer["9F27"] == b"\x80"
    assert answer["9F36"] == b"\x00\x01"
    image = card.image
    icc_mk = cryptogram.derive_icc_master_key(ISSUER_KEY, image.pan, image.psn)
    tags = tlv.split_dol_data(image.applications[0].cdol1, cdol1_data(card))
    tags.update({"82": image.applications[0].aip, "9F36": answer["9F36"], "9F10": answer["9F10"]})
    assert cryptogram.method("emv_csk").generate_ac(icc_mk, tags) == answer["9F26"]
    # CVR: second AC not requested, first AC = ARQC.
    assert answer["9F10"][3:7] == bytes.fromhex("03A00000")


def test_tc_request_is_answered_with_an_arqc_and_aac_with_aac() -> None:
    card = gpo_done_card()
    tc = card.process_apdu(cmd.generate_ac(cmd.AC_TC, cdol1_data(card)))
    assert tlv.decode_flat(data(tc))["9F27"] == b"\x80"
    other = gpo_done_card()
    aac = other.process_apdu(cmd.generate_ac(cmd.AC_AAC, cdol1_data(other)))
    assert tlv.decode_flat(data(aac))["9F27"] == b"\x00"
    # After an AAC the transaction is over.
    assert sw(other.process_apdu(cmd.generate_ac(cmd.AC_AAC, bytes(30)))) == "6985"


def test_generate_ac_checks_the_cdol1_length() -> None:
    card = gpo_done_card()
    assert sw(card.process_apdu(cmd.generate_ac(cmd.AC_ARQC, cdol1_data(card)[:-1]))) == "6700"


def test_atc_counts_transactions_not_cryptograms() -> None:
    # EMV 4.4 Book 2: the ATC is "incremented at the start of a transaction"; VIS: GET
    # PROCESSING OPTIONS "is used by the terminal to signal the card that transaction
    # processing is beginning". The ARQC and the second AC of one transaction carry the
    # same ATC (before the fix the second AC carried 9F36 0002).
    card = selected_card()
    assert card.atc == 0
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "9000"
    assert data(card.process_apdu(cmd.get_data(0x9F36))) == bytes.fromhex("9F36020001")
    arqc = card.process_apdu(cmd.generate_ac(cmd.AC_ARQC, cdol1_data(card)))
    first = tlv.decode_flat(data(arqc))
    second = tlv.decode_flat(data(_second_ac(card, first, b"00", arpc_ok=True)))
    assert first["9F36"] == second["9F36"] == b"\x00\x01"
    assert card.atc == 1
    assert card.last_online_atc == 1
    # The TC is the issuer's to check under that same ATC.
    app = card.image.applications[0]
    tags = tlv.split_dol_data(app.cdol1, cdol1_data(card))
    tags.update(tlv.split_dol_data(app.cdol2, tlv.build_dol_data(app.cdol2, {"8A": b"00"})))
    tags.update({"82": app.aip, "9F36": b"\x00\x01", "9F10": second["9F10"]})
    icc_mk = cryptogram.derive_icc_master_key(ISSUER_KEY, card.image.pan, card.image.psn)
    assert second["9F27"] == b"\x40"
    assert cryptogram.method("emv_csk").generate_ac(icc_mk, tags) == second["9F26"]
    # The next transaction starts at the next GPO.
    assert sw(card.process_apdu(cmd.select(AID))) == "9000"
    assert card.atc == 1
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "9000"
    assert card.atc == 2


def test_a_card_whose_atc_is_exhausted_starts_no_transaction() -> None:
    card = selected_card()
    card.atc = 0xFFFF
    assert sw(card.process_apdu(cmd.get_processing_options(PDOL_DATA))) == "6985"
    assert card.atc == 0xFFFF


def _second_ac(card: VirtualCard, first: dict[str, bytes], arc: bytes, arpc_ok: bool) -> bytes:
    app = card.image.applications[0]
    tags = tlv.split_dol_data(app.cdol1, cdol1_data(card))
    tags.update(
        {"82": app.aip, "9F36": first["9F36"], "9F10": first["9F10"], "9F26": first["9F26"]}
    )
    icc_mk = cryptogram.derive_icc_master_key(ISSUER_KEY, card.image.pan, card.image.psn)
    arpc = cryptogram.method("emv_csk").generate_arpc(icc_mk, tags, arc)
    if not arpc_ok:
        arpc = bytes(b ^ 0xFF for b in arpc)
    cdol2 = tlv.build_dol_data(app.cdol2, {"8A": arc, "91": arpc + arc})
    return card.process_apdu(cmd.generate_ac(cmd.AC_TC, cdol2))


def test_second_generate_ac_tc_when_arpc_verifies() -> None:
    card, first = arqc_card()
    answer = tlv.decode_flat(data(_second_ac(card, first, b"00", arpc_ok=True)))
    assert answer["9F27"] == b"\x40"
    assert card.issuer_authentication is True
    assert answer["9F10"][4] & 0x08 == 0  # no issuer-authentication failure in the CVR


def test_second_generate_ac_aac_when_arpc_is_wrong() -> None:
    card, first = arqc_card()
    answer = tlv.decode_flat(data(_second_ac(card, first, b"00", arpc_ok=False)))
    assert answer["9F27"] == b"\x00"
    assert card.issuer_authentication is False
    assert answer["9F10"][4] & 0x08  # CVR: issuer authentication performed and failed


def test_second_generate_ac_aac_when_the_issuer_declines() -> None:
    card, first = arqc_card()
    answer = tlv.decode_flat(data(_second_ac(card, first, b"51", arpc_ok=True)))
    assert answer["9F27"] == b"\x00"
    assert card.issuer_authentication is True


# -- T=0 -------------------------------------------------------------------------------------------


def t0_card(tmp_path: Path) -> VirtualCard:
    text = firmware_fixtures.ROOT.joinpath("cards", "unionpay_debit.yaml").read_text(
        encoding="utf-8"
    )
    path = tmp_path / "t0.yaml"
    path.write_text(text.replace("protocol: T=1", "protocol: T=0"), encoding="utf-8")
    card = VirtualCard(cards.load(str(path)))
    card.power_on()
    return card


def test_t0_card_answers_61xx_and_6cxx(tmp_path: Path) -> None:
    card = t0_card(tmp_path)
    first = card.process_apdu(cmd.select(AID))
    assert first[0] == 0x61
    length = first[1]
    # A short Le gets that many bytes and 61xx for the rest; a long one, 6Cxx.
    short = card.process_apdu(bytes([0, 0xC0, 0, 0, length - 1]))
    assert sw(short) == "6101" and len(data(short)) == length - 1
    assert sw(card.process_apdu(bytes([0, 0xC0, 0, 0, 2]))) == "6C01"
    rest = card.process_apdu(bytes([0, 0xC0, 0, 0, 1]))
    assert sw(rest) == "9000" and len(data(rest)) == 1
    card.process_apdu(cmd.get_processing_options(PDOL_DATA))
    record = card.process_apdu(cmd.read_record(2, 1))  # Le 00: the card says how many
    assert record[0] == 0x6C


# -- robustness ------------------------------------------------------------------------------------

_STATES: dict[str, Callable[[], VirtualCard]] = {
    "powered": fresh_card,
    "selected": selected_card,
    "after GPO": gpo_done_card,
    "after ARQC": lambda: arqc_card()[0],
}
_HEADERS = [
    bytes.fromhex(h)
    for h in ("00A40400", "00A40402", "80A80000", "00B2010C", "00B20214", "00200080",
              "80CA9F17", "80AE8000", "80AE4000", "00820000", "00C00000")
]  # fmt: skip


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(state=st.sampled_from(sorted(_STATES)), apdu=st.binary(max_size=64))
def test_random_bytes_never_raise(state: str, apdu: bytes) -> None:
    card = _STATES[state]()
    response = card.process_apdu(apdu)
    assert len(response) >= 2
    assert card.last_error is None, card.last_error


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    state=st.sampled_from(sorted(_STATES)),
    header=st.sampled_from(_HEADERS),
    body=st.binary(max_size=60),
)
def test_known_commands_with_random_bodies_never_raise(
    state: str, header: bytes, body: bytes
) -> None:
    card = _STATES[state]()
    response = card.process_apdu(header + body)
    assert len(response) >= 2
    assert card.last_error is None, card.last_error
