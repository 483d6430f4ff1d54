"""The service providers' books for a month of generated trading (seeded, on a
virtual clock): the official provider's monthly rebate and the bank provider's
daily rebates equal the seed's formulas computed independently, to the fen,
and the merchant's T+1 deposits reconcile with what the channels settled.

The oracle here does not use possim's money code: it computes from the
generator's own record of what it traded (tests/month_trading.py), not from
the ledger, with exact fractions and its own half-up rounding.
"""

from __future__ import annotations

import math
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pytest
from backoffice_helpers import MID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from month_trading import Line, generate_month

from simulator.cli import main
from simulator.errors import FixtureError
from simulator.fixture_fields import reference_table
from simulator.gateway.backoffice.deposits import MATCHED, day_deposits
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.fees import Profiles
from simulator.gateway.backoffice.providers import (
    INCENTIVE_FIELDS,
    MERCHANT_FIELDS,
    PROVIDER_FIELDS,
    Providers,
)
from simulator.gateway.backoffice.rebates import (
    bank_statement,
    month_statements,
    official_statement,
    rebate_fen,
)
from simulator.gateway.backoffice.statements import open_ledger

YEAR, MONTH, DAYS = 2026, 3, 31

# -- the oracle: the seed's formulas, exactly -------------------------------------------


def half_up(value: Fraction) -> int:
    """To the fen, half away from zero (docs/backoffice.md's rule, restated)."""
    magnitude = math.floor(abs(value) + Fraction(1, 2))
    return -magnitude if value < 0 else magnitude


def percent(text: str) -> Fraction:
    return Fraction(text.rstrip("%")) / 100


def net(line: Line) -> int:
    if line.is_payment:
        return 0 if line.undone else line.amount_fen
    return -line.amount_fen


def fee(line: Line, rate: Fraction) -> int:
    """The merchant's fee of a line: on a payment its amount x rate; a refund returns
    what the fee of the remaining amount drops by."""
    if line.is_payment:
        return 0 if line.undone else half_up(line.amount_fen * rate)
    before = line.payment_fen - line.refunded_before_fen
    return -(half_up(before * rate) - half_up((before - line.amount_fen) * rate))


def rebate(lines: Iterable[Line], merchant_rate: Fraction, provider_rate: Fraction) -> int:
    return half_up(sum(net(line) for line in lines) * (merchant_rate - provider_rate))


# -- the data: rates drawn, written as the fixture files -------------------------------


def rate_text(hundredths_of_a_basis_point: int) -> str:
    """0..9999 -> "0.0000%".."0.9999%" (four decimals: parse_rate's most)."""
    return f"0.{hundredths_of_a_basis_point:04d}%"


# Coarse rates too: with them volume x rate often lands on half a fen, where the
# rounding rule shows.
rates = st.one_of(
    st.integers(1, 9999).map(rate_text), st.sampled_from(["0.05%", "0.5%", "0.25%", "1%", "0.1%"])
)
yuan = st.integers(0, 50_000).map(lambda fen: f"{fen // 100}.{fen % 100:02d}")


def write_profiles(folder: Path, merchant_rates: dict[str, str]) -> Path:
    path = folder / "profiles.yaml"
    rates_text = ", ".join(f'{ch}: "{r}"' for ch, r in merchant_rates.items())
    zero = ", ".join(f'{ch}: "0%"' for ch in CHANNELS)
    path.write_text(
        "default_profile: drawn\nprofiles:\n  - name: drawn\n"
        f"    rates: {{{rates_text}}}\n    costs: {{{zero}}}\n",
        encoding="utf-8",
    )
    return path


def write_providers(
    folder: Path,
    official: dict[str, str],
    incentive: tuple[str, str, str, str | None],
    bank: dict[str, str],
    merchant_provider: str,
) -> Path:
    channel, extra, minimum, cap = incentive
    cap_line = f'        monthly_cap: "{cap}"\n' if cap is not None else ""
    path = folder / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - name: official\n    type: official\n"
        f"    channel_costs: {{{', '.join(f'{c}: {r!r}' for c, r in official.items())}}}\n"
        "    incentives:\n"
        f"      - name: programme\n        channel: {channel}\n"
        f'        extra_rate: "{extra}"\n        min_payment: "{minimum}"\n{cap_line}'
        "  - name: bank\n    type: bank\n"
        f"    agreed_rates: {{{', '.join(f'{c}: {r!r}' for c, r in bank.items())}}}\n"
        f'merchants:\n  "{MID}": {{provider: {merchant_provider}, account: personal}}\n',
        encoding="utf-8",
    )
    return path


@st.composite
def books(draw: st.DrawFn) -> dict[str, object]:
    official_channels = draw(st.lists(st.sampled_from(CHANNELS), min_size=1, unique=True))
    return {
        "seed": draw(st.integers(0, 2**32 - 1)),
        "merchant_rates": {ch: draw(rates) for ch in CHANNELS},
        "official": {ch: draw(rates) for ch in official_channels},
        "bank": {ch: draw(rates) for ch in CHANNELS},
        "incentive": (
            draw(st.sampled_from(official_channels)),
            draw(rates),
            draw(yuan),
            draw(st.none() | yuan),
        ),
        "merchant_provider": draw(st.sampled_from(("official", "bank"))),
    }


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() in (5, 6):
        day += timedelta(days=1)
    return day


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=books())
def test_a_month_of_rebates_and_deposits_to_the_fen(case: dict[str, object]) -> None:
    merchant_rates: dict[str, str] = case["merchant_rates"]  # type: ignore[assignment]
    official: dict[str, str] = case["official"]  # type: ignore[assignment]
    bank: dict[str, str] = case["bank"]  # type: ignore[assignment]
    incentive: tuple[str, str, str, str | None] = case["incentive"]  # type: ignore[assignment]
    provider_name = str(case["merchant_provider"])
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        lines = generate_month(folder / "ledger.sqlite", int(str(case["seed"])), YEAR, MONTH, DAYS)
        profiles = Profiles.load(write_profiles(folder, merchant_rates))
        providers = Providers.load(
            write_providers(folder, official, incentive, bank, provider_name)
        )
        db = open_ledger(folder / "ledger.sqlite")
        try:
            _check_rebates(db, lines, providers, profiles, case)
            _check_deposits(db, lines, providers, profiles, merchant_rates)
        finally:
            db.close()


def _check_rebates(
    db: sqlite3.Connection,
    lines: list[Line],
    providers: Providers,
    profiles: Profiles,
    case: dict[str, object],
) -> None:
    merchant_rates: dict[str, str] = case["merchant_rates"]  # type: ignore[assignment]
    official: dict[str, str] = case["official"]  # type: ignore[assignment]
    bank: dict[str, str] = case["bank"]  # type: ignore[assignment]
    channel, extra, minimum, cap = case["incentive"]  # type: ignore[misc]
    mine = str(case["merchant_provider"])
    month = official_statement(db, providers, "official", YEAR, MONTH, profiles)
    assert month.paid_on == next_weekday(date(YEAR, MONTH, DAYS))
    expected: dict[str, tuple[int, int]] = {}
    if mine == "official":
        for ch, cost in official.items():
            of_channel = [line for line in lines if line.channel == ch]
            if not of_channel:
                continue
            bonus = 0
            if ch == channel:
                floor = int(Fraction(minimum) * 100)
                qualifying = sum(net(ln) for ln in of_channel if ln.payment_fen >= floor)
                bonus = max(0, half_up(qualifying * percent(extra)))
                if cap is not None:
                    bonus = min(bonus, int(Fraction(cap) * 100))
            base = rebate(of_channel, percent(merchant_rates[ch]), percent(cost))
            expected[ch] = (base, bonus)
    got = {row.channel: (row.rebate_fen, sum(f for _, f in row.incentives)) for row in month.rows}
    assert got == expected
    assert month.total_fen == sum(a + b for a, b in expected.values())

    daily_expected: dict[tuple[date, str], int] = {}
    if mine == "bank":
        by_day: dict[tuple[date, str], list[Line]] = defaultdict(list)
        for line in lines:
            by_day[line.day, line.channel].append(line)
        for (day, ch), of_day in by_day.items():
            daily_expected[day, ch] = rebate(of_day, percent(merchant_rates[ch]), percent(bank[ch]))
    daily: dict[tuple[date, str], int] = {}
    for number in range(1, DAYS + 1):
        statement = bank_statement(db, providers, "bank", date(YEAR, MONTH, number), profiles)
        assert statement.paid_on == next_weekday(date(YEAR, MONTH, number))
        daily.update(
            {(date(YEAR, MONTH, number), row.channel): row.total_fen for row in statement.rows}
        )
    assert daily == daily_expected
    bank_month = month_statements(db, providers, "bank", YEAR, MONTH, profiles)
    assert sum(s.total_fen for s in bank_month) == sum(daily_expected.values())


def _check_deposits(
    db: sqlite3.Connection,
    lines: list[Line],
    providers: Providers,
    profiles: Profiles,
    merchant_rates: dict[str, str],
) -> None:
    profile = profiles.for_merchant(MID)
    assignment = providers.merchants[MID]
    expected: dict[tuple[date, str], int] = defaultdict(int)
    for line in lines:
        expected[line.day, line.channel] += net(line) - fee(
            line, percent(merchant_rates[line.channel])
        )
    deposits = [
        d
        for number in range(1, DAYS + 1)
        for d in day_deposits(db, date(YEAR, MONTH, number), MID, profile, assignment)
    ]
    assert {(d.business_day, d.channel): d.expected_fen for d in deposits} == dict(expected)
    assert all(d.status == MATCHED and d.actual_fen == d.expected_fen for d in deposits)
    assert all(d.value_date == next_weekday(d.business_day) for d in deposits)
    assert {d.account for d in deposits} <= {"personal"}


def test_rebates_round_half_up_once_per_row() -> None:
    # 900 fen x 0.05% = 0.45 fen -> 0; 1100 fen x 0.05% = 0.55 -> 1;
    # 1000 fen x (0.30% - 0.25%) = 0.5 fen -> 1 (half-even would say 0), -1000 -> -1.
    assert rebate_fen(900, Decimal("0.0005"), Decimal(0)) == 0
    assert rebate_fen(1100, Decimal("0.0005"), Decimal(0)) == 1
    assert rebate_fen(1000, Decimal("0.003"), Decimal("0.0025")) == 1
    assert rebate_fen(-1000, Decimal("0.003"), Decimal("0.0025")) == -1
    assert rebate_fen(3000, Decimal("0.003"), Decimal("0.0025")) == 2  # 1.5 -> 2
    # once per row: three lines of 10.00 give 1.5 fen -> 2, not 3 x 0.5 -> 3
    assert rebate_fen(3 * 1000, Decimal("0.003"), Decimal("0.0025")) != 3 * rebate_fen(
        1000, Decimal("0.003"), Decimal("0.0025")
    )


def test_a_deposit_the_channel_got_wrong_is_named(tmp_path: Path) -> None:
    lines = generate_month(tmp_path / "ledger.sqlite", 7, YEAR, MONTH, DAYS)
    day = next(line.day for line in lines if line.channel == "wechat")
    profile = Profiles.load().for_merchant(MID)  # small_shop: WeChat at 0.38%
    extra = StatementFault("wechat", "channel_only", "EXTRA1", 1000)
    db = open_ledger(tmp_path / "ledger.sqlite")
    try:
        clean = {d.channel: d for d in day_deposits(db, day, MID, profile)}
        faulted = {d.channel: d for d in day_deposits(db, day, MID, profile, faults=[extra])}
    finally:
        db.close()
    assert clean["wechat"].status == MATCHED
    wrong = faulted["wechat"]
    # the channel paid for a RMB 10.00 payment the platform never saw: 10.00 less its fee 0.04
    assert (wrong.status, wrong.difference_fen) == ("over", 1000 - 4)
    assert wrong.expected_fen == clean["wechat"].expected_fen
    assert all(faulted[ch] == clean[ch] for ch in clean if ch != "wechat")


def test_the_shipped_providers() -> None:
    providers = Providers.load()
    official = providers.get("official_wechat_alipay")
    assert (official.type, official.channels) == ("official", ("wechat", "alipay"))
    assert {i.channel for i in official.incentives} == {"wechat", "alipay"}
    bank = providers.get("bank_icbc_branch")
    assert (bank.type, bank.channels) == ("bank", CHANNELS)
    assert providers.merchants[MID].provider == official.name
    assert {a.account for a in providers.merchants.values()} == {"company", "personal"}


GOOD = (
    "providers:\n"
    "  - name: o\n"
    "    type: official\n"
    '    channel_costs: {wechat: "0.20%"}\n'
    "    incentives:\n"
    "      - name: p\n"
    "        channel: wechat\n"
    '        extra_rate: "0.05%"\n'
    "merchants:\n"
    '  "1": {provider: o, account: company}\n'
)


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("type: official", "type: agent", 3, r"providers\[0\]\.type: expected official or bank"),
        ('"0.20%"}', '"0.20"}', 4, r"channel_costs\.wechat: '0.20' is not a rate"),
        ("{wechat:", "{wechay:", 4, r"channel_costs\.wechay: unknown channel"),
        ("channel: wechat", "channel: alipay", 7, "o is not official for alipay"),
        ('"0.05%"', '"0%"', 8, "an incentive adds a rate above 0%"),
        ("provider: o", "provider: x", 10, r"merchants\['1'\]\.provider: no provider named 'x'"),
        ("account: company", "account: shared", 10, "expected company or personal"),
        ("    type: official\n", "    type: bank\n", 4, "a bank provider has no channel_costs"),
        ("name: p\n", "nmae: p\n", 6, "unknown field.*did you mean 'name'"),
    ],
)
def test_a_bad_provider_file_names_file_line_and_rule(
    tmp_path: Path, old: str, new: str, line: int, message: str
) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(GOOD, encoding="utf-8")
    assert Providers.load(path).merchants["1"].account == "company"
    assert old in GOOD
    path.write_text(GOOD.replace(old, new), encoding="utf-8")
    with pytest.raises(FixtureError, match=message) as caught:
        Providers.load(path)
    assert str(caught.value).startswith(f"{path}:{line}:")


def test_cli_provider_statements_and_deposits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = str(tmp_path / "ledger.sqlite")
    generate_month(Path(ledger), 7, YEAR, MONTH, DAYS)
    common = ["--month", "2026-03", "--ledger", ledger]
    assert main(["gateway", "revenue", *common, "--provider", "official_wechat_alipay"]) == 0
    out = capsys.readouterr().out
    assert (
        "official_wechat_alipay (official) monthly rebate statement 2026-03, paid 2026-04-01" in out
    )
    assert "+ wechat_new_merchant" in out
    assert main(["gateway", "revenue", *common, "--provider", "nobody"]) == 2
    assert "no provider named 'nobody'" in capsys.readouterr().err
    assert main(["gateway", "deposits", *common]) == 0
    last = capsys.readouterr().out.splitlines()[-1]
    assert "(company account)" in last and last.endswith("0 differing")
    faulted = ["gateway", "deposits", "--date", "2026-03-31", "--ledger", ledger]
    assert main([*faulted, "--fault", "card:channel_only:X:100.00"]) == 1
    assert "over" in capsys.readouterr().out


def test_the_docs_show_the_provider_fields_as_declared() -> None:
    page = Path("docs/backoffice.md").read_text(encoding="utf-8")
    for fields in (PROVIDER_FIELDS, INCENTIVE_FIELDS, MERCHANT_FIELDS):
        table = reference_table(fields)
        assert table in page, (
            "docs/backoffice.md's provider field tables are out of date: paste the output of "
            "simulator.fixture_fields.reference_table(...) for simulator/gateway/backoffice/"
            f"providers.py's fields under 'The provider file':\n{table}"
        )
