"""Merchant profiles (``firmware_fixtures/gateway/merchant_profiles.yaml``) and
the fee, channel cost and margin of each line, day and month.

Per line: ``fee = round_half_up(amount x merchant rate)`` and ``cost =
round_half_up(amount x cost rate)``; a refund or void returns the drop in the
fee of the remaining amount (:func:`~simulator.wire.money.refund_fee_fen`); a reversed line
costs nothing. ``margin = fee - cost``. A day's or month's figures are the
sums of its lines' (so the margin is volume x (rate - cost) to within a fen
per line).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture, require_str, top_level_list
from simulator.gateway.backoffice.entries import CHANNELS, PAYMENT, Entry
from simulator.wire.money import fee_fen, parse_rate, refund_fee_fen

DEFAULT_PROFILES = "merchant_profiles"


@attrs.frozen
class Profile:
    name: str
    description: str
    rates: Mapping[str, Decimal]
    costs: Mapping[str, Decimal]


@attrs.frozen
class Profiles:
    profiles: Mapping[str, Profile]
    merchants: Mapping[str, str]
    default: str
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_PROFILES) -> Profiles:
        path = find_fixture("gateway", name_or_path, "merchant profiles")
        document = fixtures.load(path, error=FixtureError)
        profiles: dict[str, Profile] = {}
        for index, entry in enumerate(top_level_list(path, document, "profiles")):
            profile = _profile(path, entry, f"profiles[{index}]")
            if profile.name in profiles:
                raise FixtureError(path, f"profile {profile.name!r} appears twice", line_of(entry))
            profiles[profile.name] = profile
        default = str(document.get("default_profile", ""))
        if default not in profiles:
            raise FixtureError(
                path,
                f"default_profile {default!r} is not one of {sorted(profiles)}",
                line_of(document, "default_profile"),
            )
        merchants = document.get("merchants") or {}
        if not isinstance(merchants, Mapping):
            raise FixtureError(path, "merchants: expected a mapping", line_of(document))
        for merchant_id, name in merchants.items():
            if name not in profiles:
                raise FixtureError(
                    path,
                    f"merchants[{merchant_id!r}]: no profile named {name!r}",
                    line_of(merchants, str(merchant_id)),
                )
        return cls(
            MappingProxyType(profiles),
            MappingProxyType({str(k): str(v) for k, v in merchants.items()}),
            default,
            path,
        )

    def for_merchant(self, merchant_id: str, override: str | None = None) -> Profile:
        name = override or self.merchants.get(merchant_id, self.default)
        profile = self.profiles.get(name)
        if profile is None:
            raise FixtureError(
                self.source or DEFAULT_PROFILES,
                f"no merchant profile named {name!r}; expected one of {sorted(self.profiles)}",
            )
        return profile


def _rates(path: Path, entry: Mapping[str, Any], where: str, field: str) -> dict[str, Decimal]:
    spec = entry.get(field)
    if not isinstance(spec, Mapping) or set(spec) != set(CHANNELS):
        raise FixtureError(
            path, f"{where}.{field}: expected a rate for each of {list(CHANNELS)}", line_of(entry)
        )
    rates = {}
    for channel, text in spec.items():
        try:
            rates[str(channel)] = parse_rate(str(text))
        except ValueError as exc:
            raise FixtureError(path, f"{where}.{field}.{channel}: {exc}", line_of(spec)) from None
    return rates


def _profile(path: Path, entry: Any, where: str) -> Profile:
    if not isinstance(entry, Mapping):
        raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
    rates = _rates(path, entry, where, "rates")
    costs = _rates(path, entry, where, "costs")
    for channel in CHANNELS:
        if costs[channel] > rates[channel]:
            raise FixtureError(
                path, f"{where}: the {channel} cost is above its merchant rate", line_of(entry)
            )
    return Profile(
        name=require_str(path, entry, where, "name"),
        description=str(entry.get("description", "")),
        rates=MappingProxyType(rates),
        costs=MappingProxyType(costs),
    )


def line_fee(entry: Entry, rate: Decimal) -> int:
    """The fee of one line at ``rate``: charged on a payment (+), returned by a refund (-)."""
    if entry.reversed:
        return 0
    if entry.kind == PAYMENT:
        return fee_fen(entry.amount_fen, rate)
    if entry.original_fen <= 0:  # a refund of a payment this ledger does not hold
        return -fee_fen(entry.amount_fen, rate)
    return -refund_fee_fen(entry.original_fen, entry.refunded_before_fen, entry.amount_fen, rate)


@attrs.frozen
class FeeTotals:
    lines: int = 0
    volume_fen: int = 0  # net: payments - refunds
    fee_fen: int = 0
    cost_fen: int = 0

    @property
    def margin_fen(self) -> int:
        return self.fee_fen - self.cost_fen

    def __add__(self, other: FeeTotals) -> FeeTotals:
        return FeeTotals(
            self.lines + other.lines,
            self.volume_fen + other.volume_fen,
            self.fee_fen + other.fee_fen,
            self.cost_fen + other.cost_fen,
        )


def totals(entries: Iterable[Entry], profile: Profile) -> dict[str, FeeTotals]:
    """Per channel (and ``"total"``): lines, net volume, fee, cost."""
    result: dict[str, FeeTotals] = {}
    for entry in entries:
        line = FeeTotals(
            1,
            entry.net_fen,
            line_fee(entry, profile.rates[entry.channel]),
            line_fee(entry, profile.costs[entry.channel]),
        )
        result[entry.channel] = result.get(entry.channel, FeeTotals()) + line
    result["total"] = sum(result.values(), FeeTotals())
    return result
