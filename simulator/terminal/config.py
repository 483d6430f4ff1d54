"""Terminal configuration: identities, device URLs, hosts, timeouts (TOML)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import attrs

import firmware_fixtures
from simulator.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

BUILTIN_GATEWAY = "builtin"


@attrs.frozen
class HostEndpoint:
    """Where the ISO 8583 acquirer host listens and how it frames messages."""

    host: str
    port: int
    spec: str = "possim_ascii"
    tpdu: bytes = b""

    @classmethod
    def parse(cls, url: str) -> HostEndpoint:
        parts = urlsplit(url)
        if parts.scheme != "iso8583" or not parts.hostname or parts.port is None:
            raise ValueError(f"{url!r}: expected iso8583://HOST:PORT[?spec=NAME&tpdu=HEX]")
        params = dict(parse_qsl(parts.query))
        try:
            tpdu = bytes.fromhex(params.get("tpdu", ""))
        except ValueError:
            raise ValueError(f"{url!r}: tpdu must be hex") from None
        return cls(parts.hostname, parts.port, params.get("spec", "possim_ascii"), tpdu)


@attrs.frozen
class Timeouts:
    card: float = 60.0
    pin: float = 60.0
    host: float = 30.0
    removal: float = 30.0
    reversal_attempts: int = 3


@attrs.frozen
class DeviceURLs:
    card_reader: str = "sim://"
    pin_entry: str = "sim://"
    printer: str = "sim://?profile=generic_58mm"
    scanner: str = "sim://"
    speaker: str = "sim://"


@attrs.frozen
class TerminalConfig:
    terminal_id: str = attrs.field(default="POSSIM01")
    merchant_id: str = attrs.field(default="898310048990001")
    merchant_name: str = "possim测试商户"
    vendor: str = "newland"
    receipt: str = "sale"
    currency: str = "156"
    country: str = "156"
    devices: DeviceURLs = DeviceURLs()
    card_gateway: str = BUILTIN_GATEWAY
    timeouts: Timeouts = Timeouts()
    source: Path | None = None

    @terminal_id.validator
    def _check_tid(self, _: attrs.Attribute[str], value: str) -> None:
        if len(value) != 8:
            raise ValueError(f"terminal_id {value!r} must be 8 characters (ISO 8583 DE41)")

    @merchant_id.validator
    def _check_mid(self, _: attrs.Attribute[str], value: str) -> None:
        if len(value) != 15:
            raise ValueError(f"merchant_id {value!r} must be 15 characters (ISO 8583 DE42)")

    @property
    def uses_builtin_gateway(self) -> bool:
        return self.card_gateway == BUILTIN_GATEWAY

    def host_endpoint(self) -> HostEndpoint:
        return HostEndpoint.parse(self.card_gateway)

    @classmethod
    def load(cls, name_or_path: str = "default") -> TerminalConfig:
        path = firmware_fixtures.locate(
            "terminals", name_or_path, (".toml",), "terminal configuration", ConfigError
        )
        try:
            document = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(path, f"not valid TOML: {exc}") from None
        return cls.from_mapping(document, source=path)

    @classmethod
    def from_mapping(
        cls, document: Mapping[str, Any], *, source: Path | None = None
    ) -> TerminalConfig:
        where = source or Path("<config>")
        known_sections = {"terminal", "devices", "gateway", "timeouts"}
        unknown = set(document) - known_sections
        if unknown:
            raise ConfigError(
                where, f"unknown section(s) {sorted(unknown)}: expected {sorted(known_sections)}"
            )
        try:
            terminal = dict(document.get("terminal", {}))
            gateway = dict(document.get("gateway", {}))
            config = cls(
                **terminal,
                devices=DeviceURLs(**document.get("devices", {})),
                card_gateway=gateway.pop("card", BUILTIN_GATEWAY),
                timeouts=Timeouts(**document.get("timeouts", {})),
                source=source,
            )
            if gateway:
                raise TypeError(f"unexpected gateway key(s) {sorted(gateway)}")
            if not config.uses_builtin_gateway:
                config.host_endpoint()
        except (TypeError, ValueError) as exc:
            raise ConfigError(where, str(exc)) from None
        return config
