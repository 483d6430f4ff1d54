"""Card-data hygiene: how PANs, track 2, PIN material and payment codes look outside the card.

PANs show the first 6 and last 4 digits; track 2 and PIN blocks never show at
all; a customer's payment code (a wallet's QR or bar code) shows its last 4
digits. Everything that leaves the card reader, the scanner or the
authorisation message for a log, trace, journal, screen or receipt goes
through these helpers.
"""

from __future__ import annotations

import re

_PAN_RE = re.compile(r"^\d{12,19}$")
PIN_MASK = "****"
REDACTED = "[REDACTED]"


def mask_pan(pan: str) -> str:
    """A PAN as a receipt may print it; anything that is not a PAN is ``[REDACTED]``.

    >>> mask_pan("6212345678901234")
    '621234******1234'
    >>> mask_pan("1234")
    '[REDACTED]'
    """
    digits = pan.strip()
    if not _PAN_RE.match(digits):
        return REDACTED
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def mask_track2(track2: str) -> str:
    """Track 2 equivalent data shows only the masked PAN.

    >>> mask_track2("6212345678901234D30122011234567800000")
    '621234******1234=[REDACTED]'
    """
    pan = re.split(r"[=Dd]", track2, maxsplit=1)[0]
    return f"{mask_pan(pan)}={REDACTED}"


def mask_code(code: str) -> str:
    """A customer's payment code shows only its last four digits.

    >>> mask_code("134567890123456789")
    '**************6789'
    """
    return "*" * max(0, len(code) - 4) + code[-4:]


def pin_asterisks(count: int) -> str:
    """What a PIN pad's screen shows for ``count`` digits typed.

    >>> pin_asterisks(4)
    '****'
    """
    return "*" * count
