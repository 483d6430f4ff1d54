"""Fees to the fen: the rounding rule, refunds returning their share, profiles as data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from backoffice_helpers import MID, a_day, mixed_day, today
from hypothesis import given
from hypothesis import strategies as st

from simulator.errors import FixtureError
from simulator.gateway.backoffice.entries import PAYMENT, REFUND, Entry
from simulator.gateway.backoffice.fees import Profiles, line_fee, totals
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.statements import open_ledger
from simulator.wire.money import (
    fee_fen,
    format_yuan,
    parse_rate,
    parse_signed_yuan,
    refund_fee_fen,
    show_rate,
)

RATE = Decimal("0.006")


def test_fee_rounds_half_up_to_the_fen_not_to_even() -> None:
    assert fee_fen(750, RATE) == 5  # 4.5 fen: half-up 5 (banker's rounding would say 4)
    assert fee_fen(250, RATE) == 2  # 1.5
    assert fee_fen(749, RATE) == 4  # 4.494
    assert fee_fen(1234, parse_rate("0.38%")) == 5  # 4.6892
    assert fee_fen(131, parse_rate("0.38%")) == 0  # 0.4978: a small payment pays no fee
    assert fee_fen(0, RATE) == 0


def test_refund_returns_the_drop_in_the_remaining_fee() -> None:
    assert fee_fen(1000, RATE) == 6
    first = refund_fee_fen(1000, 0, 250, RATE)  # 6 - fee(750) = 6 - 5
    second = refund_fee_fen(1000, 250, 750, RATE)  # 5 - fee(0)
    assert (first, second) == (1, 5)
    assert first + second == fee_fen(1000, RATE)


@given(
    amount=st.integers(1, 10**9),
    cuts=st.lists(st.integers(1, 10**9), max_size=6),
    rate=st.sampled_from(["0.38%", "0.6%", "0.25%", "0.2%", "1%", "0.0001%"]),
)
def test_refunds_of_a_payment_leave_exactly_the_fee_of_what_is_left(
    amount: int, cuts: list[int], rate: str
) -> None:
    rate_value = parse_rate(rate)
    refunded, returned = 0, 0
    for cut in cuts:
        refund = min(cut, amount - refunded)
        if refund == 0:
            break
        returned += refund_fee_fen(amount, refunded, refund, rate_value)
        refunded += refund
    assert fee_fen(amount, rate_value) - returned == fee_fen(amount - refunded, rate_value)


def test_money_text_both_ways() -> None:
    assert (format_yuan(1234), format_yuan(-5), format_yuan(0), format_yuan(100)) == (
        "12.34",
        "-0.05",
        "0.00",
        "1.00",
    )
    assert parse_signed_yuan("-0.05") == -5
    assert parse_rate("0.38%") == Decimal("0.0038")
    assert show_rate(Decimal("0.0038")) == "0.38%"
    assert show_rate(Decimal("0.006")) == "0.60%"
    for bad in ("1.2", "1,00", "abc", ""):
        with pytest.raises(ValueError):
            parse_signed_yuan(bad)
    for bad in ("0.38", "-1%", "0.123456%", "x%"):
        with pytest.raises(ValueError):
            parse_rate(bad)
    with pytest.raises(ValueError):
        refund_fee_fen(100, 60, 50, RATE)


def test_the_three_profiles_and_the_merchant_assignment() -> None:
    profiles = Profiles.load()
    assert set(profiles.profiles) == {"small_shop", "fuel_station", "chain_store"}
    assert profiles.for_merchant(MID).name == "small_shop"
    assert profiles.for_merchant("unknown-merchant").name == profiles.default
    fuel = profiles.for_merchant(MID, "fuel_station")
    assert fuel.rates["card"] == Decimal("0.004") and fuel.costs["card"] == Decimal("0.0035")
    for profile in profiles.profiles.values():
        assert all(profile.costs[ch] <= profile.rates[ch] for ch in profile.rates)
    with pytest.raises(FixtureError, match="no merchant profile named 'nope'"):
        profiles.for_merchant(MID, "nope")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ('wechat: "0.38"', r"profiles\[0\]\.rates\.wechat: '0.38' is not a rate"),
        ('wechat: "0.10%"', "the wechat cost is above its merchant rate"),
    ],
)
def test_a_bad_profile_names_file_line_and_field(tmp_path: Path, change: str, message: str) -> None:
    text = (
        "default_profile: p\n"
        "profiles:\n"
        "  - name: p\n"
        f'    rates: {{{change}, alipay: "0.38%", unionpay_qr: "0.38%", card: "0.6%"}}\n'
        '    costs: {wechat: "0.2%", alipay: "0.2%", unionpay_qr: "0.2%", card: "0.5%"}\n'
    )
    path = tmp_path / "profiles.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FixtureError, match=message) as caught:
        Profiles.load(path)
    assert f"{path}:" in str(caught.value)
    assert caught.value.line in (3, 4)
    path.write_text(text.replace(change, 'wechat: "0.38%"'), encoding="utf-8")
    assert Profiles.load(path).profiles["p"].rates["wechat"] == Decimal("0.0038")


def test_unknown_profile_assignment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "profiles.yaml"
    source = Path("firmware_fixtures/gateway/merchant_profiles.yaml").read_text(encoding="utf-8")
    path.write_text(source.replace('"898310048990001": small_shop', '"1": corner'), "utf-8")
    with pytest.raises(FixtureError, match="no profile named 'corner'"):
        Profiles.load(path)


def _line(kind: str, amount: int, **extra: object) -> Entry:
    fields: dict[str, object] = {
        "channel": "wechat",
        "kind": kind,
        "ref": "R",
        "order": "O",
        "amount_fen": amount,
        "at": "2026-01-15T10:00:00",
        **extra,
    }
    return Entry(**fields)  # type: ignore[arg-type]


def test_line_fee_signs_and_reversals() -> None:
    assert line_fee(_line(PAYMENT, 1234), RATE) == 7
    assert line_fee(_line(PAYMENT, 1234, reversed=True), RATE) == 0
    refund = _line(REFUND, 250, original_fen=1000, refunded_before_fen=0)
    assert line_fee(refund, RATE) == -1
    assert line_fee(_line(REFUND, 750, original_fen=0), RATE) == -5  # its payment unknown


def test_day_totals_fee_cost_margin_to_the_fen(tmp_path: Path) -> None:
    with a_day(tmp_path / "ledger.sqlite") as day:
        mixed_day(day)
    db = open_ledger(tmp_path / "ledger.sqlite")
    profile = Profiles.load().for_merchant(MID)
    figures = totals(day_entries(db, today(), MID), profile)
    db.close()
    # small_shop: QR 0.38% (cost 0.20%, UnionPay QR 0.25%), card 0.60% (cost 0.45%).
    # wechat: 12.34 -> 5 / 2; 9.99 -> 4 / 2; refund 5.00 of 12.34: fee(12.34)-fee(7.34)
    # = 5-3 = 2 returned / cost 2-1 = 1 returned
    assert (figures["wechat"].fee_fen, figures["wechat"].cost_fen) == (5 + 4 - 2, 2 + 2 - 1)
    # alipay: 45.67 -> 17 / 9; 2.50 revoked: nothing
    assert (figures["alipay"].fee_fen, figures["alipay"].cost_fen) == (17, 9)
    # unionpay_qr: 88.00 fully refunded in two steps: every fen of fee returned
    assert (figures["unionpay_qr"].fee_fen, figures["unionpay_qr"].cost_fen) == (0, 0)
    # card: 100.00 -> 60/45; 29.99 voided -> 0; 77.77 - 11.11 = 66.66 -> 40/30; 42.00 reversed
    assert (figures["card"].fee_fen, figures["card"].cost_fen) == (60 + 40, 45 + 30)
    total = figures["total"]
    assert total.volume_fen == 1733 + 4567 + 0 + 10000 + 6666
    assert total.margin_fen == total.fee_fen - total.cost_fen == (7 + 17 + 100) - (3 + 9 + 75)
