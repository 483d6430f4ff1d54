"""Amounts spelled out for the speaker, in Chinese and English, over the whole
range the terminal accepts (0.01 to 9999999999.99 yuan).

The property tests read the spoken text back with small independent readers
written here (not the code under test), so a wrong word order or a lost unit
fails them.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.terminal.amounts import spell_en, spell_zh
from simulator.wire.money import MAX_FEN, MIN_FEN, format_yuan, parse_yuan

AMOUNTS = st.integers(min_value=MIN_FEN, max_value=MAX_FEN)

_ZH_DIGITS = {c: i for i, c in enumerate("零一二三四五六七八九")}
_ZH_SMALL = {"十": 10, "百": 100, "千": 1000}


def read_zh(spoken: str) -> int:
    """十二点三四元 -> 1234 (fen)."""
    assert spoken.endswith("元"), spoken
    body = spoken[:-1]
    whole, _, decimals = body.partition("点")
    total = section = digit = 0
    for char in whole:
        if char in _ZH_DIGITS:
            digit = _ZH_DIGITS[char]
        elif char in _ZH_SMALL:
            section += (digit or 1) * _ZH_SMALL[char]
            digit = 0
        elif char == "亿":
            total = (total + section + digit) * 10**8
            section = digit = 0
        elif char == "万":
            total += (section + digit) * 10**4
            section = digit = 0
        else:
            raise AssertionError(f"unexpected {char!r} in {spoken!r}")
    yuan = total + section + digit
    assert len(decimals) <= 2, spoken
    cents = int("".join(str(_ZH_DIGITS[c]) for c in decimals).ljust(2, "0")) if decimals else 0
    return yuan * 100 + cents


_EN_ONES = {
    w: i
    for i, w in enumerate(
        [
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
    )
}
_EN_TENS = {
    w: 10 * i
    for i, w in enumerate(
        ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
    )
    if w != "_"
}
_EN_SCALES = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def read_en(spoken: str) -> int:
    """ "twelve point three four yuan" -> 1234 (fen)."""
    words = spoken.split()
    assert words[-1] == "yuan", spoken
    words = words[:-1]
    if "point" in words:
        at = words.index("point")
        words, decimals = words[:at], words[at + 1 :]
    else:
        decimals = []
    total = group = 0
    last_scale = 10**12
    for word in words:
        if word in _EN_SCALES:
            scale = _EN_SCALES[word]
            assert 0 < group < 1000 and scale < last_scale, spoken
            total += group * scale
            group, last_scale = 0, scale
        elif word == "hundred":
            assert 0 < group < 10, spoken
            group *= 100
        elif "-" in word:
            tens, ones = word.split("-")
            assert ones in _EN_ONES and 0 < _EN_ONES[ones] < 10, spoken
            group += _EN_TENS[tens] + _EN_ONES[ones]
        elif word in _EN_TENS:
            group += _EN_TENS[word]
        else:
            group += _EN_ONES[word]
    yuan = total + group
    assert len(decimals) <= 2 and all(_EN_ONES[d] < 10 for d in decimals), spoken
    cents = int("".join(str(_EN_ONES[d]) for d in decimals).ljust(2, "0")) if decimals else 0
    return yuan * 100 + cents


def test_the_range_is_what_the_terminal_parses() -> None:
    assert parse_yuan("0.01") == MIN_FEN
    assert parse_yuan("9999999999.99") == MAX_FEN
    with pytest.raises(ValueError):
        parse_yuan("10000000000.00")
    # The contract and DE4 carry the amount as 12 digits of fen.
    assert len(f"{MAX_FEN:012d}") == 12


@pytest.mark.parametrize(
    ("fen", "spoken"),
    [
        (1234, "twelve point three four yuan"),
        (880, "eight point eight yuan"),
        (5, "zero point zero five yuan"),
        (1, "zero point zero one yuan"),
        (100, "one yuan"),
        (2100, "twenty-one yuan"),
        (10100, "one hundred one yuan"),
        (101000, "one thousand ten yuan"),
        (100000000, "one million yuan"),
        (
            MAX_FEN,
            "nine billion nine hundred ninety-nine million nine hundred ninety-nine thousand "
            "nine hundred ninety-nine point nine nine yuan",
        ),
        (-1234, "minus twelve point three four yuan"),
    ],
)
def test_english_amounts(fen: int, spoken: str) -> None:
    assert spell_en(fen) == spoken


@given(AMOUNTS)
def test_chinese_spelling_reads_back_to_the_amount(fen: int) -> None:
    spoken = spell_zh(fen)
    assert read_zh(spoken) == fen
    assert not re.search(r"[0-9A-Za-z]", spoken)
    assert "零零" not in spoken
    assert not spoken.startswith("一十")


@given(AMOUNTS)
def test_english_spelling_reads_back_to_the_amount(fen: int) -> None:
    spoken = spell_en(fen)
    assert read_en(spoken) == fen
    assert re.fullmatch(r"[a-z -]+", spoken), spoken
    assert "  " not in spoken and " and " not in f" {spoken} "


@given(AMOUNTS)
def test_both_languages_agree_on_the_decimals(fen: int) -> None:
    # "点" and "point" appear exactly when there are fen, with the same digits.
    assert ("点" in spell_zh(fen)) == ("point" in spell_en(fen)) == (fen % 100 != 0)
    assert parse_yuan(format_yuan(fen)) == fen
