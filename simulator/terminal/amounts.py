"""Amounts: fen <-> text, and amounts spelled out for a speaker.

Speech engines read digit strings badly ("12.34" -> "一二点三四"), so
announcements spell amounts the way a cashier says them: 十二点三四元.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_DIGITS_ZH = "零一二三四五六七八九"
_SMALL_UNITS_ZH = ("", "十", "百", "千")
_BIG_UNITS_ZH = ("", "万", "亿", "万亿")
_AMOUNT_RE = re.compile(r"^\d{1,10}(\.\d{1,2})?$")


def parse_yuan(text: str) -> int:
    """``"12.34"`` -> 1234 fen; raises ValueError with a readable reason."""
    cleaned = text.strip()
    if not _AMOUNT_RE.match(cleaned):
        raise ValueError(f"{text!r} is not an amount in yuan like 12.34 (at most 2 decimals)")
    try:
        return int(Decimal(cleaned) * 100)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None


def format_yuan(fen: int) -> str:
    """1234 -> ``"12.34"``."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def spell_zh(fen: int) -> str:
    """1234 -> 十二点三四元; 100000 -> 一千元; 5 -> 零点零五元."""
    if fen < 0:
        return "负" + spell_zh(-fen)
    yuan, cents = divmod(fen, 100)
    text = _integer_zh(yuan)
    if cents:
        decimals = f"{cents:02d}".rstrip("0")
        text += "点" + "".join(_DIGITS_ZH[int(d)] for d in decimals)
    return text + "元"


def _integer_zh(number: int) -> str:
    if number == 0:
        return _DIGITS_ZH[0]
    groups: list[int] = []
    while number:
        number, group = divmod(number, 10_000)
        groups.append(group)
    parts: list[str] = []
    pending_zero = False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            pending_zero = bool(parts)
            continue
        if parts and (pending_zero or group < 1000):
            parts.append(_DIGITS_ZH[0])
        parts.append(_group_zh(group, leading=not parts) + _BIG_UNITS_ZH[index])
        pending_zero = False
    return "".join(parts)


def _group_zh(group: int, *, leading: bool) -> str:
    """0 < group < 10000, read with 千百十 and inner zeros collapsed."""
    digits = [int(d) for d in f"{group:04d}"]
    out: list[str] = []
    zero = False
    started = False
    for position, digit in enumerate(digits):
        unit = _SMALL_UNITS_ZH[3 - position]
        if digit == 0:
            zero = started
            continue
        if zero:
            out.append(_DIGITS_ZH[0])
            zero = False
        # 10-19 at the head of a number read 十, 十一 ... not 一十.
        if digit == 1 and unit == "十" and leading and not started:
            out.append(unit)
        else:
            out.append(_DIGITS_ZH[digit] + unit)
        started = True
    return "".join(out)
