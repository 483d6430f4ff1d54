"""Track 2 as the magnetic stripe reader (or DE35) carries it: ISO 7813 text,
``PAN=YYMM`` + service code + discretionary data.

The service code's digits decide the terminal's magstripe rules (docs/emv.md):
first digit 2 or 6 = the card has a chip (insert it, unless the chip already
failed: fallback); third digit 0, 3 or 5 = PIN required.
"""

from __future__ import annotations

import re

import attrs

from drivers.wire.masking import mask_pan

_TRACK2 = re.compile(r"^(\d{12,19})[=Dd](\d{4})(\d{3})(\d*)$")
CHIP_SERVICE_CODES = frozenset("26")  # first digit: IC card (international / national)
PIN_SERVICE_CODES = frozenset("035")  # third digit: PIN required
# Mainland acquirers ask for a PIN on every UnionPay (BIN 62) magstripe and
# fallback transaction: debit cannot be told from credit without a BIN table.
UNIONPAY_PREFIX = "62"
MAX_LENGTH = 37  # ISO 7813 / ISO 8583 DE35


@attrs.frozen
class Track2:
    text: str = attrs.field(repr=False)
    pan: str = attrs.field(repr=False)
    expiry: str  # YYMM
    service_code: str

    @classmethod
    def parse(cls, text: str) -> Track2 | None:
        """The track, or None if the stripe did not read as ISO 7813 track 2."""
        if len(text) > MAX_LENGTH or not text.isascii():
            return None
        match = _TRACK2.match(text)
        if match is None:
            return None
        pan, expiry, service_code, _ = match.groups()
        return cls(text.replace("D", "=").replace("d", "="), pan, expiry, service_code)

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def has_chip(self) -> bool:
        return self.service_code[0] in CHIP_SERVICE_CODES

    @property
    def pin_required(self) -> bool:
        return self.service_code[2] in PIN_SERVICE_CODES or self.pan.startswith(UNIONPAY_PREFIX)
