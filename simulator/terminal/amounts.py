"""Amounts spelled out for a speaker (fen <-> text is :mod:`simulator.wire.money`).

Speech engines read digit strings badly ("12.34" -> "一二点三四"), so
announcements spell amounts the way a cashier says them: 十二点三四元 in
Chinese, "twelve point three four yuan" in English. The English form mirrors
the Chinese one (the yuan part as a number, then "point" and each decimal
digit, trailing zeros dropped), which is what a Chinese payment speaker's
English mode says; it is not "twelve yuan thirty-four fen".
"""

from __future__ import annotations

_DIGITS_ZH = "零一二三四五六七八九"
_SMALL_UNITS_ZH = ("", "十", "百", "千")
_BIG_UNITS_ZH = ("", "万", "亿", "万亿")
_ONES_EN = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS_EN = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_SCALES_EN = ("", "thousand", "million", "billion", "trillion", "quadrillion")


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


def spell_en(fen: int) -> str:
    """1234 -> "twelve point three four yuan"; 5 -> "zero point zero five yuan".

    Whole numbers in American style without "and" ("one hundred one"), tens
    hyphenated ("thirty-four"); "yuan" has no plural.
    """
    if fen < 0:
        return "minus " + spell_en(-fen)
    yuan, cents = divmod(fen, 100)
    words = [_integer_en(yuan)]
    if cents:
        decimals = f"{cents:02d}".rstrip("0")
        words.append("point")
        words.extend(_ONES_EN[int(d)] for d in decimals)
    words.append("yuan")
    return " ".join(words)


def _integer_en(number: int) -> str:
    if number == 0:
        return _ONES_EN[0]
    if number >= 1000 ** len(_SCALES_EN):
        raise ValueError(f"{number} is too large to spell out")
    parts: list[str] = []
    scale = 0
    while number:
        number, group = divmod(number, 1000)
        if group:
            name = _SCALES_EN[scale]
            parts.append(_group_en(group) + (f" {name}" if name else ""))
        scale += 1
    return " ".join(reversed(parts))


def _group_en(group: int) -> str:
    """0 < group < 1000."""
    hundreds, rest = divmod(group, 100)
    words: list[str] = []
    if hundreds:
        words.append(f"{_ONES_EN[hundreds]} hundred")
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS_EN[tens] + (f"-{_ONES_EN[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES_EN[rest])
    return " ".join(words)
