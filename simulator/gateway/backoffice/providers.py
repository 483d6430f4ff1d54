"""Service providers (``firmware_fixtures/providers/*.yaml``): who signed each
merchant up, on what terms, and where the merchant's money is settled.

Two kinds, as the business runs in China (docs/backoffice.md, "Service
providers and their books"):

* an **official** service provider (服务商) of a channel: the channel charges
  it a cost rate per channel (``channel_costs``, e.g. 0.20%) and pays it the
  difference to the merchant's rate every **month**, plus the channel's
  incentive programmes (``incentives``);
* a **bank** service provider: the bank agreed a base rate per channel
  (``agreed_rates``) and pays the difference **daily**.

Either way the channel settles with the merchant directly (直清): the provider
never holds the merchant's money. ``merchants:`` assigns each merchant id its
provider and its settlement account type (``company`` 对公 or ``personal`` 对私).
Every field is declared once (:mod:`simulator.fixture_fields`): a mistake is a
FixtureError naming file, line and field.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import MappingProxyType

import attrs

from drivers import fixtures
from drivers.fixtures import LineDict, TextLineLoader
from simulator.errors import FixtureError
from simulator.fixture_fields import (
    FieldReader,
    Fields,
    FieldSpec,
    Kind,
    ListOf,
    Node,
    OneOf,
    Section,
    Text,
    child,
    find_fixture,
)
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.wire.money import parse_rate, parse_yuan

DEFAULT_PROVIDERS = "default"
OFFICIAL = "official"
BANK = "bank"
PROVIDER_TYPES = (OFFICIAL, BANK)
COMPANY = "company"
PERSONAL = "personal"
ACCOUNT_TYPES = (COMPANY, PERSONAL)


@attrs.frozen
class Rate(Kind[Decimal]):
    expected: str = 'a rate in percent with up to four decimals, e.g. "0.20%"'

    def read(self, node: Node, where: str, reader: FieldReader) -> Decimal:
        try:
            return parse_rate(reader.scalar(node, where, self.expected))
        except ValueError as exc:
            reader.fail(node, where, f"{exc}; expected {self.expected}")


@attrs.frozen
class Yuan(Kind[int]):
    """An amount in yuan (``"500.00"``), read as fen."""

    expected: str = 'an amount in yuan, e.g. "500.00"'

    def read(self, node: Node, where: str, reader: FieldReader) -> int:
        try:
            return parse_yuan(reader.scalar(node, where, self.expected))
        except ValueError as exc:
            reader.fail(node, where, str(exc))


@attrs.frozen
class ChannelRates(Kind[Mapping[str, Decimal]]):
    """A mapping channel -> rate, for one or more of possim's channels."""

    expected: str = f"a mapping of channel to rate, channels among {', '.join(CHANNELS)}"

    def read(self, node: Node, where: str, reader: FieldReader) -> Mapping[str, Decimal]:
        if not isinstance(node.value, LineDict) or not node.value:
            reader.fail(node, where, f"expected {self.expected}")
        rates = {}
        for channel in node.value:
            if channel not in CHANNELS:
                reader.fail(
                    Node(channel, node.value.line_of(channel)),
                    f"{where}.{channel}",
                    f"unknown channel; expected one of {', '.join(CHANNELS)}",
                )
            rates[channel] = Rate().read(child(node.value, channel), f"{where}.{channel}", reader)
        return MappingProxyType(rates)


def _positive(value: Decimal, earlier: Mapping[str, object]) -> str | None:
    return None if value > 0 else "an incentive adds a rate above 0%"


INCENTIVE_FIELDS = (
    FieldSpec("name", Text("a programme name"), "the programme's name"),
    FieldSpec("channel", OneOf("a channel", CHANNELS), "the channel that runs it"),
    FieldSpec(
        "extra_rate",
        Rate(),
        "paid on the qualifying volume, on top of the rebate",
        rules=(_positive,),
    ),
    FieldSpec(
        "min_payment",
        Yuan(),
        "a payment below this amount (and its refunds) does not qualify",
        default=0,
        default_doc="0.00",
    ),
    FieldSpec(
        "monthly_cap",
        Yuan(),
        "the most the programme pays per merchant per month",
        default=None,
        default_doc="no cap",
    ),
    FieldSpec("description", Text(), "what the programme is for", default=""),
)

PROVIDER_FIELDS = (
    FieldSpec("name", Text("a provider name"), "the provider's id"),
    FieldSpec("type", OneOf("official or bank", PROVIDER_TYPES), "`official` or `bank`"),
    FieldSpec("description", Text(), "who the provider is", default=""),
    FieldSpec(
        "channel_costs",
        ChannelRates(),
        "`type: official` only, and required there: the channel's cost rate per channel",
        default=None,
    ),
    FieldSpec(
        "agreed_rates",
        ChannelRates(),
        "`type: bank` only, and required there: the base rate agreed with the bank per channel",
        default=None,
    ),
    FieldSpec(
        "incentives",
        ListOf("incentive programmes", Section(INCENTIVE_FIELDS)),
        "`type: official` only: the channels' incentive programmes",
        default=(),
    ),
)

MERCHANT_FIELDS = (
    FieldSpec("provider", Text("a provider name"), "the provider that signed the merchant up"),
    FieldSpec(
        "account",
        OneOf("company or personal", ACCOUNT_TYPES),
        "the merchant's settlement account: `company` (对公) or `personal` (对私)",
    ),
    FieldSpec("account_name", Text(), "the account holder, as printed on deposits", default=""),
)

# The top level: ``providers`` (a list) and ``merchants`` (merchant id -> MERCHANT_FIELDS,
# read apart because its keys are merchant ids, not field names).
PROVIDERS = FieldSpec(
    "providers", ListOf("service providers", Section(PROVIDER_FIELDS)), "the providers"
)


@attrs.frozen
class Incentive:
    name: str
    channel: str
    extra_rate: Decimal
    min_payment_fen: int
    monthly_cap_fen: int | None
    description: str


@attrs.frozen
class Provider:
    name: str
    type: str
    description: str
    # official: the channel's cost; bank: the rate agreed with the bank
    rates: Mapping[str, Decimal]
    incentives: tuple[Incentive, ...]

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(ch for ch in CHANNELS if ch in self.rates)


@attrs.frozen
class Assignment:
    merchant_id: str
    provider: str
    account: str
    account_name: str


@attrs.frozen
class Providers:
    providers: Mapping[str, Provider]
    merchants: Mapping[str, Assignment]
    source: Path

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_PROVIDERS) -> Providers:
        path = find_fixture("providers", name_or_path, "service providers")
        document = fixtures.load(path, loader=TextLineLoader, error=FixtureError)
        if not isinstance(document, LineDict):
            raise FixtureError(path, "expected a mapping with 'providers' and 'merchants'", 1)
        reader = FieldReader(path)
        merchants_line = document.line_of("merchants") or 1
        merchants_node = document.pop("merchants", None)
        top = Section((PROVIDERS,)).read(Node(document, 1), "", reader)
        providers: dict[str, Provider] = {}
        for fields in top["providers"]:
            provider = _provider(fields)
            if provider.name in providers:
                fields.fail("name", f"provider {provider.name!r} appears twice")
            providers[provider.name] = provider
        merchants = _merchants(reader, Node(merchants_node, merchants_line), providers)
        return cls(MappingProxyType(providers), MappingProxyType(merchants), path)

    def of_type(self, kind: str) -> list[Provider]:
        return [p for p in self.providers.values() if p.type == kind]

    def get(self, name: str) -> Provider:
        provider = self.providers.get(name)
        if provider is None:
            raise FixtureError(
                self.source, f"no provider named {name!r}; expected one of {sorted(self.providers)}"
            )
        return provider

    def merchants_of(self, name: str) -> list[Assignment]:
        return [a for a in self.merchants.values() if a.provider == name]


def _provider(fields: Fields) -> Provider:
    kind = fields["type"]
    mine, other = (
        ("channel_costs", "agreed_rates") if kind == OFFICIAL else ("agreed_rates", "channel_costs")
    )
    if fields[other] is not None:
        fields.fail(other, f"a {kind} provider has no {other}; give its rates as {mine}")
    if fields[mine] is None:
        fields.fail(None, f"a {kind} provider needs {mine} (channel: rate)")
    rates: Mapping[str, Decimal] = fields[mine]
    incentives = []
    for programme in fields["incentives"]:
        if kind != OFFICIAL:
            programme.fail(
                None, "incentive programmes are the channels': only an official provider has them"
            )
        if programme["channel"] not in rates:
            programme.fail(
                "channel",
                f"{fields['name']} is not official for {programme['channel']}; "
                f"expected one of {', '.join(rates)}",
            )
        incentives.append(
            Incentive(
                programme["name"],
                programme["channel"],
                programme["extra_rate"],
                programme["min_payment"],
                programme["monthly_cap"],
                programme["description"],
            )
        )
    return Provider(fields["name"], kind, fields["description"], rates, tuple(incentives))


def _merchants(
    reader: FieldReader, node: Node, providers: Mapping[str, Provider]
) -> dict[str, Assignment]:
    if node.value is None:
        return {}
    if not isinstance(node.value, LineDict):
        reader.fail(node, "merchants", "expected a mapping of merchant id to provider and account")
    section = Section(MERCHANT_FIELDS, what="merchant")
    assignments = {}
    for merchant_id in node.value:
        where = f"merchants[{merchant_id!r}]"
        fields = section.read(child(node.value, merchant_id), where, reader)
        if fields["provider"] not in providers:
            fields.fail(
                "provider",
                f"no provider named {fields['provider']!r}; expected one of {sorted(providers)}",
            )
        assignments[str(merchant_id)] = Assignment(
            str(merchant_id), fields["provider"], fields["account"], fields["account_name"]
        )
    return assignments
