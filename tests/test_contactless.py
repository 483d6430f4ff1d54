"""Contactless: the PC/SC Part 3 ATRs, the card in a reader's field, the Entry Point and
kernels, the reader limits, the host's checks, and the issue's acceptance in a shop.

Sources quoted: PC/SC Part 3 3.1.3.2.3 (the ATRs, with the vectors published in
frankmorgner/vsmartcard#140 and kanidm/webauthn-rs ``nfc/atr.rs``); EMV Book C-3 A.2
(TTQ/CTQ bits, as openemv/emv-utils decodes them); UnionPay's 2018-06-01 notice on
the no-PIN, no-signature limit (RMB 300 -> 1000).
"""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest

from drivers.card_reader import CardInterface
from drivers.pcsc_card_reader import is_picc_reader
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.pcsc_atr import contactless_atr, parse_contactless_atr, storage_card_atr
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import CollidingCards, VirtualCard
from simulator.devices.card_reader import SimCardReader
from simulator.errors import ConfigError
from simulator.gateway.acquirer.contactless import contactless_problems, missing_cvm
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.server import HostIsoMessage
from simulator.hands import HandsError
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.display import ScreenId
from simulator.terminal.emv import TerminalEmvConfig
from simulator.terminal.emv.contactless import (
    ContactlessCvm,
    Outcome,
    ReaderLimits,
    TapResult,
    run_contactless,
    ttq,
)
from simulator.wire import oda

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

CONTACTLESS_CARDS = sorted(name for name in cards.names() if cards.load(name).contactless)
WIND_DOWN = 3600.0


# -- PC/SC Part 3 ATRs --------------------------------------------------------------------------


def test_contactless_atr_matches_the_published_dual_interface_card_on_an_acr122u() -> None:
    # vsmartcard#140: "3B 86 80 01 80 31 C1 52 41 12 76" for a dual-interface card.
    assert contactless_atr(bytes.fromhex("8031C1524112")).hex().upper() == "3B8680018031C152411276"


@pytest.mark.parametrize(
    ("name", "atr", "described"),
    [
        (0x0001, "3B8F8001804F0CA000000306030001000000006A", "MIFARE Classic 1K"),
        (0x0003, "3B8F8001804F0CA0000003060300030000000068", "MIFARE Ultralight / NTAG"),
    ],
)
def test_storage_card_atrs_match_the_published_ones(name: int, atr: str, described: str) -> None:
    assert storage_card_atr(name).hex().upper() == atr
    parsed = parse_contactless_atr(bytes.fromhex(atr))
    assert parsed is not None and parsed.storage and described in parsed.describe()


def test_an_atr_with_a_wrong_tck_or_another_shape_is_no_contactless_atr() -> None:
    assert parse_contactless_atr(bytes.fromhex("3B8680018031C152411277")) is None
    assert parse_contactless_atr(bytes.fromhex("3B6800000073C84013009000")) is None
    smart = parse_contactless_atr(bytes.fromhex("3B8680018031C152411276"))
    assert smart is not None and not smart.storage


@pytest.mark.parametrize(
    ("reader", "picc"),
    [
        ("ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00", True),
        ("ACS ACR1252 Dual Reader [ACR1252 Dual Reader SAM] 00 01", False),
        ("HID Global OMNIKEY 5422 Smartcard Reader [OMNIKEY 5422CL Smartcard Reader] 01 00", True),
        ("possim vpcd 00 00", False),
        ("ACS ACR39U ICC Reader 00 00", False),
    ],
)
def test_picc_readers_are_told_by_their_pcsc_name(reader: str, picc: bool) -> None:
    assert is_picc_reader(reader) is picc


# -- the card in the field ----------------------------------------------------------------------


def in_field(name: str) -> VirtualCard:
    card = VirtualCard(cards.load(name))
    card.in_field = True
    return card


def test_a_card_in_the_field_powers_up_with_its_part3_atr_and_lists_its_kernels() -> None:
    card = in_field("quickpass_debit")
    atr = card.power_on()
    assert atr == card.image.contactless_atr
    assert parse_contactless_atr(atr) is not None
    response = card.process_apdu(cmd.select(cmd.PPSE_NAME))
    assert response[-2:] == b"\x90\x00"
    entries = [
        {obj.tag: obj.value for obj in entry.primitives()}
        for entry in tlv.parse(response[:-2])[0].find("BF0C").children  # type: ignore[union-attr]
    ]
    assert entries == [
        {
            "4F": bytes.fromhex("A000000333010101"),
            "50": b"UnionPay Debit",
            "87": b"\x01",
            "9F2A": b"\x07",  # kernel 7: UnionPay
        }
    ]
    # The contact PSE is not found in the field.
    assert card.process_apdu(cmd.select(cmd.PSE_NAME))[-2:] == b"\x6a\x82"


def test_over_its_contacts_a_dual_interface_card_knows_no_ppse() -> None:
    card = VirtualCard(cards.load("quickpass_debit"))
    assert card.power_on() == card.image.atr
    assert card.process_apdu(cmd.select(cmd.PPSE_NAME))[-2:] == b"\x6a\x82"
    assert card.process_apdu(cmd.select(cmd.PSE_NAME))[-2:] == b"\x90\x00"


def test_a_phone_has_no_contacts_and_a_contact_card_no_antenna() -> None:
    phone = VirtualCard(cards.load("phone_wallet"))
    assert phone.power_on() == b"" and phone.mute
    contact_only = in_field("unionpay_debit")
    assert contact_only.power_on() == b"" and contact_only.mute


# -- the kernels --------------------------------------------------------------------------------


def tap(card: VirtualCard, amount_fen: int, limits: ReaderLimits | None = None) -> TapResult:
    clock = VirtualClock()
    reader = SimCardReader(clock, interface=CardInterface.CONTACTLESS)
    reader.insert(card)
    return run_contactless(
        reader,
        TerminalEmvConfig(),
        limits or ReaderLimits(),
        random.Random(7),
        clock.now,
        amount_fen,
    )


@pytest.mark.parametrize("name", CONTACTLESS_CARDS)
def test_every_contactless_card_gives_an_arqc_the_issuer_verifies(name: str) -> None:
    card = VirtualCard(cards.load(name))
    card.cdcvm_verified = True  # a phone: its holder verified first
    card.in_field = True
    result = tap(card, 8800)
    assert result.outcome is Outcome.ONLINE_REQUEST, result.reason
    issuer = IssuerDirectory.load().lookup(card.image.pan)
    assert issuer is not None
    icc = dict(result.icc_data)
    expected = issuer.method.generate_ac(issuer.icc_master_key(card.image.pan, card.image.psn), icc)
    assert icc["9F26"] == expected
    assert icc["9F27"] == b"\x80" and "9F66" in icc


@pytest.mark.parametrize(
    ("name", "kernel"),
    [
        ("quickpass_debit", "qpboc"),
        ("visa_contactless", "qvsdc"),
        ("mastercard_contactless", "mchip"),
    ],
)
def test_the_kernel_is_chosen_by_the_ppse_kernel_identifier(name: str, kernel: str) -> None:
    assert tap(in_field(name), 100).kernel == kernel


@pytest.mark.parametrize("name", ["quickpass_debit", "visa_contactless", "mastercard_contactless"])
def test_no_cvm_under_the_cvm_required_limit_and_online_pin_at_it(name: str) -> None:
    limit = ReaderLimits().cvm_required_limit_fen
    assert tap(in_field(name), limit - 1).cvm is ContactlessCvm.NO_CVM
    assert tap(in_field(name), limit).cvm is ContactlessCvm.ONLINE_PIN


def test_the_ttq_asks_for_a_cvm_at_the_limit_and_for_a_cryptogram_over_the_floor() -> None:
    # EMV Book B 3.1.1.6/3.1.1.8 (as libpay's emv_ep_preprocessing implements them).
    config, limits = TerminalEmvConfig(), ReaderLimits(cvm_required_limit_fen=300_00)
    under, at = ttq(limits, 299_99, config), ttq(limits, 300_00, config)
    assert under[1] & 0x80 and at[1] & 0x80  # over the floor limit (0): online cryptogram
    assert not under[1] & 0x40 and at[1] & 0x40  # CVM required
    floor = ReaderLimits(floor_limit_fen=100_00)
    assert not ttq(floor, 100_00, config)[1] & 0x80 and ttq(floor, 100_01, config)[1] & 0x80
    assert under[0] & 0x20 and under[0] & 0x04  # EMV mode, online PIN supported
    assert under[2] & 0x40  # consumer device CVM supported


def test_over_the_transaction_limit_the_card_is_not_even_powered() -> None:
    card = in_field("quickpass_debit")
    result = tap(card, ReaderLimits().transaction_limit_fen)  # Book B 3.1.1.5: at or over
    assert result.outcome is Outcome.TRY_ANOTHER_INTERFACE
    assert card.apdu_count == 0


def test_a_phone_says_see_phone_then_pays_with_cdcvm_once() -> None:
    phone = in_field("phone_wallet")
    first = tap(phone, 8800)
    assert first.outcome is Outcome.SEE_PHONE and first.card is None
    second = tap(phone, 150_000)  # over the CVM limit: the phone's verification is enough
    assert second.outcome is Outcome.ONLINE_REQUEST
    assert second.cvm is ContactlessCvm.CDCVM
    assert second.icc_data["9F6C"][1] & 0x80  # CTQ: consumer device CVM performed
    assert tap(phone, 8800).outcome is Outcome.SEE_PHONE  # one verification, one payment


def test_two_cards_in_the_field_and_a_card_gone_too_soon() -> None:
    both = CollidingCards(cards.load("quickpass_debit"))
    both.in_field = True
    assert tap(both, 100).outcome is Outcome.PRESENT_ONE_CARD
    clock = VirtualClock()
    reader = SimCardReader(clock, interface=CardInterface.CONTACTLESS)
    reader.insert(in_field("quickpass_debit"))
    reader.remove_after(2)  # PPSE, SELECT; gone at GPO
    result = run_contactless(
        reader, TerminalEmvConfig(), ReaderLimits(), random.Random(1), clock.now, 100
    )
    assert result.outcome is Outcome.TRY_AGAIN


# -- the reader limits as configuration -----------------------------------------------------------


def test_the_contactless_limits_are_read_from_the_configuration(tmp_path: Path) -> None:
    default = TerminalConfig.load("default").contactless
    assert default.cvm_required_limit_fen == 1000_00
    old = TerminalConfig.load("contactless_300").contactless
    assert old.cvm_required_limit_fen == 300_00
    bad = tmp_path / "bad.toml"
    bad.write_text('[contactless]\ncvm_required_limit = "-3.00"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad.toml:2: contactless.cvm_required_limit"):
        TerminalConfig.load(str(bad))
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[contactless]\ncvm_limit = "3.00"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key; expected one of transaction_limit"):
        TerminalConfig.load(str(unknown))


# -- the host's checks ----------------------------------------------------------------------------


def test_the_host_wants_the_ttq_and_the_cvm_the_reader_asked_for() -> None:
    icc = {"9F26": bytes(8), "9F27": b"\x80", "9F36": b"\x00\x01", "9F10": bytes(7)}
    req = {"22": "071"}
    assert contactless_problems(req, icc) == ["DE55 of a contactless purchase lacks 9F66 (TTQ)"]
    assert contactless_problems({"22": "051"}, icc) == []  # contact: not its business
    icc["9F66"] = bytes.fromhex("36C04000")  # CVM required
    assert contactless_problems(req, icc) == []
    assert missing_cvm(req, icc) is not None
    assert missing_cvm({**req, "52": "00" * 8}, icc) is None
    assert missing_cvm(req, {**icc, "9F6C": b"\x00\x80"}) is None  # CDCVM
    assert missing_cvm(req, {**icc, "9F66": bytes.fromhex("36804000")}) is None  # no CVM asked


# -- acceptance, in a shop ------------------------------------------------------------------------


def tap_sale(shop: Shop, amount_fen: int, *taps: str, pin: bool = False) -> bool:
    hands = shop.hands
    with shop.clock.actor():
        sale = hands.start_sale(amount_fen)
        shop.clock.settle()
        for name in taps:
            hands.tap_card(cards.load(name))
            shop.clock.settle()
        asked = shop.view.awaiting_pin
        if asked:
            hands.type_pin(cards.load(taps[-1]).pin)
            shop.clock.settle()
        result = sale.wait(WIND_DOWN)
    assert result is not None and result.approved, shop.view.screen_text()
    assert asked is pin
    return asked


def host_requests(shop: Shop) -> list[HostIsoMessage]:
    return [
        e.payload
        for e in shop.bus.of(HostIsoMessage)
        if e.payload.direction == "in" and e.payload.mti == "0200"
    ]


def test_quickpass_88_no_pin_1200_online_pin_and_the_receipts_say_so(tmp_path: Path) -> None:
    with Shop(TerminalConfig.load("default"), tmp_path) as shop:
        tap_sale(shop, 8800, "quickpass_debit", pin=False)
        tap_sale(shop, 120000, "quickpass_debit", pin=True)
        first, second = host_requests(shop)
        assert first.value("22") == "071" and first.value("52") is None
        assert second.value("22") == "071" and second.value("52") is not None
        receipts = [r.text for r in shop.view.receipts()]
    assert "免密免签 NO CVM" in receipts[0] and "CARDHOLDER SIGNATURE" not in receipts[0]
    assert "联机密码验证 ONLINE PIN" in receipts[2] and "免密免签" not in receipts[2]


def test_a_terminal_at_the_old_300_limit_asks_for_the_pin_at_400(tmp_path: Path) -> None:
    with Shop(TerminalConfig.load("contactless_300"), tmp_path / "old") as shop:
        tap_sale(shop, 40000, "quickpass_debit", pin=True)
    with Shop(TerminalConfig.load("default"), tmp_path / "new") as shop:
        tap_sale(shop, 40000, "quickpass_debit", pin=False)


def test_a_phone_wallet_sees_phone_then_pays_and_the_host_sees_the_token(tmp_path: Path) -> None:
    phone = cards.load("phone_wallet")
    with Shop(TerminalConfig.load("default"), tmp_path) as shop:
        hands = shop.hands
        with shop.clock.actor():
            sale = hands.start_sale(6600)
            shop.clock.settle()
            hands.tap_card(phone)
            shop.clock.settle()
            assert shop.view.screen().id is ScreenId.SEE_PHONE
            assert not host_requests(shop)
            hands.tap_card(phone)
            result = sale.wait(WIND_DOWN)
        assert result is not None and result.approved
        (request,) = host_requests(shop)
        (entry,) = [e for e in shop.gateway.ledger.transactions() if e.charged]
    assert entry.masked_pan == "628888******3450"  # the token's BIN
    assert entry.issuer == "possim Token Service (UnionPay)"
    icc = tlv.decode_flat(bytes.fromhex(request.value("55") or ""))
    issuer = IssuerDirectory.load().lookup(phone.pan)
    assert issuer is not None
    assert icc["9F26"] == issuer.method.generate_ac(
        issuer.icc_master_key(phone.pan, phone.psn), icc
    )
    assert icc["9F6C"][1] & 0x80  # the phone verified its holder


def test_a_card_without_an_antenna_cannot_be_tapped(tmp_path: Path) -> None:
    with (
        Shop(TerminalConfig.load("default"), tmp_path) as shop,
        pytest.raises(HandsError, match="unionpay_debit has no antenna"),
    ):
        shop.hands.tap_card(cards.load("unionpay_debit"))


# -- fDDA ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["quickpass_debit", "visa_contactless"])
def test_fdda_cards_carry_certificates_and_their_signature_verifies(name: str) -> None:
    card = in_field(name)
    app = card.image.applications[0]
    assert app.aip[0] & 0x20  # DDA
    assert {"8F", "90", "9F32", "92"} <= set(app.layout[-2].tags)
    result = tap(card, 8800)
    assert result.outcome is Outcome.ONLINE_REQUEST
    assert result.oda == "verified"


def with_icc_key(name: str, ctq: bytes | None = None) -> VirtualCard:
    """The card, but signing with a key its certificate does not certify (or another CTQ)."""
    image = cards.load(name)
    app = image.applications[0]
    wrong = oda.simulator_keys().issuer  # a private key, not the certified ICC one
    changed = attrs.evolve(app, icc_key=wrong, ctq=ctq if ctq is not None else app.ctq)
    card = VirtualCard(attrs.evolve(image, applications=(changed,)))
    card.in_field = True
    return card


def test_a_signature_that_does_not_verify_declines_unless_the_ctq_says_go_online() -> None:
    declined = tap(with_icc_key("quickpass_debit"), 8800)
    assert declined.outcome is Outcome.DECLINED
    assert declined.reason.startswith("fDDA failed:")
    online = tap(with_icc_key("quickpass_debit", ctq=b"\xa0\x00"), 8800)  # b6: go online
    assert online.outcome is Outcome.ONLINE_REQUEST and online.oda.startswith("failed")
    switch = tap(with_icc_key("quickpass_debit", ctq=b"\x90\x00"), 8800)  # b5: switch
    assert switch.outcome is Outcome.TRY_ANOTHER_INTERFACE


def test_a_card_without_fdda_is_not_authenticated_offline() -> None:
    assert tap(in_field("quickpass_credit"), 8800).oda == "not offered"
