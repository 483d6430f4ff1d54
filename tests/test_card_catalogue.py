"""The card catalogue (firmware_fixtures/cards/): every card loads, is consistent with
the gateway's issuers, and behaves -- APDU by APDU and through the EMV kernel -- the way
its header comment says a purchase with it goes."""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import psec.pin
import pytest

import firmware_fixtures
from drivers.card_reader import GET_RESPONSE, CardInterface, CardPresented
from drivers.errors import CardProtocolError, EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_image import Application, CardImage, luhn_valid
from simulator.devices.card_image_yaml import CHIP_FIELDS
from simulator.devices.card_reader import SimCardReader
from simulator.errors import FixtureError
from simulator.gateway.issuers import Issuer, IssuerDirectory
from simulator.terminal.emv import (
    AidEntry,
    CvmOutcome,
    EmvError,
    EmvKernel,
    EmvProtocolError,
    FirstAc,
    PinRequest,
    TerminalEmvConfig,
)

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

# TVR bits (EMV Book 3 Annex C5): (byte index, mask).
TVR_EXPIRED = (1, 0x40)
TVR_CV_NOT_SUCCESSFUL = (2, 0x80)
TVR_PIN_TRY_LIMIT_EXCEEDED = (2, 0x20)

CARDS_DIR = firmware_fixtures.ROOT.joinpath("cards")
CATALOGUE = sorted(path.stem for path in CARDS_DIR.glob("*.yaml"))

# name -> (BIN, AIDs, PIN): what the catalogue promises (README / docs/cards.md).
EXPECTED: dict[str, tuple[str, tuple[str, ...], str]] = {
    "unionpay_debit": ("621483", ("A000000333010101",), "683915"),
    "unionpay_credit": ("622588", ("A000000333010102",), "402718"),
    "visa_credit": ("476173", ("A0000000031010",), "3579"),
    "mastercard_debit": ("545454", ("A0000000041010",), "7391"),
    "magstripe_only": ("621483", (), "271828"),
    "expired": ("621483", ("A000000333010101",), "159753"),
    "pin_blocked": ("621483", ("A000000333010101",), "112358"),
    "wrong_arqc_key": ("621483", ("A000000333010101",), "314159"),
    "garbage_gpo": ("621483", ("A000000333010101",), "161803"),
    "unionpay_dual_app": ("621483", ("A000000333010103", "A000000333010101"), "577215"),
}
ONLINE_PIN_CARDS = ("unionpay_credit", "visa_credit", "mastercard_debit")
# Cards a purchase takes all the way to an approval (ARQC verified, ARPC, TC).
APPROVED_CARDS = ("unionpay_debit", "unionpay_credit", "visa_credit", "mastercard_debit")
# Cards with a chip behind contacts (a phone wallet or a contactless-only card has
# none: tests/test_contactless.py checks those through the reader's field).
CHIP_CARDS = [name for name in CATALOGUE if cards.load(name).chip and cards.load(name).contact]


@pytest.fixture(scope="module")
def issuers() -> IssuerDirectory:
    return IssuerDirectory.load()


def issuer_of(issuers: IssuerDirectory, image: CardImage) -> Issuer:
    issuer = issuers.lookup(image.pan)
    assert issuer is not None, f"{image.name}: no issuer in issuers.yaml for BIN {image.pan[:6]}"
    return issuer


def ibm3624_offset(pvk: bytes, pin: str, pan: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        offset: str = psec.pin.generate_ibm3624_offset(
            pvk, "0123456789012345", pin, pan, len(pan) - 13, 12, "F"
        )
    return offset


# -- the catalogue as data -----------------------------------------------------------------------


def test_the_catalogue_holds_the_promised_cards() -> None:
    assert set(EXPECTED) <= set(CATALOGUE)
    assert set(EXPECTED) <= set(cards.names())


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_card_loads_and_is_named_after_its_file(name: str) -> None:
    image = cards.load(name)
    assert image.name == name
    assert image.source == CARDS_DIR / f"{name}.yaml"


@pytest.mark.parametrize("name", CATALOGUE)
def test_every_card_file_says_what_it_is_for_and_that_its_keys_are_test_keys(name: str) -> None:
    header = (CARDS_DIR / f"{name}.yaml").read_text(encoding="utf-8").split("\nname:")[0]
    assert header.startswith("# possim card image")
    flat = " ".join(line.lstrip("#").strip() for line in header.splitlines())
    assert "What a purchase does:" in flat
    assert "test data" in flat and "never put a real card" in flat


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bin_aids_and_pin_are_the_promised_ones(name: str) -> None:
    image = cards.load(name)
    bin_, aids, pin = EXPECTED[name]
    assert image.pan.startswith(bin_)
    assert tuple(app.aid_hex for app in image.applications) == aids
    assert image.pin == pin


def test_pans_are_luhn_valid_and_unique() -> None:
    pans = [cards.load(name).pan for name in CATALOGUE]
    assert all(luhn_valid(pan) for pan in pans)
    assert len(set(pans)) == len(pans)


@pytest.mark.parametrize("name", CATALOGUE)
def test_pan_belongs_to_an_issuer_of_the_gateway(name: str, issuers: IssuerDirectory) -> None:
    image = cards.load(name)
    issuer = issuer_of(issuers, image)
    assert image.pan.startswith(issuer.prefix)


@pytest.mark.parametrize("name", CATALOGUE)
def test_track2_discretionary_data_starts_with_the_ibm3624_pin_offset(
    name: str, issuers: IssuerDirectory
) -> None:
    image = cards.load(name)
    issuer = issuer_of(issuers, image)
    assert issuer.pvk is not None, f"issuer {issuer.prefix} has no pvk in issuers.yaml"
    offset = ibm3624_offset(issuer.pvk, image.pin, image.pan)
    assert len(offset) == len(image.pin)
    assert image.track2_discretionary.startswith(offset)
    assert len(image.track2) <= 37
    prefix = f"{image.pan}={image.expiry}{image.service_code}"
    assert image.track2 == prefix + image.track2_discretionary


@pytest.mark.parametrize("name", CATALOGUE)
def test_service_code_matches_the_chip(name: str) -> None:
    image = cards.load(name)
    if image.chip:
        assert image.service_code[0] in "26", "a chip card's service code is 2xx or 6xx"
        assert len(image.atr) >= 2
    else:
        assert image.service_code[0] in "15", "a magstripe-only card's service code is 1xx/5xx"
        assert image.atr == b""
        assert image.applications == ()


@pytest.mark.parametrize("name", CHIP_CARDS)
def test_chip_applications_use_their_issuers_key_and_method(
    name: str, issuers: IssuerDirectory
) -> None:
    image = cards.load(name)
    issuer = issuer_of(issuers, image)
    expected_mk = issuer.icc_master_key(image.pan, image.psn)
    for app in image.applications:
        assert app.cryptogram_method == issuer.cryptogram_method
        if name == "wrong_arqc_key":
            assert app.icc_master_key != expected_mk
        else:
            assert app.icc_master_key == expected_mk
        assert len(app.cdol1) and len(app.cdol2) and len(app.cvm_list) >= 10
        assert app.afl


# -- APDU level: the VirtualCard -----------------------------------------------------------------


def sw(response: bytes) -> str:
    return response[-2:].hex().upper()


def send(card: VirtualCard, apdu: bytes) -> bytes:
    """One command, with GET RESPONSE after a T=0 card's 61xx."""
    response = card.process_apdu(apdu)
    if len(response) == 2 and response[0] == 0x61:
        response = card.process_apdu(GET_RESPONSE + response[1:])
    return response


def powered(name: str) -> VirtualCard:
    card = VirtualCard(cards.load(name))
    card.power_on()
    return card


def gpo(card: VirtualCard, app: Application) -> bytes:
    pdol_data = tlv.build_dol_data(
        app.pdol,
        {"9F1A": b"\x01\x56", "9F02": bytes.fromhex("000000001000"), "5F2A": b"\x01\x56"},
    )
    assert sw(send(card, cmd.select(app.aid))) == "9000"
    return send(card, cmd.get_processing_options(pdol_data))


def arqc_tags(card: VirtualCard, app: Application) -> dict[str, bytes]:
    """GENERATE AC (ARQC) straight to the card; the tags the host checks it with."""
    gpo(card, app)
    terminal = {
        "9F02": bytes.fromhex("000000001000"),
        "9F03": bytes(6),
        "9F1A": bytes.fromhex("0156"),
        "95": bytes(5),
        "5F2A": bytes.fromhex("0156"),
        "9A": bytes.fromhex("260115"),
        "9C": b"\x00",
        "9F37": bytes.fromhex("11223344"),
    }
    data = tlv.build_dol_data(app.cdol1, terminal)
    response = send(card, cmd.generate_ac(cmd.AC_ARQC, data))
    assert sw(response) == "9000", response.hex()
    answer = {obj.tag: obj.value for obj in tlv.parse(response[:-2])[0].children or ()}
    assert answer["9F27"] == b"\x80"
    tags = tlv.split_dol_data(app.cdol1, data)
    tags.update({"82": app.aip, "9F36": answer["9F36"], "9F10": answer["9F10"]})
    tags["9F26"] = answer["9F26"]
    return tags


@pytest.mark.parametrize(
    ("name", "aid"),
    [(name, app.aid_hex) for name in CHIP_CARDS for app in cards.load(name).applications],
)
def test_arqc_verifies_with_the_issuer_key_except_on_wrong_arqc_key(
    name: str, aid: str, issuers: IssuerDirectory
) -> None:
    card = powered(name)
    issuer = issuer_of(issuers, card.image)
    tags = arqc_tags(card, card.image.application(aid))
    expected = issuer.method.generate_ac(
        issuer.icc_master_key(card.image.pan, card.image.psn), tags
    )
    if name == "wrong_arqc_key":
        assert expected != tags["9F26"]
    else:
        assert expected == tags["9F26"]


def test_pin_blocked_answers_6983_to_verify_even_with_the_right_pin() -> None:
    card = powered("pin_blocked")
    app = card.image.applications[0]
    assert sw(gpo(card, app)) == "9000"
    assert card.process_apdu(cmd.get_data(0x9F17)) == bytes.fromhex("9F1701009000")
    assert sw(card.process_apdu(cmd.verify_plaintext("112358"))) == "6983"
    assert sw(card.process_apdu(cmd.verify_plaintext("000000"))) == "6983"
    assert card.pin_tries_left == 0


def test_garbage_gpo_answers_9000_with_data_that_is_not_tlv() -> None:
    card = powered("garbage_gpo")
    response = gpo(card, card.image.applications[0])
    assert sw(response) == "9000"
    with pytest.raises(EmvDataError):
        tlv.parse(response[:-2])


def test_magstripe_only_card_is_mute() -> None:
    card = VirtualCard(cards.load("magstripe_only"))
    assert card.mute
    assert card.power_on() == b""
    for command in (
        cmd.select(cmd.PSE_NAME),
        cmd.select(bytes.fromhex("A000000333010101")),
        cmd.get_data(0x9F17),
        b"\x00",
    ):
        assert card.process_apdu(command) == b""
    assert card.apdu_count == 4


def test_magstripe_only_card_in_the_reader_gives_no_atr_and_fails_the_chip_read() -> None:
    clock = VirtualClock()
    reader = SimCardReader(clock, name="slot")
    card = VirtualCard(cards.load("magstripe_only"))
    reader.insert(card)
    assert reader.wait_for_card(0) == CardPresented(CardInterface.CONTACT, b"")
    kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)
    # As in a real reader (and through pcscd): the power-up fails, no APDU is sent.
    with pytest.raises(CardProtocolError, match="mute card: no ATR"):
        kernel.read_card(1000)
    kernel.finish()
    assert card.apdu_count == 0


def test_magstripe_only_card_has_track2_for_a_swipe() -> None:
    image = cards.load("magstripe_only")
    assert image.track2 == "6214838903945159006=30031213615910000"
    assert len(image.track2) == 37


def test_dual_app_pse_lists_both_applications_with_their_priorities() -> None:
    card = powered("unionpay_dual_app")
    assert sw(card.process_apdu(cmd.select(cmd.PSE_NAME))) == "9000"
    record = card.process_apdu(cmd.read_record(1, 1))
    assert sw(record) == "9000"
    (template,) = tlv.parse(record[:-2])
    entries = [
        {obj.tag: obj.value for obj in entry.children or ()} for entry in template.children or ()
    ]
    assert [(e["4F"].hex().upper(), e["87"][0], e["50"].decode()) for e in entries] == [
        ("A000000333010103", 2, "UnionPay QCredit"),
        ("A000000333010101", 1, "UnionPay Debit"),
    ]
    assert entries[0]["9F12"] != entries[1]["9F12"]


# -- the kernel ----------------------------------------------------------------------------------


class Purchase:
    """One card in the in-process reader and an EMV kernel over it."""

    def __init__(self, name: str, config: TerminalEmvConfig | None = None) -> None:
        self.clock = VirtualClock()
        self.reader = SimCardReader(self.clock, name="test reader")
        self.card = VirtualCard(cards.load(name))
        self.reader.insert(self.card)
        self.kernel = EmvKernel(
            self.reader, config or TerminalEmvConfig(), random.Random(7), self.clock.now
        )
        self.requests: list[PinRequest] = []

    def pins(self, *pins: str) -> Callable[[PinRequest], str]:
        supply: Iterator[str] = iter(pins)

        def source(request: PinRequest) -> str:
            self.requests.append(request)
            return next(supply)

        return source

    def issuer_check(self, issuers: IssuerDirectory, first: FirstAc) -> tuple[bool, bytes]:
        """(the ARQC verifies, issuer authentication data 91 = ARPC || ARC "00")."""
        image = self.card.image
        issuer = issuer_of(issuers, image)
        icc_mk = issuer.icc_master_key(image.pan, image.psn)
        verifies = issuer.method.generate_ac(icc_mk, first.icc_data) == first.cryptogram
        arpc = issuer.method.generate_arpc(icc_mk, first.icc_data, b"00")
        return verifies, arpc + b"00"


@pytest.mark.parametrize("name", ONLINE_PIN_CARDS)
def test_credit_and_international_cards_ask_for_an_online_pin(name: str) -> None:
    purchase = Purchase(name)
    purchase.kernel.read_card(1000)
    pin = cards.load(name).pin
    result = purchase.kernel.verify_cardholder(purchase.pins(pin))
    assert result.outcome is CvmOutcome.ONLINE_PIN
    assert result.online_pin == pin
    assert [request.online for request in purchase.requests] == [True]
    assert purchase.kernel.cvm_results[0] & 0x3F == 0x02


@pytest.mark.parametrize("name", APPROVED_CARDS)
def test_a_purchase_is_approved_end_to_end(name: str, issuers: IssuerDirectory) -> None:
    purchase = Purchase(name)
    image = purchase.card.image
    purchase.kernel.read_card(1000)
    purchase.kernel.verify_cardholder(purchase.pins(image.pin))
    first = purchase.kernel.first_generate_ac()
    assert first.kind == "ARQC"
    verifies, issuer_data = purchase.issuer_check(issuers, first)
    assert verifies
    second = purchase.kernel.second_generate_ac("00", issuer_data)
    assert second.approved and second.issuer_authentication is True
    assert purchase.kernel.tvr[1] & TVR_EXPIRED[1] == 0


def test_visa_credit_authenticates_the_issuer_by_external_authenticate(
    issuers: IssuerDirectory,
) -> None:
    purchase = Purchase("visa_credit")
    purchase.kernel.read_card(1000)
    purchase.kernel.verify_cardholder(purchase.pins("3579"))
    first = purchase.kernel.first_generate_ac()
    _, issuer_data = purchase.issuer_check(issuers, first)
    purchase.kernel.second_generate_ac("00", issuer_data)
    assert purchase.card.issuer_authentication is True
    assert purchase.card.image.applications[0].cryptogram_method == "visa_cvn10"
    assert first.icc_data["9F10"][:3] == bytes.fromhex("06010A")  # VIS IAD, CVN 10


def test_expired_card_sets_the_expired_tvr_bit_and_is_declined_offline() -> None:
    purchase = Purchase("expired")
    card = purchase.kernel.read_card(1000)
    assert card.expiry == "2512"
    assert purchase.kernel.tvr[TVR_EXPIRED[0]] & TVR_EXPIRED[1]
    result = purchase.kernel.verify_cardholder(purchase.pins("159753"))
    assert result.outcome is CvmOutcome.OFFLINE_PIN
    first = purchase.kernel.first_generate_ac()
    assert first.kind == "AAC"


def test_pin_blocked_card_fails_cardholder_verification_and_is_declined_offline() -> None:
    purchase = Purchase("pin_blocked")
    purchase.kernel.read_card(1000)
    result = purchase.kernel.verify_cardholder(purchase.pins())
    assert result.outcome is CvmOutcome.FAILED
    assert purchase.requests == []  # the try counter is 0: no PIN is asked for
    tvr = purchase.kernel.tvr
    assert tvr[2] & TVR_PIN_TRY_LIMIT_EXCEEDED[1]
    assert tvr[2] & TVR_CV_NOT_SUCCESSFUL[1]
    assert purchase.kernel.first_generate_ac().kind == "AAC"


def test_wrong_arqc_key_is_declined_by_the_host(issuers: IssuerDirectory) -> None:
    purchase = Purchase("wrong_arqc_key")
    purchase.kernel.read_card(1000)
    purchase.kernel.verify_cardholder(purchase.pins("314159"))
    first = purchase.kernel.first_generate_ac()
    assert first.kind == "ARQC"
    verifies, _ = purchase.issuer_check(issuers, first)
    assert not verifies
    second = purchase.kernel.second_generate_ac("82", None)  # cryptogram failure, no ARPC
    assert not second.approved and second.kind == "AAC"


def test_garbage_gpo_makes_the_kernel_raise_a_typed_error() -> None:
    purchase = Purchase("garbage_gpo")
    with pytest.raises(EmvProtocolError, match="GPO") as caught:
        purchase.kernel.read_card(1000)
    assert isinstance(caught.value, EmvError)
    purchase.kernel.finish()


def test_dual_app_card_selects_by_priority_not_directory_order() -> None:
    purchase = Purchase("unionpay_dual_app")
    card = purchase.kernel.read_card(1000)
    assert (card.aid, card.label) == ("A000000333010101", "UnionPay Debit")
    result = purchase.kernel.verify_cardholder(purchase.pins("577215"))
    assert result.outcome is CvmOutcome.OFFLINE_PIN


def test_dual_app_card_at_a_quasi_credit_only_terminal_selects_the_other_application(
    issuers: IssuerDirectory,
) -> None:
    purchase = Purchase(
        "unionpay_dual_app", TerminalEmvConfig(aids=(AidEntry("A000000333010103"),))
    )
    card = purchase.kernel.read_card(1000)
    assert (card.aid, card.label) == ("A000000333010103", "UnionPay QCredit")
    assert card.preferred_name == "UP Quasi Credit"
    result = purchase.kernel.verify_cardholder(purchase.pins("577215"))
    assert result.outcome is CvmOutcome.ONLINE_PIN
    first = purchase.kernel.first_generate_ac()
    verifies, issuer_data = purchase.issuer_check(issuers, first)
    assert verifies
    assert purchase.kernel.second_generate_ac("00", issuer_data).approved


# -- adding a card -------------------------------------------------------------------------------

MY_CARD = """\
name: my_card
brand: UnionPay
atr: 3B888001504F5353494D555017
pan: "6214830027183655"
psn: "01"
expiry: "3012"
pin: "683915"
issuer_country: "0156"
issuer_currency: "0156"
applications:
  - aid: A000000333010101
    label: UnionPay Debit
    aip: "1800"
    cdol1: 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704
    cdol2: 8A02 9F0206 9F0306 9F1A02 9505 5F2A02 9A03 9C01 9F3704 910A
    iad: "0701010300000001"
    cryptogram: emv_csk
    issuer_master_key_ac: 0123456789ABCDEFFEDCBA9876543210
    records:
      - {sfi: 1, record: 1, tags: [57, 5F20]}
      - {sfi: 2, record: 1, tags: [5A, 5F24, 5F28, 5F34, 8C, 8D, 8E]}
"""

MY_STRIPE = """\
name: my_stripe
brand: UnionPay
chip: false
pan: "6214838903945159006"
expiry: "3003"
service_code: "101"
pin: "271828"
issuer_country: "0156"
issuer_currency: "0156"
"""


def fixtures_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **cards: str) -> Path:
    folder = tmp_path / "fixtures" / "cards"
    folder.mkdir(parents=True)
    for name, text in cards.items():
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("POSSIM_FIXTURES", str(tmp_path / "fixtures"))
    return folder


def test_a_card_dropped_in_the_fixtures_folder_is_found_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = fixtures_folder(tmp_path, monkeypatch, my_card=MY_CARD, my_stripe=MY_STRIPE)
    assert {"my_card", "my_stripe", "unionpay_debit"} <= set(cards.names())
    image = cards.load("my_card")
    assert image.source == folder / "my_card.yaml"
    assert image.applications[0].aid_hex == "A000000333010101"
    stripe = cards.load("my_stripe")
    assert not stripe.chip and not stripe.pse and stripe.applications == ()


def test_a_malformed_dropped_card_names_file_line_and_field(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = MY_CARD.replace('expiry: "3012"', 'expiry: "3013"')
    folder = fixtures_folder(tmp_path, monkeypatch, broken=broken)
    with pytest.raises(FixtureError) as caught:
        cards.load("broken")
    assert str(caught.value).startswith(f"{folder / 'broken.yaml'}:6: expiry: expected")


def line_number(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize("field", CHIP_FIELDS)
def test_a_chipless_card_may_not_have_chip_fields(field: str) -> None:
    value = {
        "atr": "3B888001504F5353494D555017",
        "protocol": "T=1",
        "pse": "true",
        "atc": "5",
        "blocked": "false",
        "pin_try_limit": "3",
        "pin_tries_left": "3",
        "applications": "[]",
    }[field]
    text = MY_STRIPE + f"{field}: {value}\n"
    with pytest.raises(FixtureError) as caught:
        cards.parse(text, "stripe.yaml")
    assert caught.value.problem.startswith(f"{field}: a card with chip: false has no chip")
    assert caught.value.line == line_number(text, f"{field}:")
    assert str(caught.value).startswith(f"stripe.yaml:{caught.value.line}: {field}:")


def test_chip_must_be_a_boolean() -> None:
    text = MY_STRIPE.replace("chip: false", "chip: maybe")
    with pytest.raises(FixtureError) as caught:
        cards.parse(text, "stripe.yaml")
    assert caught.value.problem == "chip: expected true or false, got 'maybe'"
    assert caught.value.line == line_number(text, "chip: maybe")


def test_a_chip_card_still_needs_an_atr_and_applications() -> None:
    text = MY_STRIPE.replace("chip: false", "chip: true")
    with pytest.raises(FixtureError, match=r"^stripe\.yaml:1: atr: missing"):
        cards.parse(text, "stripe.yaml")
    with_atr = text + "atr: 3B888001504F5353494D555017\n"
    with pytest.raises(FixtureError, match="applications: missing"):
        cards.parse(with_atr, "stripe.yaml")


def test_gpo_response_must_be_hex() -> None:
    text = MY_CARD.replace(
        "    cryptogram: emv_csk\n", "    cryptogram: emv_csk\n    gpo_response: 77ZZ\n"
    )
    with pytest.raises(FixtureError) as caught:
        cards.parse(text, "garbage.yaml")
    assert caught.value.problem.startswith("applications[0].gpo_response: expected hex")
    assert caught.value.line == line_number(text, "gpo_response:")


def test_pin_tries_left_above_the_limit_is_reported_at_its_line() -> None:
    text = MY_CARD.replace(
        'pin: "683915"\n', 'pin: "683915"\npin_try_limit: 3\npin_tries_left: 4\n'
    )
    with pytest.raises(FixtureError) as caught:
        cards.parse(text, "blocked.yaml")
    assert caught.value.problem == "pin_tries_left: expected 0..pin_try_limit, got 4"
    assert caught.value.line == line_number(text, "pin_tries_left:")
