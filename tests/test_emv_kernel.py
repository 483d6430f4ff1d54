"""The terminal's EMV kernel against the in-process reader and the virtual card."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import firmware_fixtures
from drivers.errors import CardProtocolError, CardRemoved, PinEntryCancelled
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_reader import SimCardReader
from simulator.terminal.emv import (
    DE55_TAGS,
    AidEntry,
    CardBlocked,
    CvmOutcome,
    EmvError,
    EmvKernel,
    EmvProtocolError,
    EmvSequenceError,
    FirstAc,
    NoApplication,
    PinRequest,
    TerminalEmvConfig,
)
from simulator.wire import cryptogram

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

ISSUER_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
PIN = "683915"
UNIONPAY = firmware_fixtures.ROOT.joinpath("cards", "unionpay_debit.yaml")


class RecordingReader(SimCardReader):
    """Keeps every raw exchange (command, response) for assertions."""

    def __init__(self, clock: VirtualClock) -> None:
        super().__init__(clock, name="test reader")
        self.exchanges: list[tuple[bytes, bytes]] = []

    def _transmit_raw(self, apdu: bytes) -> bytes:
        response = super()._transmit_raw(apdu)
        self.exchanges.append((apdu, response))
        return response

    def status_words(self, ins: int) -> list[str]:
        return [r[-2:].hex().upper() for a, r in self.exchanges if len(a) > 1 and a[1] == ins]


class Setup:
    def __init__(self, image: str | Path = "unionpay_debit", seed: int = 7, **config: Any) -> None:
        self.clock = VirtualClock()
        self.reader = RecordingReader(self.clock)
        self.card = VirtualCard(cards.load(str(image)))
        self.reader.insert(self.card)
        self.kernel = EmvKernel(
            self.reader,
            TerminalEmvConfig(**config),
            random.Random(seed),
            self.clock.now,
        )
        self.pin_requests: list[PinRequest] = []

    def pins(self, *pins: str) -> Callable[[PinRequest], str]:
        supply: Iterator[str] = iter(pins)

        def source(request: PinRequest) -> str:
            self.pin_requests.append(request)
            return next(supply)

        return source

    def icc_mk(self) -> bytes:
        return cryptogram.derive_icc_master_key(
            ISSUER_KEY, self.card.image.pan, self.card.image.psn
        )

    def to_first_ac(self, *pins: str) -> FirstAc:
        self.kernel.read_card(1000)
        self.kernel.verify_cardholder(self.pins(*(pins or (PIN,))))
        return self.kernel.first_generate_ac()

    def arpc_data(self, first: FirstAc, response_code: str = "00") -> bytes:
        arc = response_code.encode("ascii")
        arpc = cryptogram.method("emv_csk").generate_arpc(self.icc_mk(), first.icc_data, arc)
        return arpc + arc


def image_variant(tmp_path: Path, *replacements: tuple[str, str], name: str = "variant") -> Path:
    text = UNIONPAY.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def two_application_card(tmp_path: Path, pse: bool) -> Path:
    """The UnionPay image with a second (credit) application of higher priority."""
    text = UNIONPAY.read_text(encoding="utf-8")
    head, app = text.split("applications:\n")
    credit = (
        app.replace("A000000333010101", "A000000333010102")
        .replace("UnionPay Debit", "UnionPay Credit")
        .replace("priority: 1", "priority: 2")
    )
    debit = app.replace("priority: 1", "priority: 3")
    text = head + "applications:\n" + debit + credit
    if not pse:
        text = text.replace("pse: true", "pse: false")
    path = tmp_path / "two_apps.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- reading the card ------------------------------------------------------------------------------


def test_read_card_returns_the_card_data() -> None:
    setup = Setup()
    card = setup.kernel.read_card(12345)
    assert card.aid == "A000000333010101"
    assert card.label == "UnionPay Debit"
    assert card.pan == "6214830027183655"
    assert card.masked_pan == "621483******3655"
    assert card.expiry == "3012"
    assert card.psn == "01"
    assert card.service_code == "220"
    assert card.cardholder_name == "ZHANG/SAN"
    assert card.track2.startswith("6214830027183655=3012220")
    text = repr(card)
    assert card.pan not in text and card.track2 not in text and "ZHANG" not in text
    # Selection went through the PSE.
    first_select = setup.reader.exchanges[0][0]
    assert first_select == cmd.select(cmd.PSE_NAME)
    # Offline data authentication is not performed; floor limit 0 is exceeded.
    assert setup.kernel.tvr == bytes.fromhex("8000008000")
    assert setup.kernel.tsi == bytes.fromhex("0800")


def test_pse_absent_falls_back_to_the_aid_list(tmp_path: Path) -> None:
    setup = Setup(image_variant(tmp_path, ("pse: true", "pse: false")))
    card = setup.kernel.read_card(100)
    assert card.aid == "A000000333010101"
    assert setup.reader.status_words(cmd.INS_SELECT)[0] == "6A82"
    selected = [a[5:-1].hex().upper() for a, _ in setup.reader.exchanges if a[1] == cmd.INS_SELECT]
    assert selected[1] == "A000000333010101"


def test_highest_priority_application_is_chosen_via_pse(tmp_path: Path) -> None:
    setup = Setup(two_application_card(tmp_path, pse=True))
    assert setup.kernel.read_card(100).aid == "A000000333010102"


def test_partial_aid_selection_finds_every_occurrence(tmp_path: Path) -> None:
    setup = Setup(two_application_card(tmp_path, pse=False), aids=(AidEntry("A0000003330101"),))
    card = setup.kernel.read_card(100)
    assert card.aid == "A000000333010102"  # priority 2 beats priority 3
    selects = [a for a, _ in setup.reader.exchanges if a[1] == cmd.INS_SELECT]
    assert any(a[3] == 0x02 for a in selects), "SELECT next occurrence was not used"


def test_no_matching_application(tmp_path: Path) -> None:
    setup = Setup(aids=(AidEntry("A0000000031010"),))
    with pytest.raises(NoApplication, match="A0000000031010"):
        setup.kernel.read_card(100)


def test_blocked_application(tmp_path: Path) -> None:
    path = image_variant(tmp_path, ("    priority: 1\n", "    priority: 1\n    blocked: true\n"))
    with pytest.raises(CardBlocked, match="A000000333010101"):
        Setup(path).kernel.read_card(100)


def test_blocked_card(tmp_path: Path) -> None:
    path = image_variant(tmp_path, ("pse: true", "pse: true\nblocked: true"))
    with pytest.raises(CardBlocked, match="6A81"):
        Setup(path).kernel.read_card(100)


def test_expired_card_sets_the_tvr_bit(tmp_path: Path) -> None:
    setup = Setup(image_variant(tmp_path, ('expiry: "3012"', 'expiry: "2412"')))
    setup.kernel.read_card(100)
    assert setup.kernel.tvr[1] & 0x40


def test_t0_card_goes_through_get_response(tmp_path: Path) -> None:
    setup = Setup(image_variant(tmp_path, ("protocol: T=1", "protocol: T=0")))
    first = setup.to_first_ac()
    assert first.kind == "ARQC"
    names = [cmd.command_name(a) for a, _ in setup.reader.exchanges]
    assert "GET RESPONSE" in names
    assert any(r[0] == 0x6C for _, r in setup.reader.exchanges if len(r) == 2)


# -- cardholder verification -----------------------------------------------------------------------


def test_offline_pin_right_first_time() -> None:
    setup = Setup()
    setup.kernel.read_card(1000)
    result = setup.kernel.verify_cardholder(setup.pins(PIN))
    assert result.outcome is CvmOutcome.OFFLINE_PIN
    assert setup.pin_requests == [PinRequest(tries_left=3, retry=False)]
    assert setup.reader.status_words(cmd.INS_VERIFY) == ["9000"]
    assert setup.kernel.cvm_results == bytes.fromhex("410302")
    assert setup.kernel.tsi[0] & 0x40  # cardholder verification performed
    assert setup.kernel.tvr[2] == 0


def test_wrong_pin_then_right() -> None:
    setup = Setup()
    setup.kernel.read_card(1000)
    result = setup.kernel.verify_cardholder(setup.pins("000000", PIN))
    assert result.outcome is CvmOutcome.OFFLINE_PIN
    assert setup.reader.status_words(cmd.INS_VERIFY) == ["63C2", "9000"]
    assert setup.pin_requests == [
        PinRequest(tries_left=3, retry=False),
        PinRequest(tries_left=2, retry=True),
    ]
    assert setup.card.pin_tries_left == 3  # the right PIN reset the counter


def test_three_wrong_pins_block_the_pin_and_fall_to_signature() -> None:
    setup = Setup()
    setup.kernel.read_card(1000)
    result = setup.kernel.verify_cardholder(setup.pins("111111", "222222", "333333"))
    assert setup.reader.status_words(cmd.INS_VERIFY) == ["63C2", "63C1", "63C0"]
    assert result.outcome is CvmOutcome.SIGNATURE
    assert result.signature_required
    assert setup.kernel.tvr[2] & 0x20  # PIN try limit exceeded
    assert not setup.kernel.tvr[2] & 0x80  # verification still succeeded (signature)
    assert setup.kernel.cvm_results == bytes.fromhex("5E0300")
    # The PIN is now blocked: even the right PIN gets 6983.
    assert setup.reader.transmit(cmd.verify_plaintext(PIN)).sw == 0x6983


def test_blocked_pin_is_not_asked_for_next_time() -> None:
    setup = Setup()
    setup.card.pin_tries_left = 0
    setup.kernel.read_card(1000)
    result = setup.kernel.verify_cardholder(setup.pins())
    assert result.outcome is CvmOutcome.SIGNATURE
    assert setup.pin_requests == []
    assert setup.kernel.tvr[2] & 0x20


def test_pin_bypass_falls_to_signature() -> None:
    setup = Setup()
    setup.kernel.read_card(1000)
    assert setup.kernel.verify_cardholder(setup.pins("")).outcome is CvmOutcome.SIGNATURE
    assert setup.kernel.tvr[2] & 0x08  # PIN entry required, PIN pad present, not entered


def test_without_plaintext_pin_support_the_terminal_takes_a_signature() -> None:
    setup = Setup(capabilities="E068C8")  # online PIN, signature, no CVM; no offline PIN
    setup.kernel.read_card(1000)
    assert setup.kernel.verify_cardholder(setup.pins()).outcome is CvmOutcome.SIGNATURE
    assert setup.pin_requests == []


def test_cvm_fails_when_nothing_applies() -> None:
    setup = Setup(capabilities="E00000")  # no CVM capability at all
    setup.kernel.read_card(1000)
    assert setup.kernel.verify_cardholder(setup.pins()).outcome is CvmOutcome.FAILED
    assert setup.kernel.tvr[2] & 0x80  # cardholder verification was not successful
    assert setup.kernel.cvm_results[2] == 0x01


def test_online_pin_is_returned_for_the_caller(tmp_path: Path) -> None:
    path = image_variant(
        tmp_path, ("cvm_list: 00000000 00000000 4103 5E03 1F00", "cvm_list: 00000000 00000000 0200")
    )
    setup = Setup(path)
    setup.kernel.read_card(1000)
    result = setup.kernel.verify_cardholder(setup.pins("1234"))
    assert result.outcome is CvmOutcome.ONLINE_PIN
    assert result.online_pin == "1234"
    assert "1234" not in repr(result)
    assert setup.pin_requests == [PinRequest(tries_left=None, retry=False, online=True)]
    assert setup.kernel.tvr[2] & 0x04  # online PIN entered


def test_pin_entry_cancelled_propagates() -> None:
    setup = Setup()
    setup.kernel.read_card(1000)

    def cancel(request: PinRequest) -> str:
        raise PinEntryCancelled("cancel pressed")

    with pytest.raises(PinEntryCancelled):
        setup.kernel.verify_cardholder(cancel)


# -- GENERATE AC -----------------------------------------------------------------------------------


def test_first_generate_ac_is_an_arqc_the_issuer_recomputes() -> None:
    setup = Setup()
    first = setup.to_first_ac()
    assert first.cid == 0x80
    assert list(first.icc_data) == [tag for tag in DE55_TAGS if tag in first.icc_data]
    assert set(DE55_TAGS) <= set(first.icc_data)
    assert first.icc_data["9F26"] == first.cryptogram
    assert first.icc_data["9F36"] == first.atc == b"\x00\x01"
    assert first.icc_data["9F02"] == bytes.fromhex("000000001000")
    assert first.icc_data["9A"] == bytes.fromhex("260115")  # the virtual clock's date
    assert first.icc_data["84"] == bytes.fromhex("A000000333010101")
    assert first.icc_data["9F34"] == bytes.fromhex("410302")
    issuer = cryptogram.method("emv_csk")
    expected = issuer.generate_ac(setup.icc_mk(), first.icc_data)
    assert expected == first.cryptogram
    # The CVR in the IAD reports an ARQC after a successful offline PIN.
    assert first.icc_data["9F10"][3:7] == bytes.fromhex("03A40000")
    # DE55 round-trips through TLV the way the acquiring app sends it.
    assert tlv.decode_flat(tlv.encode(first.icc_data)) == first.icc_data


def test_the_gateway_issuer_directory_accepts_the_arqc() -> None:
    from simulator.gateway.issuers import IssuerDirectory

    setup = Setup()
    first = setup.to_first_ac()
    issuer = IssuerDirectory.load().lookup(setup.card.image.pan)
    assert issuer is not None
    icc_mk = issuer.icc_master_key(setup.card.image.pan, setup.card.image.psn)
    assert issuer.method.generate_ac(icc_mk, first.icc_data) == first.cryptogram


def test_second_generate_ac_with_a_correct_arpc_is_a_tc() -> None:
    setup = Setup()
    first = setup.to_first_ac()
    second = setup.kernel.second_generate_ac("00", setup.arpc_data(first))
    assert second.approved
    assert second.kind == "TC"
    assert second.issuer_authentication is True
    assert setup.card.issuer_authentication is True
    assert setup.kernel.tsi[0] & 0x10  # issuer authentication performed
    assert not setup.kernel.tvr[4] & 0x40


def test_second_generate_ac_with_a_wrong_arpc_is_an_aac() -> None:
    setup = Setup()
    first = setup.to_first_ac()
    good = setup.arpc_data(first)
    bad = bytes([good[0] ^ 0x01]) + good[1:]
    second = setup.kernel.second_generate_ac("00", bad)
    assert not second.approved
    assert second.kind == "AAC"
    assert second.issuer_authentication is False
    assert setup.kernel.tvr[4] & 0x40  # issuer authentication failed


def test_unable_to_go_online_is_an_aac() -> None:
    setup = Setup()
    setup.to_first_ac()
    second = setup.kernel.second_generate_ac(None, None)
    assert not second.approved
    assert second.issuer_authentication is None
    generate_acs = [a for a, _ in setup.reader.exchanges if a[1] == cmd.INS_GENERATE_AC]
    assert generate_acs[-1][2] == cmd.AC_AAC
    assert b"Z3" in generate_acs[-1]
    assert setup.card.cvr[0] & 0x01  # CVR: unable to go online


def test_issuer_decline_is_an_aac() -> None:
    setup = Setup()
    first = setup.to_first_ac()
    second = setup.kernel.second_generate_ac("51", setup.arpc_data(first, "51"))
    assert not second.approved
    assert second.issuer_authentication is True


def test_the_same_seed_gives_the_same_transaction() -> None:
    one, two = Setup(seed=42), Setup(seed=42)
    assert one.to_first_ac().icc_data == two.to_first_ac().icc_data
    other = Setup(seed=43).to_first_ac()
    assert other.icc_data["9F37"] != Setup(seed=42).to_first_ac().icc_data["9F37"]


def test_methods_out_of_order_raise_sequence_errors() -> None:
    setup = Setup()
    with pytest.raises(EmvSequenceError):
        setup.kernel.first_generate_ac()
    with pytest.raises(EmvSequenceError):
        setup.kernel.second_generate_ac("00", None)
    setup.kernel.read_card(100)
    with pytest.raises(EmvSequenceError):
        setup.kernel.read_card(100)


def test_finish_powers_the_card_down_and_is_idempotent() -> None:
    setup = Setup()
    setup.kernel.read_card(100)
    setup.kernel.finish()
    assert not setup.card.powered
    setup.kernel.finish()
    Setup().kernel.finish()  # never connected: nothing to do


def test_card_pulled_mid_transaction_is_card_removed() -> None:
    setup = Setup()
    setup.kernel.read_card(100)
    setup.reader.remove()
    with pytest.raises(CardRemoved):
        setup.kernel.verify_cardholder(setup.pins(PIN))
    setup.kernel.finish()


# -- a card that answers junk ----------------------------------------------------------------------


class JunkReader(RecordingReader):
    """Replaces the card's answer to the n-th command with ``INS`` by ``junk``."""

    def __init__(self, clock: VirtualClock, ins: int, junk: bytes, nth: int = 1) -> None:
        super().__init__(clock)
        self.ins, self.junk, self.nth, self.seen = ins, junk, nth, 0

    def _transmit_raw(self, apdu: bytes) -> bytes:
        response = super()._transmit_raw(apdu)
        if len(apdu) > 1 and apdu[1] == self.ins:
            self.seen += 1
            if self.seen == self.nth:
                return self.junk
        return response


def run_with_junk(ins: int, junk: bytes, nth: int = 1) -> None:
    clock = VirtualClock()
    reader = JunkReader(clock, ins, junk, nth)
    reader.insert(VirtualCard(cards.load("unionpay_debit")))
    kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)
    try:
        kernel.read_card(100)
        kernel.verify_cardholder(lambda request: PIN)
        first = kernel.first_generate_ac()
        if first.kind == "ARQC":
            kernel.second_generate_ac("00", None)
    finally:
        kernel.finish()


P = tlv.pack
OK = b"\x90\x00"
GOOD_AIP = P("82", b"\x18\x00")


@pytest.mark.parametrize(
    ("ins", "junk", "nth", "message"),
    [
        (cmd.INS_SELECT, bytes.fromhex("6F05840E315041") + OK, 1, "PSE's FCI is not valid TLV"),
        (cmd.INS_SELECT, P("9F38", b"") + OK, 1, "PSE's FCI should be one"),
        (cmd.INS_SELECT, P("6F", P("A5", P("50", b""))) + OK, 1, "no valid SFI"),
        (cmd.INS_READ_RECORD, P("70", P("61", P("50", b"\x00"))) + OK, 1, "no valid ADF name"),
        (cmd.INS_SELECT, P("6F", P("A5", P("50", b"X"))) + OK, 2, "has no DF name"),
        (cmd.INS_GET_PROCESSING_OPTIONS, bytes.fromhex("7705820118") + OK, 1, "not valid TLV"),
        (cmd.INS_GET_PROCESSING_OPTIONS, P("77", GOOD_AIP) + OK, 1, "lacks AIP .82. or AFL"),
        (cmd.INS_GET_PROCESSING_OPTIONS, P("80", bytes.fromhex("180008")) + OK, 1, "format 1"),
        (cmd.INS_GET_PROCESSING_OPTIONS, P("94", b"") + OK, 1, "starts with tag 94"),
        (
            cmd.INS_GET_PROCESSING_OPTIONS,
            P("77", GOOD_AIP + P("94", b"")) + OK,
            1,
            "AFL .94. .empty.",
        ),
        (cmd.INS_GET_PROCESSING_OPTIONS, b"\x6a\x80", 1, "GET PROCESSING OPTIONS .* 6A80"),
        (
            cmd.INS_GET_PROCESSING_OPTIONS,
            P("77", GOOD_AIP + P("94", bytes.fromhex("00010100"))) + OK,
            1,
            "AFL entry 00010100 is invalid",
        ),
        (
            cmd.INS_GET_PROCESSING_OPTIONS,
            P("77", GOOD_AIP + P("94", bytes.fromhex("08010103"))) + OK,
            1,
            "more ODA records",
        ),
        (cmd.INS_READ_RECORD, bytes.fromhex("70FF") + OK, 3, "record 1 of SFI 1 is not valid TLV"),
        (cmd.INS_READ_RECORD, b"\x6a\x83", 3, "READ RECORD SFI 1 record 1"),
        (cmd.INS_READ_RECORD, P("70", P("9F08", b"\x00\x30")) + OK, 4, "lack mandatory data"),
        (
            cmd.INS_READ_RECORD,
            P("70", P("5A", bytes.fromhex("6214830027183655")) + P("5F20", b"AB")) + OK,
            4,
            "record 1 of SFI 2 repeats 5F20",
        ),
        (cmd.INS_READ_RECORD, P("71", b"") + OK, 3, "should be one 70"),
        (cmd.INS_GENERATE_AC, bytes.fromhex("77059F270180") + OK, 1, "not valid TLV"),
        (cmd.INS_GENERATE_AC, P("77", P("9F27", b"\x80")) + OK, 1, "lacks"),
        (cmd.INS_GENERATE_AC, P("80", bytes(5)) + OK, 1, "format 1"),
        (cmd.INS_GENERATE_AC, b"\x69\x85", 1, "refused the first GENERATE AC"),
        (
            cmd.INS_GENERATE_AC,
            P("80", bytes.fromhex("400001") + bytes(8)) + OK,
            1,
            "may only lower",
        ),
        (
            cmd.INS_GENERATE_AC,
            P("77", P("9F27", b"\x80") + P("9F36", b"\x01") + P("9F26", bytes(8))) + OK,
            1,
            "malformed CID",
        ),
    ],
)
def test_junk_from_the_card_raises_a_typed_error(
    ins: int, junk: bytes, nth: int, message: str
) -> None:
    with pytest.raises(EmvProtocolError, match=message):
        run_with_junk(ins, junk, nth)


@settings(max_examples=250, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    position=st.integers(min_value=0, max_value=14),
    junk=st.one_of(
        st.binary(max_size=40).map(lambda b: b + b"\x90\x00"),
        st.binary(min_size=2, max_size=40),
    ),
)
def test_any_junk_answer_is_a_typed_error_or_harmless(position: int, junk: bytes) -> None:
    clock = VirtualClock()

    class AtPosition(RecordingReader):
        def _transmit_raw(self, apdu: bytes) -> bytes:
            response = super()._transmit_raw(apdu)
            return junk if len(self.exchanges) - 1 == position else response

    reader = AtPosition(clock)
    reader.insert(VirtualCard(cards.load("unionpay_debit")))
    kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)
    try:
        kernel.read_card(100)
        kernel.verify_cardholder(lambda request: PIN)
        first = kernel.first_generate_ac()
        if first.kind == "ARQC":
            kernel.second_generate_ac("00", None)
    except (EmvError, CardProtocolError):
        pass
    finally:
        kernel.finish()
