"""QR channels as data (``firmware_fixtures/gateway/qr_channels.yaml``) and
the routing of customer-presented payment codes by prefix and length."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture, require_str, top_level_list

DEFAULT_QR_CHANNELS = "qr_channels"
DEFAULT_MERCHANTS = "merchants"


@attrs.frozen
class EmvcoAccount:
    tag: str
    guid: str


@attrs.frozen
class QrChannel:
    name: str
    code_lengths: tuple[int, ...]
    prefixes: tuple[str, ...]
    password_free_limit_fen: int
    notify_retry_seconds: tuple[float, ...]
    transaction_id_prefix: str
    qr_expires_seconds: float
    emvco: Mapping[str, EmvcoAccount]

    def accepts(self, code: str) -> bool:
        return len(code) in self.code_lengths and code.startswith(self.prefixes)

    def account(self, issuance: str | None) -> EmvcoAccount | None:
        if issuance is None:
            return self.emvco.get("default") or next(iter(self.emvco.values()))
        return self.emvco.get(issuance)


@attrs.frozen
class MagicError:
    error_code: str
    message: str


@attrs.frozen
class QrChannels:
    channels: Mapping[str, QrChannel]
    notify_timeout_seconds: float
    notify_delay_seconds: float
    mcc: str
    magic_response_codes: Mapping[str, MagicError]
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_QR_CHANNELS) -> QrChannels:
        path = find_fixture("gateway", name_or_path, "QR channels")
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> QrChannels:
        channels: dict[str, QrChannel] = {}
        for index, entry in enumerate(top_level_list(path, document, "channels")):
            channel = _parse_channel(path, entry, f"channels[{index}]")
            if channel.name in channels:
                raise FixtureError(path, f"channel {channel.name!r} appears twice", line_of(entry))
            channels[channel.name] = channel
        magic: dict[str, MagicError] = {}
        for code, spec in (document.get("magic_response_codes") or {}).items():
            if not isinstance(spec, Mapping):
                raise FixtureError(path, f"magic_response_codes[{code!r}]: expected a mapping")
            where = f"magic_response_codes[{code!r}]"
            magic[str(code)] = MagicError(
                require_str(path, spec, where, "error_code"),
                require_str(path, spec, where, "message"),
            )
        return cls(
            channels=MappingProxyType(channels),
            notify_timeout_seconds=float(document.get("notify_timeout_seconds", 5)),
            notify_delay_seconds=float(document.get("notify_delay_seconds", 1)),
            mcc=str(document.get("mcc", "5411")),
            magic_response_codes=MappingProxyType(magic),
            source=path,
        )

    def route(self, code: str) -> QrChannel | None:
        """The channel a customer-presented code belongs to; None: not a payment code."""
        if not code.isdigit() or not code.isascii():
            return None
        for channel in self.channels.values():
            if channel.accepts(code):
                return channel
        return None

    def __getitem__(self, name: str) -> QrChannel:
        return self.channels[name]


def _ints(path: Path, entry: Mapping[str, Any], where: str, field: str) -> Sequence[Any]:
    value = entry.get(field)
    if not isinstance(value, list) or not value:
        raise FixtureError(
            path, f"{where}: field {field!r} must be a non-empty list", line_of(entry)
        )
    for item in value:
        if isinstance(item, bool) or not isinstance(item, (int, float)) or item < 0:
            raise FixtureError(
                path, f"{where}: field {field!r} holds {item!r}, not a number", line_of(entry)
            )
    return value


def _parse_channel(path: Path, entry: Any, where: str) -> QrChannel:
    if not isinstance(entry, Mapping):
        raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
    prefixes = entry.get("prefixes")
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and p.isdigit() for p in prefixes
    ):
        raise FixtureError(path, f"{where}: 'prefixes' must be a list of quoted digit strings")
    emvco_spec = entry.get("emvco")
    if not isinstance(emvco_spec, Mapping) or not emvco_spec:
        raise FixtureError(path, f"{where}: 'emvco' must be a mapping of issuance modes")
    emvco = {
        str(mode): EmvcoAccount(
            require_str(path, spec, f"{where}.emvco.{mode}", "tag"),
            require_str(path, spec, f"{where}.emvco.{mode}", "guid"),
        )
        for mode, spec in emvco_spec.items()
    }
    limit = entry.get("password_free_limit_fen")
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise FixtureError(path, f"{where}: 'password_free_limit_fen' must be an integer")
    return QrChannel(
        name=require_str(path, entry, where, "name"),
        code_lengths=tuple(int(n) for n in _ints(path, entry, where, "code_lengths")),
        prefixes=tuple(prefixes),
        password_free_limit_fen=limit,
        notify_retry_seconds=tuple(
            float(s) for s in _ints(path, entry, where, "notify_retry_seconds")
        ),
        transaction_id_prefix=require_str(path, entry, where, "transaction_id_prefix"),
        qr_expires_seconds=float(entry.get("qr_expires_seconds", 7200)),
        emvco=MappingProxyType(emvco),
    )


@attrs.frozen
class Merchant:
    merchant_id: str
    api_key: str = attrs.field(repr=False)
    name: str
    city: str
    acquirer_iin: str


@attrs.frozen
class Merchants:
    merchants: Mapping[str, Merchant]

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MERCHANTS) -> Merchants:
        path = find_fixture("gateway", name_or_path, "merchants")
        document = fixtures.load(path, error=FixtureError)
        merchants: dict[str, Merchant] = {}
        for index, entry in enumerate(top_level_list(path, document, "merchants")):
            where = f"merchants[{index}]"
            if not isinstance(entry, Mapping):
                raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
            merchant = Merchant(
                *(
                    require_str(path, entry, where, field)
                    for field in ("merchant_id", "api_key", "name", "city", "acquirer_iin")
                )
            )
            if not merchant.name.isascii() or not merchant.city.isascii():
                raise FixtureError(path, f"{where}: name and city must be ASCII (EMVCo 59/60)")
            merchants[merchant.merchant_id] = merchant
        return cls(MappingProxyType(merchants))

    def get(self, merchant_id: str) -> Merchant | None:
        return self.merchants.get(merchant_id)
