"""The ATRs a PC/SC reader makes up for contactless cards (PC/SC Part 3, 3.1.3.2.3).

A contactless card has no ATR of its own: the reader builds one so that PC/SC
applications can treat it like a contact card.

* an ISO/IEC 14443-4 smart card (a payment card, a phone): ``3B 8n 80 01``,
  the ``n`` historical bytes from its ATS (type A) or ATQB (type B), and TCK
  (Part 3 3.1.3.2.3.1). A dual-interface card on an ACR122U gives
  ``3B 86 80 01 80 31 C1 52 41 12 76`` (frankmorgner/vsmartcard#140);
* a storage card (MIFARE, FeliCa, NTAG): ``3B 8F 80 01 80 4F 0C`` + the RID
  ``A0 00 00 03 06`` + the standard byte ``SS`` + the card name ``NN NN`` +
  four RFU bytes + TCK (Part 3 3.1.3.2.3.2); e.g. MIFARE Classic 1K
  ``3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00 6A``.

TCK is the XOR of every byte after TS (ISO/IEC 7816-3 8.2.5).
"""

from __future__ import annotations

from functools import reduce

import attrs

_HEADER = b"\x3b"
_T0_HIGH = 0x80  # TD1 present, no TA1/TB1/TC1
_TD1 = 0x80  # TD2 present, protocol T=0 in TD1's low nibble
_TD2 = 0x01  # protocol T=1, no more interface bytes
PCSC_RID = bytes.fromhex("A000000306")
# Part 3 table 3-6 (card names); the ones possim knows by name.
STORAGE_CARD_NAMES = {
    0x0001: "MIFARE Classic 1K",
    0x0002: "MIFARE Classic 4K",
    0x0003: "MIFARE Ultralight / NTAG",
    0x0026: "MIFARE Mini",
    0x003A: "MIFARE Ultralight C",
    0x0036: "MIFARE Plus SL1 2K",
    0x0037: "MIFARE Plus SL1 4K",
    0x003B: "FeliCa",
}
# Part 3 table 3-5 (the standard byte SS).
STANDARDS = {0x03: "ISO/IEC 14443 A part 3", 0x11: "FeliCa", 0x07: "ISO/IEC 15693 part 3"}


def _tck(body: bytes) -> int:
    return reduce(lambda a, b: a ^ b, body, 0)


def contactless_atr(historical: bytes) -> bytes:
    """The ATR a PC/SC reader shows for an ISO 14443-4 card with these historical bytes."""
    if len(historical) > 15:
        raise ValueError(f"at most 15 historical bytes, got {len(historical)}")
    body = bytes([_T0_HIGH | len(historical), _TD1, _TD2]) + historical
    return _HEADER + body + bytes([_tck(body)])


def storage_card_atr(name: int, standard: int = 0x03) -> bytes:
    """The ATR a PC/SC reader shows for a storage card (``name``: Part 3 table 3-6)."""
    historical = b"\x80\x4f\x0c" + PCSC_RID + bytes([standard]) + name.to_bytes(2, "big") + bytes(4)
    return contactless_atr(historical)


@attrs.frozen
class ContactlessAtr:
    """What a Part 3 ATR says: a smart card (``storage`` None) or a storage card."""

    historical: bytes
    storage_standard: int | None = None
    storage_name: int | None = None

    @property
    def storage(self) -> bool:
        return self.storage_name is not None

    def describe(self) -> str:
        if self.storage_name is None:
            return "contactless smart card (ISO/IEC 14443-4)"
        name = STORAGE_CARD_NAMES.get(self.storage_name, f"card name {self.storage_name:04X}")
        standard = STANDARDS.get(
            self.storage_standard or 0, f"standard {self.storage_standard:02X}"
        )
        return f"contactless storage card: {name} ({standard})"


def parse_contactless_atr(atr: bytes) -> ContactlessAtr | None:
    """The Part 3 reading of ``atr``; None when it is not a PC/SC contactless ATR
    (another shape, or a wrong TCK)."""
    if len(atr) < 5 or atr[:1] != _HEADER or atr[1] & 0xF0 != _T0_HIGH:
        return None
    count = atr[1] & 0x0F
    if atr[2] != _TD1 or atr[3] != _TD2 or len(atr) != 4 + count + 1:
        return None
    if _tck(atr[1:-1]) != atr[-1]:
        return None
    historical = atr[4:-1]
    if len(historical) == 15 and historical[:3] == b"\x80\x4f\x0c" and historical[3:8] == PCSC_RID:
        return ContactlessAtr(historical, historical[8], int.from_bytes(historical[9:11], "big"))
    return ContactlessAtr(historical)


__all__ = [
    "STORAGE_CARD_NAMES",
    "ContactlessAtr",
    "contactless_atr",
    "parse_contactless_atr",
    "storage_card_atr",
]
