"""What of an ISO 8583 message a trace may show: card data masked or hidden.

The PAN (DE2) shows first 6 / last 4, track 2 (DE35) only its masked PAN, the
ICC data (DE55) as the card trace shows TLV (:func:`drivers.wire.iso7816.redact_tlv`);
track data, PIN blocks and MACs (DE35, 36, 45, 52, 64, 128) never show.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.wire.iso7816 import redact_tlv
from drivers.wire.masking import REDACTED, mask_pan, mask_track2

# Fields that never appear in a trace in clear (PAN is masked instead).
_REDACTED_FIELDS = frozenset({"35", "36", "45", "52", "64", "128"})
_PAN_FIELD = "2"
_TRACK2_FIELD = "35"
_ICC_FIELD = "55"


def redact_field(key: str, value: str) -> str:
    """Field ``key``'s ``value`` as a trace may show it.

    >>> redact_field("2", "6212345678901234"), redact_field("52", "0123456789ABCDEF")
    ('621234******1234', '[REDACTED]')
    >>> redact_field("4", "000000001234")
    '000000001234'
    """
    if key == _ICC_FIELD:
        # Terminals may put PAN or track 2 tags in DE55 too: mask them as the card trace does.
        try:
            return redact_tlv(bytes.fromhex(value))
        except ValueError:
            return REDACTED
    if key == _PAN_FIELD:
        return mask_pan(value)
    if key == _TRACK2_FIELD:
        return mask_track2(value)
    if key in _REDACTED_FIELDS:
        return REDACTED
    return value


def summarize(fields: Mapping[str, str]) -> str:
    """One line for a trace: MTI, STAN, amount, response code; never card data.

    >>> summarize({"t": "0210", "2": "6212345678901234", "4": "000000001234", "11": "000007",
    ...            "39": "00"})
    '0210 STAN 000007 amount 000000001234 PAN 621234******1234 RC 00'
    """
    parts = [fields.get("t", "????")]
    if "11" in fields:
        parts.append(f"STAN {fields['11']}")
    if "4" in fields:
        parts.append(f"amount {fields['4']}")
    if "2" in fields:
        parts.append(f"PAN {mask_pan(fields['2'])}")
    if "37" in fields:
        parts.append(f"RRN {fields['37']}")
    if "39" in fields:
        parts.append(f"RC {fields['39']}")
    return " ".join(parts)
