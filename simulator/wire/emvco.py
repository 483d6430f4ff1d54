"""EMVCo merchant-presented QR payloads: build, parse, CRC16.

A payload is a flat string of ``ID LL value`` data objects (two-digit ID,
two-digit length in characters, the value); templates (26-51 merchant
accounts, 62 additional data, 64 alternate language) hold data objects of
their own. The last object is always ``63 04 CRC``: CRC-16/CCITT-FALSE
(polynomial 0x1021, initial value 0xFFFF) over everything before the CRC's
value, ``6304`` included, as four upper-case hex digits.

UnionPay QR comes in two issuance modes, told apart by where the merchant
account sits: centrally issued codes use ID 15 (reserved for UnionPay by
EMVCo, a primitive value), codes issued by a member institution use a merchant
account template (IDs 26-51) whose sub-ID 00 is UnionPay's RID.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator, Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from simulator.errors import WireFormatError

PAYLOAD_FORMAT = "01"
STATIC = "11"
DYNAMIC = "12"
CURRENCY_CNY = "156"
COUNTRY_CN = "CN"
UNIONPAY_ID = "15"
UNIONPAY_RID = "A000000333"
_TEMPLATES = frozenset({*(f"{i:02d}" for i in range(26, 52)), "62", "64"})
_MAX_PAYLOAD = 512


class EmvcoError(WireFormatError):
    """A merchant-presented QR payload is malformed."""


class EmvcoCrcError(EmvcoError):
    """The payload parses but its CRC (ID 63) does not match its content."""


def crc16(data: str) -> str:
    """CRC-16/CCITT-FALSE of the payload text (UTF-8), four upper-case hex digits.

    >>> crc16("123456789")  # the catalogue check value of CRC-16/CCITT-FALSE
    '29B1'
    """
    return f"{binascii.crc_hqx(data.encode('utf-8'), 0xFFFF):04X}"


def data_object(tag: str, value: str) -> str:
    """One ID-length-value data object (EMV QRCPS-MPM 4.1).

    >>> data_object("54", "12.34")
    '540512.34'
    """
    if len(tag) != 2 or not tag.isdigit():
        raise EmvcoError(f"data object ID must be two digits, got {tag!r}")
    if not 0 < len(value) <= 99:
        raise EmvcoError(f"data object {tag}: value of {len(value)} characters (1-99 allowed)")
    return f"{tag}{len(value):02d}{value}"


def _iter_objects(text: str, where: str) -> Iterator[tuple[str, str]]:
    pos = 0
    while pos < len(text):
        head = text[pos : pos + 4]
        if len(head) < 4 or not head.isdigit():
            raise EmvcoError(f"{where}: bad data object header {head!r} at offset {pos}")
        tag, length = head[:2], int(head[2:])
        value = text[pos + 4 : pos + 4 + length]
        if length == 0 or len(value) != length:
            raise EmvcoError(
                f"{where}: data object {tag} announces {length} characters, {len(value)} are there"
            )
        yield tag, value
        pos += 4 + length


def _frozen(value: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(value))


@attrs.frozen
class MerchantQr:
    """A parsed payload: top-level objects, templates as nested mappings."""

    objects: Mapping[str, object] = attrs.field(converter=_frozen)

    def text(self, tag: str) -> str | None:
        value = self.objects.get(tag)
        return value if isinstance(value, str) else None

    def template(self, tag: str) -> Mapping[str, str]:
        value = self.objects.get(tag)
        return value if isinstance(value, Mapping) else {}

    @property
    def dynamic(self) -> bool:
        return self.text("01") == DYNAMIC

    @property
    def amount_fen(self) -> int | None:
        amount = self.text("54")
        if amount is None:
            return None
        return int(Decimal(amount) * 100)

    @property
    def bill_number(self) -> str | None:
        return self.template("62").get("01")

    @property
    def terminal_label(self) -> str | None:
        return self.template("62").get("07")

    def merchant_accounts(self) -> dict[str, object]:
        """ID 15 and the 26-51 templates present."""
        return {
            tag: value
            for tag, value in self.objects.items()
            if tag == UNIONPAY_ID or tag in _TEMPLATES - {"62", "64"}
        }


def parse(payload: str) -> MerchantQr:
    """Parse and verify a payload; :class:`EmvcoError` / :class:`EmvcoCrcError` if bad."""
    if not isinstance(payload, str) or not payload:
        raise EmvcoError("empty payload")
    if len(payload) > _MAX_PAYLOAD:
        raise EmvcoError(f"payload of {len(payload)} characters (at most {_MAX_PAYLOAD})")
    if len(payload) < 8 or payload[-8:-4] != "6304":
        raise EmvcoError("payload does not end with a CRC data object (63 04 ....)")
    objects: dict[str, object] = {}
    for tag, value in _iter_objects(payload, "payload"):
        if tag in objects:
            raise EmvcoError(f"data object {tag} appears twice")
        if tag in _TEMPLATES:
            sub: dict[str, str] = {}
            for sub_tag, sub_value in _iter_objects(value, f"template {tag}"):
                if sub_tag in sub:
                    raise EmvcoError(f"template {tag}: data object {sub_tag} appears twice")
                sub[sub_tag] = sub_value
            objects[tag] = sub
        else:
            objects[tag] = value
    if next(iter(objects)) != "00":
        raise EmvcoError("the payload must start with ID 00 (payload format indicator)")
    if objects["00"] != PAYLOAD_FORMAT:
        raise EmvcoError(f"payload format indicator {objects['00']!r}, expected '01'")
    if list(objects)[-1] != "63":
        raise EmvcoError("ID 63 (CRC) must be the last data object")
    crc = objects["63"]
    assert isinstance(crc, str)
    expected = crc16(payload[:-4])
    if crc.upper() != expected:
        raise EmvcoCrcError(f"CRC {crc} does not match the payload (expected {expected})")
    if objects.get("01") not in (None, STATIC, DYNAMIC):
        raise EmvcoError(f"point of initiation {objects.get('01')!r}: expected '11' or '12'")
    amount = objects.get("54")
    if amount is not None and (not isinstance(amount, str) or not _is_amount(amount)):
        raise EmvcoError(f"transaction amount {amount!r} is not a decimal amount")
    if not any(tag == UNIONPAY_ID or ("26" <= tag <= "51") for tag in objects):
        raise EmvcoError("no merchant account information (ID 15 or 26-51)")
    return MerchantQr(objects)


def _is_amount(text: str) -> bool:
    whole, _, frac = text.partition(".")
    return whole.isdigit() and (frac == "" or (frac.isdigit() and len(frac) <= 2))


def format_amount(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def build(
    *,
    merchant_account: tuple[str, str | Mapping[str, str]],
    mcc: str,
    merchant_name: str,
    merchant_city: str,
    amount_fen: int | None = None,
    bill_number: str | None = None,
    terminal_label: str | None = None,
    currency: str = CURRENCY_CNY,
    country: str = COUNTRY_CN,
) -> str:
    """A payload; dynamic (01 = 12) when it carries an amount, else static."""
    tag, account = merchant_account
    if isinstance(account, Mapping):
        account_value = "".join(data_object(k, v) for k, v in account.items())
    else:
        account_value = account
    parts = [
        data_object("00", PAYLOAD_FORMAT),
        data_object("01", STATIC if amount_fen is None else DYNAMIC),
        data_object(tag, account_value),
        data_object("52", mcc),
        data_object("53", currency),
    ]
    if amount_fen is not None:
        parts.append(data_object("54", format_amount(amount_fen)))
    parts += [
        data_object("58", country),
        data_object("59", merchant_name),
        data_object("60", merchant_city),
    ]
    extra = ""
    if bill_number is not None:
        extra += data_object("01", bill_number)
    if terminal_label is not None:
        extra += data_object("07", terminal_label)
    if extra:
        parts.append(data_object("62", extra))
    body = "".join(parts) + "6304"
    return body + crc16(body)
