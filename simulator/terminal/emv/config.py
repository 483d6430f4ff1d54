"""What the terminal brings to a card transaction: its AID list and EMV data."""

from __future__ import annotations

from collections.abc import Callable

import attrs


def _hex_validator(length: int) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{attribute.name} must be hex, got {value!r}") from None
        if len(raw) != length:
            raise ValueError(f"{attribute.name} must be {length} byte(s) of hex, got {value!r}")

    return check


def _aid_validator(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"AID must be hex, got {value!r}") from None
    if not 5 <= len(raw) <= 16:
        raise ValueError(f"AID must be 5-16 bytes, got {value!r}")


@attrs.frozen
class AidEntry:
    """One application the terminal supports."""

    aid: str = attrs.field(validator=_aid_validator)
    partial_match: bool = True  # the card's AID may be longer (ISO 7816-4 partial name)
    app_version: str = attrs.field(default="0030", validator=_hex_validator(2))  # 9F09


UNIONPAY_DEBIT = AidEntry("A000000333010101")
UNIONPAY_CREDIT = AidEntry("A000000333010102")
UNIONPAY_QUASI_CREDIT = AidEntry("A000000333010103")
VISA = AidEntry("A0000000031010", app_version="008C")
MASTERCARD = AidEntry("A0000000041010", app_version="0002")
DEFAULT_AIDS = (UNIONPAY_DEBIT, UNIONPAY_CREDIT, UNIONPAY_QUASI_CREDIT, VISA, MASTERCARD)


@attrs.frozen
class TerminalEmvConfig:
    terminal_country: str = attrs.field(default="0156", validator=_hex_validator(2))  # 9F1A
    currency: str = attrs.field(default="0156", validator=_hex_validator(2))  # 5F2A
    currency_exponent: int = 2  # 5F36
    terminal_type: str = attrs.field(default="22", validator=_hex_validator(1))  # 9F35
    capabilities: str = attrs.field(default="E0F8C8", validator=_hex_validator(3))  # 9F33
    additional_capabilities: str = attrs.field(  # 9F40
        default="F000F0A001", validator=_hex_validator(5)
    )
    ifd_serial: str = "POSSIM01"  # 9F1E, 8 ASCII characters
    aids: tuple[AidEntry, ...] = DEFAULT_AIDS
    floor_limit_fen: int = 0  # 9F1B; 0: every purchase goes online
    # Terminal action codes (the acquirer's half of IACs).
    tac_denial: str = attrs.field(default="0000000000", validator=_hex_validator(5))
    tac_online: str = attrs.field(default="0000000000", validator=_hex_validator(5))
    tac_default: str = attrs.field(default="0000000000", validator=_hex_validator(5))
