r"""Card images: what a virtual EMV card holds, and what follows from it.

A card image is data, not code (``firmware_fixtures/cards/*.yaml``; the format
is described in ``docs/cards.md`` and declared, field by field, in
:mod:`simulator.devices.card_image_yaml`, which reads it and *personalises* the
card: records encoded from the image's fields, the AFL laid out from the
records, each application's ICC master key for AC derived from the issuer
master key with EMV Option A -- exactly what the gateway simulator's issuer does
to check the card's cryptograms).

This module is the model: :class:`CardImage` and its :class:`Application`\ s,
the values derived from them (track 2, the tags a record may take from the
fields, :meth:`CardImage.derived_value`). :mod:`simulator.devices.cards` finds,
loads and caches the catalogue's images.

``chip: false`` makes a card without a (working) chip: it has no ATR and no
applications. With a ``1xx`` service code it is a magnetic-stripe-only card;
with ``2xx`` it is a chip card whose chip is dead, which terminals should read
by fallback swipe.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping
from pathlib import Path

import attrs

from drivers.wire.masking import mask_pan
from drivers.wire.pcsc_atr import contactless_atr
from simulator.wire import cryptogram
from simulator.wire.oda import RsaKey

PSE_SFI = 1
# Contactless kernels by name -> kernel identifier (EMV Book B 3.3.2: 2 Mastercard,
# 3 Visa, 7 UnionPay). qpboc/qvsdc: the "quick" path (the cryptogram in the GPO
# answer); mchip: GPO, records, GENERATE AC as on contact.
KERNEL_IDS = {"mchip": 0x02, "qvsdc": 0x03, "qpboc": 0x07}
QUICK_KERNELS = frozenset({"qvsdc", "qpboc"})


@attrs.frozen
class RecordLayout:
    """One record of an application file: where it lives and which tags it holds."""

    sfi: int
    number: int
    tags: tuple[str, ...]
    oda: bool = False


@attrs.frozen
class Application:
    """One EMV application on the card, personalised."""

    aid: bytes
    label: str
    preferred_name: str | None
    priority: int  # Application Priority Indicator (87), 0 = none
    aip: bytes
    afl: bytes
    pdol: bytes
    cdol1: bytes
    cdol2: bytes
    cvm_list: bytes
    iad: bytes  # template; the card writes its CVR into bytes 3..6
    cryptogram_method: str
    icc_master_key: bytes = attrs.field(repr=False)  # ICC MK for AC (personalised)
    records: Mapping[tuple[int, int], bytes] = attrs.field(repr=False)  # (sfi, n) -> 70 template
    layout: tuple[RecordLayout, ...] = ()
    gpo_response: bytes | None = None  # raw GPO answer overriding the computed one
    blocked: bool = False
    require_issuer_authentication: bool = True
    # Contactless (docs/contactless.md): the kernel the PPSE names (None: not
    # offered over contactless) and the Card Transaction Qualifiers (9F6C).
    kernel: str | None = None
    ctq: bytes = b"\x80\x00"
    # fDDA (simulator.devices.card_oda): the card signs its dynamic data with this key.
    fdda: bool = False
    icc_key: RsaKey | None = attrs.field(default=None, repr=False)

    @property
    def kernel_id(self) -> int | None:
        """The kernel identifier (9F2A) of :attr:`kernel` (EMV Book B, table 3-6)."""
        return None if self.kernel is None else KERNEL_IDS[self.kernel]

    @property
    def aid_hex(self) -> str:
        return self.aid.hex().upper()

    @property
    def method(self) -> cryptogram.CryptogramMethod:
        return cryptogram.method(self.cryptogram_method)


@attrs.frozen
class CardImage:
    name: str
    brand: str
    description: str
    atr: bytes
    protocol: str  # "T=0" (61xx / 6Cxx answers) or "T=1"
    pan: str = attrs.field(repr=False)
    psn: str
    expiry: str  # YYMM
    effective: str  # YYMMDD
    cardholder_name: str = attrs.field(repr=False)
    service_code: str
    track2_discretionary: str = attrs.field(repr=False)
    pin: str = attrs.field(repr=False)
    pin_try_limit: int
    pin_tries_left: int
    issuer_country: str  # ISO 3166 numeric, 4 digits ("0156")
    issuer_currency: str  # ISO 4217 numeric, 4 digits ("0156")
    currency_exponent: int
    language: str
    pse: bool
    atc: int
    blocked: bool
    applications: tuple[Application, ...]  # empty for a card without a chip
    # False: a magnetic-stripe-only card (or one whose chip is dead): no ATR, no
    # answer to any APDU; it can only be swiped (``track2``).
    chip: bool = True
    # Interfaces: contacts (a phone has none) and an antenna (ISO/IEC 14443-4).
    contact: bool = True
    contactless: bool = False
    # The historical bytes of its ATS: the ATR a PC/SC reader makes up (contactless_atr).
    ats_historical: bytes = b"POSSIMCL"
    # A phone wallet: the cardholder verifies on the phone (CDCVM), a tokenised PAN.
    wallet: bool = False
    source: Path | None = None

    # -- derived data -------------------------------------------------------------

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def contactless_atr(self) -> bytes:
        """The ATR a PC/SC reader shows for this card in its field (PC/SC Part 3)."""
        return contactless_atr(self.ats_historical)

    @property
    def expiry_date(self) -> str:
        """5F24 as YYMMDD: the last day of the expiry month."""
        year, month = 2000 + int(self.expiry[:2]), int(self.expiry[2:])
        return f"{self.expiry}{calendar.monthrange(year, month)[1]:02d}"

    @property
    def track2(self) -> str:
        """Track 2 as text (ISO 7813 ``=`` separator), e.g. for ISO 8583 DE35."""
        return f"{self.pan}={self.expiry}{self.service_code}{self.track2_discretionary}"

    def track2_equivalent(self) -> bytes:
        """Tag 57: PAN ``D`` YYMM service code discretionary data, F-padded."""
        digits = self.track2.replace("=", "D")
        if len(digits) % 2:
            digits += "F"
        return bytes.fromhex(digits)

    @staticmethod
    def derivable_tags() -> tuple[str, ...]:
        """The tags :meth:`derived_value` computes from the image's fields."""
        return tuple(_DERIVATIONS)

    def derived_value(self, tag: str, app: Application) -> bytes | None:
        """The value of ``tag`` computed from the image's fields, if it is one."""
        derive = _DERIVATIONS.get(tag)
        return None if derive is None else derive(self, app)

    def application(self, aid: str | bytes) -> Application:
        wanted = aid if isinstance(aid, bytes) else bytes.fromhex(aid)
        for app in self.applications:
            if app.aid == wanted:
                return app
        raise KeyError(f"card image {self.name!r} has no application {wanted.hex().upper()}")


def _pan_bcd(image: CardImage, app: Application) -> bytes:
    digits = image.pan + ("F" if len(image.pan) % 2 else "")
    return bytes.fromhex(digits)


_DERIVATIONS: dict[str, Callable[[CardImage, Application], bytes]] = {
    "57": lambda image, app: image.track2_equivalent(),
    "5A": _pan_bcd,
    "5F20": lambda image, app: image.cardholder_name.encode("ascii"),
    "5F24": lambda image, app: bytes.fromhex(image.expiry_date),
    "5F25": lambda image, app: bytes.fromhex(image.effective),
    "5F28": lambda image, app: bytes.fromhex(image.issuer_country),
    "5F30": lambda image, app: bytes.fromhex("0" + image.service_code),
    "5F34": lambda image, app: bytes.fromhex(image.psn),
    "8C": lambda image, app: app.cdol1,
    "8D": lambda image, app: app.cdol2,
    "8E": lambda image, app: app.cvm_list,
    "9F42": lambda image, app: bytes.fromhex(image.issuer_currency),
    "9F44": lambda image, app: bytes([image.currency_exponent]),
}


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


__all__ = [
    "KERNEL_IDS",
    "PSE_SFI",
    "QUICK_KERNELS",
    "Application",
    "CardImage",
    "RecordLayout",
    "luhn_valid",
]
