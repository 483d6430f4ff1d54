"""EMVCo merchant-presented QR payloads: build, parse, CRC16, both UnionPay modes."""

from __future__ import annotations

import binascii
import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.wire import emvco


def test_crc_is_ccitt_false() -> None:
    assert emvco.crc16("123456789") == "29B1"  # the CRC-16/CCITT-FALSE check value
    assert emvco.crc16("123456789") == f"{binascii.crc_hqx(b'123456789', 0xFFFF):04X}"


def _payload(**overrides: object) -> str:
    arguments: dict[str, object] = {
        "merchant_account": ("29", {"00": "COM.TENCENT.WXPAY", "01": "48020000", "02": "M1"}),
        "mcc": "5411",
        "merchant_name": "POSSIM TEST MERCHANT",
        "merchant_city": "SHANGHAI",
        "amount_fen": 1234,
        "bill_number": "ORDER1",
        "terminal_label": "POSSIM01",
    }
    arguments.update(overrides)
    return emvco.build(**arguments)  # type: ignore[arg-type]


def test_build_and_parse_round_trip() -> None:
    payload = _payload()
    assert payload.startswith("000201010212")
    qr = emvco.parse(payload)
    assert qr.dynamic
    assert qr.amount_fen == 1234
    assert qr.text("53") == "156" and qr.text("58") == "CN" and qr.text("52") == "5411"
    assert (qr.bill_number, qr.terminal_label) == ("ORDER1", "POSSIM01")
    assert qr.template("29")["00"] == "COM.TENCENT.WXPAY"
    assert payload[-4:] == emvco.crc16(payload[:-4])


def test_static_payload_has_no_amount() -> None:
    qr = emvco.parse(_payload(amount_fen=None))
    assert not qr.dynamic and qr.amount_fen is None


def test_unionpay_issuance_modes_differ_in_the_merchant_account_tag() -> None:
    central = emvco.parse(_payload(merchant_account=("15", "A00000033348020000898310048990001")))
    member = emvco.parse(
        _payload(merchant_account=("26", {"00": "A000000333", "01": "48020000", "02": "M"}))
    )
    assert "15" in central.merchant_accounts() and "26" not in central.merchant_accounts()
    assert "26" in member.merchant_accounts() and "15" not in member.merchant_accounts()


@pytest.mark.parametrize(
    ("mangle", "error"),
    [
        (lambda p: p[:-1] + ("0" if p[-1] != "0" else "1"), emvco.EmvcoCrcError),
        (lambda p: p.replace("5802CN", "5802US"), emvco.EmvcoCrcError),
        (lambda p: p[:-8], emvco.EmvcoError),  # no CRC
        (lambda p: "0000" + p[6:], emvco.EmvcoError),  # length 00
        (lambda p: p[4:], emvco.EmvcoError),  # no payload format indicator first
        (lambda p: "", emvco.EmvcoError),
        (lambda p: "x" * 600, emvco.EmvcoError),
    ],
)
def test_malformed_payloads_raise_typed_errors(mangle: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        emvco.parse(mangle(_payload()))  # type: ignore[operator]


def test_truncated_template_is_refused() -> None:
    body = "000201010212" + "2920" + "0010AB" + "52045411"
    body += "6304"
    with pytest.raises(emvco.EmvcoError):
        emvco.parse(body + emvco.crc16(body))


@given(st.text(max_size=300))
def test_parse_never_fails_untyped(text: str) -> None:
    with contextlib.suppress(emvco.EmvcoError):
        emvco.parse(text)


@given(
    st.integers(min_value=1, max_value=10_000_000_000),
    st.from_regex(r"[A-Za-z0-9_-]{1,25}", fullmatch=True),
)
def test_round_trip_any_amount_and_bill(amount: int, bill: str) -> None:
    qr = emvco.parse(_payload(amount_fen=amount, bill_number=bill))
    assert (qr.amount_fen, qr.bill_number) == (amount, bill)
