from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.terminal.amounts import spell_zh
from simulator.wire.money import format_yuan, parse_yuan


@pytest.mark.parametrize(
    ("fen", "spoken"),
    [
        (1234, "十二点三四元"),
        (880, "八点八元"),
        (5, "零点零五元"),
        (100, "一元"),
        (1000, "十元"),
        (101000, "一千零一十元"),
        (100500, "一千零五元"),
        (1000100, "一万零一元"),
        (12345678, "十二万三千四百五十六点七八元"),
        (1000000000, "一千万元"),
        (10000000000, "一亿元"),
        (0, "零元"),
    ],
)
def test_amounts_are_spelled_as_a_cashier_says_them(fen: int, spoken: str) -> None:
    assert spell_zh(fen) == spoken


@given(st.integers(min_value=0, max_value=10**12))
def test_spelling_never_contains_digits_or_doubled_zero(fen: int) -> None:
    spoken = spell_zh(fen)
    assert not any(ch.isdigit() for ch in spoken if ch.isascii())
    assert "零零" not in spoken
    assert spoken.endswith("元")


@given(st.integers(min_value=0, max_value=10**10))
def test_format_and_parse_round_trip(fen: int) -> None:
    assert parse_yuan(format_yuan(fen)) == fen


@pytest.mark.parametrize("text", ["", "12.345", "abc", "-1", "1e3", "12,34"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_yuan(text)
