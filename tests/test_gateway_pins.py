"""Online PIN verification at the acquirer host: DE52 under the terminal's
PIN key, checked by the IBM 3624 offset in the track 2 discretionary data."""

from __future__ import annotations

import random
from datetime import date
from pathlib import Path

import pytest
from psec import pin as psec_pin
from psec import pinblock

from simulator.clock import VirtualClock
from simulator.errors import FixtureError
from simulator.gateway.acquirer import AcquirerHost, track2_for_pin
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.ledger import Ledger, Status
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.pins import PinVerifier, TerminalKeys, ibm3624_offset
from simulator.terminal.config import DEFAULT_PIN_KEY, TerminalConfig
from simulator.wire.iso8583 import Iso8583Codec, Iso8583Spec
from simulator.wire.pin_block import PinBlockError, decipher_pin, encipher_pin

PAN = "6214830027183655"  # firmware_fixtures/cards/unionpay_debit.yaml
PIN = "683915"
OFFSET = "257589"
TRACK2 = f"{PAN}=3012220{OFFSET}00000"
TPK = bytes.fromhex(DEFAULT_PIN_KEY)
UNIONPAY_PVK = bytes.fromhex("5B6D7A8C9E0F1A2B3C4D5E6F708192A3")


def make_host(clock: VirtualClock) -> AcquirerHost:
    return AcquirerHost(
        Ledger(":memory:", clock),
        IssuerDirectory.load(),
        MagicAmounts.load(),
        clock,
        random.Random(0),
        Iso8583Codec(Iso8583Spec.load()),
        pins=PinVerifier(TerminalKeys.load()),
    )


_stan = iter(range(1, 10_000))


def magstripe_request(pin: str | None, **changes: str) -> dict[str, str]:
    request = {
        "t": "0200",
        "2": PAN,
        "3": "000000",
        "4": "000000001000",
        "7": "0115103000",
        "11": f"{next(_stan):06d}",
        "22": "021",
        "35": TRACK2,
        "41": "POSSIM01",
        "42": "898310048990001",
        "49": "156",
    }
    if pin is not None:
        request["52"] = encipher_pin(pin, PAN, TPK).hex().upper()
    request.update(changes)
    return {key: value for key, value in request.items() if value != ""}


def test_the_known_vector_of_the_design_notes() -> None:
    # DESIGN.md: PIN 1234, PAN 5544332211009966 -> psec's known format-0 block.
    block = pinblock.encode_pinblock_iso_0("1234", "5544332211009966")
    assert block.hex().upper() == "041277CDDEEFF669"
    enciphered = encipher_pin("1234", "5544332211009966", TPK)
    assert enciphered != block and len(enciphered) == 8
    assert decipher_pin(enciphered, "5544332211009966", TPK) == "1234"


def test_a_pin_block_for_another_pan_or_key_does_not_decode() -> None:
    enciphered = encipher_pin(PIN, PAN, TPK)
    with pytest.raises(PinBlockError) as caught:
        decipher_pin(enciphered, PAN, bytes.fromhex("0123456789ABCDEFFEDCBA9876543210"))
    assert PIN not in str(caught.value)
    with pytest.raises(PinBlockError):
        decipher_pin(enciphered[:7], PAN, TPK)


def test_the_offset_rule_matches_psec_and_the_card_image() -> None:
    expected = psec_pin.generate_ibm3624_offset(
        UNIONPAY_PVK, "0123456789012345", PIN, PAN, len(PAN) - 13, 12, "F"
    )
    assert ibm3624_offset(UNIONPAY_PVK, PIN, PAN) == expected == OFFSET


def test_issuers_carry_the_agreed_pvks() -> None:
    directory = IssuerDirectory.load()
    pvks = {issuer.prefix: issuer.pvk for issuer in directory}
    assert pvks["621483"] == UNIONPAY_PVK
    assert pvks["476173"] == bytes.fromhex("1A2B3C4D5E6F70811A2B3C4D5E6F7081")
    assert pvks["545454"] == bytes.fromhex("2468ACE013579BDF2468ACE013579BDF")
    credit = directory.lookup("6225880000000000")
    assert credit is not None and credit.name == "possim Test Bank (UnionPay credit)"
    assert credit.pvk == bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")
    assert "5B6D" not in repr(directory)


def test_terminal_keys_agree_with_the_default_terminal() -> None:
    config = TerminalConfig.load()
    assert TerminalKeys.load().pin_key(config.terminal_id) == config.keys.pin_key_bytes
    assert DEFAULT_PIN_KEY not in repr(config)


def test_a_malformed_terminal_key_file_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "terminals.yaml"
    path.write_text('terminals:\n  - tid: "POSSIM01"\n    pin_key: "XYZ"\n', encoding="utf-8")
    with pytest.raises(FixtureError, match=r"terminals\[0\]: field 'pin_key' is not hex"):
        TerminalKeys.load(path)


def test_right_online_pin_is_approved() -> None:
    host = make_host(VirtualClock())
    decision = host.decide(magstripe_request(PIN))
    assert decision.reply is not None and decision.reply["39"] == "00"
    assert "online PIN verified" in decision.note


def test_wrong_online_pin_is_55_then_75_on_the_third() -> None:
    host = make_host(VirtualClock())
    codes = [host.handle(magstripe_request("111111")) for _ in range(3)]
    assert [reply["39"] for reply in codes if reply] == ["55", "55", "75"]
    # Locked for the day, even with the right PIN ...
    assert (host.handle(magstripe_request(PIN)) or {}).get("39") == "75"
    statuses = [entry.status for entry in host.ledger.transactions()]
    assert statuses == [Status.DECLINED] * 4


def test_the_lock_ends_with_the_day_and_a_right_pin_resets_the_count() -> None:
    clock = VirtualClock()
    host = make_host(clock)
    for _ in range(3):
        host.handle(magstripe_request("111111"))
    clock.advance(24 * 3600)
    assert (host.handle(magstripe_request(PIN)) or {}).get("39") == "00"
    verifier = PinVerifier(TerminalKeys.load())
    issuer = IssuerDirectory.load().lookup(PAN)
    assert issuer is not None

    def check(pin: str) -> str | None:
        de52 = encipher_pin(pin, PAN, TPK).hex()
        today = date(2026, 1, 15)
        return verifier.check(
            tid="POSSIM01", pan=PAN, de52=de52, track2=TRACK2, issuer=issuer, today=today
        ).code

    assert [check("111111"), check("111111"), check(PIN), check("111111")] == [
        "55",
        "55",
        None,
        "55",
    ]


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"41": "OTHER001"}, "no PIN key for terminal"),
        ({"35": f"{PAN}=3012220"}, "no track 2 discretionary data"),
        ({"52": "00" * 8}, "does not decipher"),
    ],
)
def test_a_pin_that_cannot_be_checked_is_63(changes: dict[str, str], why: str) -> None:
    host = make_host(VirtualClock())
    decision = host.decide(magstripe_request(PIN, **changes))
    assert decision.reply is not None and decision.reply["39"] == "63"
    assert why in decision.note


def test_an_issuer_without_pvk_cannot_check_pins(tmp_path: Path) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(
        'issuers:\n  - prefix: "621483"\n    name: No PVK\n    cryptogram: emv_csk\n'
        "    imk_ac: 0123456789ABCDEFFEDCBA9876543210\n",
        encoding="utf-8",
    )
    clock = VirtualClock()
    host = AcquirerHost(
        Ledger(":memory:", clock),
        IssuerDirectory.load(path),
        MagicAmounts.load(),
        clock,
        random.Random(0),
        Iso8583Codec(Iso8583Spec.load()),
    )
    decision = host.decide(magstripe_request(PIN))
    assert decision.reply is not None and decision.reply["39"] == "63"
    assert "has no PVK" in decision.note


def test_de52_of_the_wrong_length_is_a_format_error() -> None:
    host = make_host(VirtualClock())
    decision = host.decide(magstripe_request(PIN, **{"52": "ABCD"}))
    assert decision.reply is not None and decision.reply["39"] == "30"
    assert "DE52" in decision.note


def test_without_de35_the_offset_comes_from_tag_57_in_de55() -> None:
    request = magstripe_request(PIN, **{"35": ""})
    tag57 = bytes.fromhex(TRACK2.replace("=", "D") + "F")  # F-padded to whole bytes
    assert "35" not in request
    assert track2_for_pin(request, {"57": tag57}) == TRACK2.replace("=", "D")
    assert track2_for_pin(request, None) is None
    assert track2_for_pin(magstripe_request(PIN), {"57": tag57}) == TRACK2  # DE35 wins


def test_the_pin_never_reaches_the_ledger_or_the_note() -> None:
    host = make_host(VirtualClock())
    decision = host.decide(magstripe_request(PIN))
    entry = host.ledger.transactions()[-1]
    assert PIN not in decision.note and PIN not in repr(entry)
    assert entry.masked_pan == "621483******3655"


def test_a_tid_prefix_keys_a_range_of_terminals_and_a_tid_of_its_own_wins(
    tmp_path: Path,
) -> None:
    # possim's Locust users take ids LCT00001-LCT99999 (docs/load.md): one entry keys them all.
    path = tmp_path / "terminals.yaml"
    path.write_text(
        "terminals:\n"
        "  - {tid_prefix: LC, pin_key: '11111111111111111111111111111111'}\n"
        "  - {tid_prefix: LCT, pin_key: '22222222222222222222222222222222'}\n"
        "  - {tid: LCT00007, pin_key: '33333333333333333333333333333333'}\n",
        encoding="utf-8",
    )
    keys = TerminalKeys.load(path)
    assert keys.pin_key("LCT00001") == bytes.fromhex("22" * 16)  # the longest prefix
    assert keys.pin_key("LCX00001") == bytes.fromhex("11" * 16)
    assert keys.pin_key("LCT00007") == bytes.fromhex("33" * 16)  # its own entry
    assert keys.pin_key("FLT00001") is None  # no key: the host answers 63
    assert TerminalKeys.load().pin_key("LCT04321") == bytes.fromhex(DEFAULT_PIN_KEY)


def test_a_tid_prefix_of_eight_characters_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "terminals.yaml"
    path.write_text(
        "terminals:\n  - {tid_prefix: LCT00001, pin_key: '22222222222222222222222222222222'}\n",
        encoding="utf-8",
    )
    with pytest.raises(FixtureError, match="tid_prefix' must be 1-7 characters"):
        TerminalKeys.load(path)
