"""What a request must carry: the field vocabulary and format checks every family shares.

Pure functions of the decoded request (a ``{field: text}`` mapping, ``"t"``
the MTI) and, for the fixed lengths, the codec's spec. A format problem is a
short English sentence naming the field (``"DE11 (STAN) must be 6 digits"``);
a family answers a request with any of them DE39 :data:`FORMAT_ERROR`, the
problems joined in its note.

>>> message_kind({"t": "0200", "3": VOID_OR_REFUND})
'void'
>>> batch_of({"60": "22000123"})
'000123'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from simulator.wire import cryptogram
from simulator.wire.iso8583 import Iso8583Spec

PURCHASE = "000000"
VOID_OR_REFUND = "200000"
PREAUTH = "030000"  # DE3 of a 0100 pre-authorisation (docs/gateway.md)
# DE60.1 message type codes of the pre-authorisation family (CUP style,
# docs/gateway.md): the MTI and DE3 alone do not tell a completion from a sale
# or a completion void from a void.
TYPE_PREAUTH = "10"
TYPE_PREAUTH_VOID = "11"
TYPE_COMPLETION = "20"
TYPE_COMPLETION_VOID = "21"
TYPE_COMPLETION_ADVICE = "24"
PREAUTH_TYPES = (
    TYPE_PREAUTH,
    TYPE_PREAUTH_VOID,
    TYPE_COMPLETION,
    TYPE_COMPLETION_VOID,
    TYPE_COMPLETION_ADVICE,
)
NO_TRANSMISSION_TIME = "0000000000"  # DE7 absent: the key (and DE90) use zeros
CHIP_ENTRY_MODES = ("05", "07")  # contact chip, contactless chip

# DE39 codes the host answers besides APPROVED (simulator.wire.response_codes).
FORMAT_ERROR = "30"
INVALID_TRANSACTION = "12"
INVALID_AMOUNT = "13"
UNKNOWN_CARD = "14"
CRYPTOGRAM_FAILED = "82"
DUPLICATE_TRANSMISSION = "94"
ORIGINAL_NOT_FOUND = "25"
EXCEEDS_AMOUNT = "61"
ORIGINAL_AMOUNT_INCORRECT = "64"

RRN = re.compile(r"^[0-9A-Za-z]{12}$")
_TRACK2_PAN = re.compile(r"^(\d{12,19})[=Dd]")
_PAN = re.compile(r"^\d{12,19}$")


def digits(value: str | None, count: int) -> bool:
    return value is not None and len(value) == count and value.isascii() and value.isdigit()


def hex_bytes(value: str, count: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == count
    except ValueError:
        return False


def fits(spec: Iso8583Spec, key: str, value: str | None) -> bool:
    """Would ``value`` encode as field ``key`` under ``spec``?"""
    field = spec.fields.get(key)
    if value is None or field is None:
        return False
    if field["data_enc"] == "b":
        try:
            length = len(bytes.fromhex(value))
        except ValueError:
            return False
    else:
        if not value.isascii() or not value.isprintable():
            return False
        length = len(value)
    max_len = int(field["max_len"])
    if int(field["len_type"]) == 0:
        return length == max_len
    return 0 < length <= max_len


def message_kind(req: Mapping[str, str]) -> str:
    """sale, void, refund, the pre-auth family, reversal, settle, network or other."""
    mti, code = req.get("t", ""), req.get("3", "")
    family = preauth_type(req)
    if family:
        return {
            TYPE_PREAUTH: "preauth",
            TYPE_PREAUTH_VOID: "preauth_void",
            TYPE_COMPLETION: "preauth_completion",
            TYPE_COMPLETION_VOID: "preauth_completion_void",
            TYPE_COMPLETION_ADVICE: "preauth_completion",
        }[family]
    if mti == "0200":
        return "void" if code == VOID_OR_REFUND else "sale"
    return {
        "0220": "refund",
        "0400": "reversal",
        "0401": "reversal",
        "0500": "settle",
        "0800": "network",
    }.get(mti, "other")


def preauth_type(req: Mapping[str, str]) -> str:
    """DE60.1 when the request is of the pre-authorisation family, else ''.

    A 0100 is always of the family (a pre-auth, or with DE3 200000 its void);
    a 0200/0220 only when DE60.1 says so (20, 21, 24).
    """
    mti, code = req.get("t", ""), req.get("60", "")[:2]
    if mti == "0100":
        return TYPE_PREAUTH_VOID if req.get("3") == VOID_OR_REFUND else TYPE_PREAUTH
    if mti in ("0200", "0220") and code in PREAUTH_TYPES[2:]:
        return code
    return ""


def batch_of(req: Mapping[str, str]) -> str:
    """DE60.2, the terminal's batch number ('' when DE60 is absent or too short)."""
    de60 = req.get("60", "")
    batch = de60[2:8]
    return batch if digits(batch, 6) else ""


def pan_of(req: Mapping[str, str]) -> str | None:
    """DE2, else the PAN at the start of DE35 (track 2); None if neither gives one."""
    if "2" in req:
        return req["2"]
    match = _TRACK2_PAN.match(req.get("35", ""))
    return match.group(1) if match else None


def track2_for_pin(req: Mapping[str, str], icc: Mapping[str, bytes] | None) -> str | None:
    """Track 2 for the PIN offset: DE35, else the chip's tag 57 from DE55."""
    if "35" in req:
        return req["35"]
    if icc is not None and "57" in icc:
        return icc["57"].hex().upper().rstrip("F")
    return None


def common_format_problems(
    req: Mapping[str, str],
    spec: Iso8583Spec,
    extra_digits: tuple[tuple[str, int, str], ...] = (),
) -> list[str]:
    """What every purchase, void and refund request must carry, and how."""
    problems: list[str] = []
    for key, count, name in (
        ("3", 6, "processing code"),
        ("4", 12, "amount"),
        ("11", 6, "STAN"),
        ("49", 3, "currency"),
        *extra_digits,
    ):
        if not digits(req.get(key), count):
            problems.append(f"DE{key} ({name}) must be {count} digits")
    if "7" in req and not digits(req["7"], 10):
        problems.append("DE7 (transmission date-time) must be 10 digits")
    if not fits(spec, "41", req.get("41")):
        problems.append("DE41 (terminal id) must be 8 characters")
    if not fits(spec, "42", req.get("42")):
        problems.append("DE42 (merchant id) must be 15 characters")
    return problems


def pan_problems(req: Mapping[str, str]) -> list[str]:
    """DE2 and DE35: at least one, well-formed, and naming the same card."""
    pan = req.get("2")
    track2 = req.get("35")
    if pan is None and track2 is None:
        return ["DE2 (PAN) or DE35 (track 2) is required"]
    if pan is not None and not (pan.isascii() and _PAN.match(pan)):
        return ["DE2 (PAN) must be 12-19 digits"]
    if track2 is not None:
        match = _TRACK2_PAN.match(track2) if track2.isascii() else None
        if match is None:
            return ["DE35 (track 2) does not start with a PAN and a separator"]
        if pan is not None and match.group(1) != pan:
            return ["DE35 (track 2) and DE2 (PAN) disagree"]
    return []


def icc_data(de55: str | None) -> tuple[dict[str, bytes] | None, list[str]]:
    """DE55's tags (None if absent or unusable) and what is wrong with them."""
    if de55 is None:
        return None, []
    try:
        data = bytes.fromhex(de55)
    except ValueError:
        return None, ["DE55 (ICC data) is not binary data"]
    try:
        tags = tlv.decode_flat(data)
    except EmvDataError as exc:
        return None, [f"DE55 (ICC data): {exc}"]
    needed = ("9F26", *cryptogram.AC_INPUT_TAGS, "9F10")
    missing = [tag for tag in needed if tag not in tags]
    if missing:
        return None, [f"DE55 (ICC data) lacks tag(s) {', '.join(missing)}"]
    if len(tags["9F26"]) != 8:
        return None, ["DE55 tag 9F26 (ARQC) must be 8 bytes"]
    return tags, []
