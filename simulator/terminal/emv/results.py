"""What the kernel hands back to the acquiring app, step by step."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

import attrs

from drivers.wire.masking import mask_pan
from simulator.terminal.emv.constants import cid_kind


@attrs.frozen
class CardData:
    """What the card told the terminal about itself. ``pan``/``track2`` never print."""

    aid: str
    label: str
    pan: str = attrs.field(repr=False)
    expiry: str  # YYMM
    psn: str  # 2 digits; "00" when the card has none (EMV Option A's default)
    track2: str = attrs.field(repr=False)  # ISO 7813 text, "=" separator (DE35)
    cardholder_name: str = attrs.field(repr=False)
    service_code: str
    preferred_name: str | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)


@attrs.frozen
class ApplicationChoice:
    """One line of the cardholder's application menu (in priority order)."""

    aid: str
    label: str  # preferred name (9F12), else label (50), else the AID
    priority: int  # Application Priority Indicator (87), 0 = none


# Shown the menu, returns the index of the application the cardholder picked.
ApplicationChooser = Callable[[Sequence[ApplicationChoice]], int]


@attrs.frozen
class PinRequest:
    """Passed to the PIN source each time a PIN is needed."""

    tries_left: int | None  # from the card's PIN try counter; None if unknown
    retry: bool  # the previous PIN was wrong
    online: bool = False  # an online (enciphered) PIN, not checked by the card


PinSource = Callable[[PinRequest], str]


class CvmOutcome(enum.Enum):
    OFFLINE_PIN = "offline_pin"
    ONLINE_PIN = "online_pin"
    SIGNATURE = "signature"
    NO_CVM = "no_cvm"
    FAILED = "failed"


@attrs.frozen
class CvmResult:
    outcome: CvmOutcome
    online_pin: str | None = attrs.field(default=None, repr=False)
    signature_required: bool = False  # also true for "plaintext PIN and signature"


@attrs.frozen
class FirstAc:
    cid: int  # 9F27: 0x80 ARQC, 0x40 TC, 0x00 AAC (bits 8-7)
    cryptogram: bytes
    atc: bytes
    icc_data: dict[str, bytes]  # tags for ISO 8583 DE55, in DE55 order

    @property
    def kind(self) -> str:
        return cid_kind(self.cid)


@attrs.frozen
class SecondAc:
    cid: int
    approved: bool  # the card answered TC
    issuer_authentication: bool | None  # None: no issuer authentication data
    cryptogram: bytes = b""
    atc: bytes = b""

    @property
    def kind(self) -> str:
        return cid_kind(self.cid)
