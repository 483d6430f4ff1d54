"""Card-data hygiene: how PANs, track 2 and PIN material look outside the card.

PANs show the first 6 and last 4 digits; track 2 and PIN blocks never show at
all. Everything that leaves the card reader or the authorisation message for a
log, trace, journal, screen or receipt goes through these helpers.
"""

from __future__ import annotations

import re

_PAN_RE = re.compile(r"^\d{12,19}$")
PIN_MASK = "****"
REDACTED = "[REDACTED]"


def mask_pan(pan: str) -> str:
    """``6212345678901234`` -> ``621234******1234``."""
    digits = pan.strip()
    if not _PAN_RE.match(digits):
        return REDACTED
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def mask_track2(track2: str) -> str:
    """Track 2 equivalent data shows only the masked PAN."""
    pan = re.split(r"[=Dd]", track2, maxsplit=1)[0]
    return f"{mask_pan(pan)}={REDACTED}"


def pin_asterisks(count: int) -> str:
    return "*" * count
