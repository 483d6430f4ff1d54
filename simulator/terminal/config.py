"""Terminal configuration: identities, device URLs, hosts, timeouts (TOML).

Read within the limits of every file possim reads (docs/reliability.md): at most
1 MiB of UTF-8, each field of the type and range it declares; every problem is
a :class:`ConfigError` naming the file and, where it can, the line.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import attrs

from drivers import fixtures
from drivers.errors import DeviceURLError
from drivers.kinds import DEVICE_KINDS
from drivers.params import UrlParam, check_params
from drivers.registry import DeviceRegistry, registry
from drivers.url import DeviceURL
from simulator.errors import ConfigError
from simulator.wire.iso8583 import ASCII_HEADER, BINARY_HEADER, Framing, Iso8583Codec
from simulator.wire.mac import MAC_ALGORITHMS, MessageMac
from simulator.wire.money import parse_yuan

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

BUILTIN_GATEWAY = "builtin"


# The parameters of an ``iso8583://HOST:PORT?...`` card host URL, each declared once:
# the parser below, possim check and the table in docs/real_hosts.md read these.
SPEC = UrlParam(
    "spec",
    str,
    "possim_ascii",
    help="pyiso8583 spec: a name in `firmware_fixtures/iso8583/` or a path to a JSON file "
    'of the same shape (`{"name", "fields": {...}}`, see `possim_ascii.json`)',
)
TPDU = UrlParam(
    "tpdu",
    str,
    "",
    help="the TPDU sent after the length header, hex (5 bytes for the usual `60` + "
    "destination + source); the host's reply may carry it swapped (real hosts swap "
    "destination and source) or echoed -- both are accepted",
    default_doc="none",
)
HEADER = UrlParam(
    "header",
    str,
    "2",
    choices=("2", "4", BINARY_HEADER, ASCII_HEADER),
    help=f"the length header: `2` (or `{BINARY_HEADER}`): 2-byte big-endian; `4` (or "
    f"`{ASCII_HEADER}`): 4 ASCII decimal digits. Both count the bytes after the header "
    "(TPDU + message)",
)
MAC = UrlParam(
    "mac",
    str,
    "",
    choices=MAC_ALGORITHMS,
    help="`x919`: every request carries an ANSI X9.19 MAC (ISO/IEC 9797-1 algorithm 3, "
    "padding method 1, double-length key) in DE64 -- DE128 when the message has a "
    "secondary bitmap (a 0400 with DE90) -- over the encoded message up to the MAC field; "
    "every reply's MAC is checked",
    default_doc="no MAC",
)
ENDPOINT_PARAMS: tuple[UrlParam[object], ...] = (SPEC, TPDU, HEADER, MAC)
_HEADERS = {"2": BINARY_HEADER, "4": ASCII_HEADER}


# How an acquirer takes pre-auth completions: online request or offline advice.
COMPLETION_MODES = ("request", "advice")


@attrs.frozen
class HostEndpoint:
    """Where the ISO 8583 acquirer host listens and how it frames messages.

    ``mac``: the MAC algorithm (``x919``) or "" for none; the key is ``[keys] mac_key``,
    never part of the URL (URLs end up in logs).
    """

    host: str
    port: int
    spec: str = "possim_ascii"
    tpdu: bytes = b""
    header: str = BINARY_HEADER
    mac: str = ""

    @classmethod
    def parse(cls, url: str) -> HostEndpoint:
        """The endpoint of an ``iso8583://HOST:PORT?...`` URL (:data:`ENDPOINT_PARAMS`).

        Raises:
            ValueError: not such a URL, or a parameter it does not take or a value it
                refuses (a typo must not silently drop the MAC).
        """
        parts = urlsplit(url)
        if parts.scheme != "iso8583" or not parts.hostname or parts.port is None:
            raise ValueError(
                f"{url!r}: expected iso8583://HOST:PORT[?spec=NAME&tpdu=HEX&header=2|4&mac=x919]"
            )
        parsed = DeviceURL.parse(url)
        try:
            check_params(parsed, ENDPOINT_PARAMS, common=False)
            tpdu = bytes.fromhex(TPDU.value(parsed))
        except DeviceURLError as exc:
            raise ValueError(str(exc)) from None
        except ValueError:
            raise ValueError(f"{url}: tpdu={TPDU.value(parsed)!r}: expected hex digits") from None
        header = HEADER.value(parsed)
        return cls(
            parts.hostname,
            parts.port,
            SPEC.value(parsed),
            tpdu,
            _HEADERS.get(header, header),
            MAC.value(parsed),
        )

    def framing(self) -> Framing:
        return Framing(len(self.tpdu), self.header)

    def message_mac(self, codec: Iso8583Codec, key: bytes | None) -> MessageMac | None:
        """The MAC every message carries to and from this host (None: no MAC)."""
        if not self.mac:
            return None
        if key is None:
            raise ConfigError(
                Path("<config>"), f"gateway.card asks for mac={self.mac}: set keys.mac_key"
            )
        return MessageMac(codec, key, self.mac)


MAX_TIMEOUT = 24 * 3600.0  # seconds: a day (virtual in simulations)


def _seconds(instance: object, attribute: attrs.Attribute[float], value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not 0 < value <= MAX_TIMEOUT  # also NaN
    ):
        raise ValueError(
            f"timeouts.{attribute.name}: expected seconds, more than 0 and at most "
            f"{MAX_TIMEOUT:g}, got {value!r}"
        )


def _attempts(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10:
        raise ValueError(
            f"timeouts.{attribute.name}: expected a whole number from 0 to 10, got {value!r}"
        )


def _timeout(default: float) -> float:
    return attrs.field(default=default, validator=_seconds)


@attrs.frozen
class Timeouts:
    card: float = _timeout(60.0)
    pin: float = _timeout(60.0)
    host: float = _timeout(30.0)
    removal: float = _timeout(30.0)
    printer: float = _timeout(300.0)  # how long a receipt waits for a printer fault to clear
    reversal_attempts: int = attrs.field(default=3, validator=_attempts)
    # QR payments: how long the cashier waits for the customer's code to be
    # scanned, for a USERPAYING customer to confirm (polled every qr_poll s),
    # and for a dynamic QR to be paid.
    scan: float = _timeout(60.0)
    qr_confirm: float = _timeout(30.0)
    qr_poll: float = _timeout(5.0)
    qr_wait: float = _timeout(120.0)
    qr_http: float = _timeout(10.0)  # one HTTP call to the QR gateway


@attrs.frozen
class DeviceURLs:
    card_reader: str = "sim://"
    pin_entry: str = "sim://"
    printer: str = "sim://?profile=generic_58mm"
    scanner: str = "sim://"
    speaker: str = "sim://"
    magstripe_reader: str = "sim://"

    def problems(self, devices: DeviceRegistry = registry) -> list[str]:
        """``devices.<kind>: <why>`` for each URL the registry would refuse on opening
        (its scheme, an unknown parameter, a bad value), found without opening anything."""
        found = []
        for kind, url in attrs.asdict(self).items():
            try:
                devices.check(DEVICE_KINDS[kind], url)
            except DeviceURLError as exc:
                found.append(f"devices.{kind}: {exc}")
        return found


def _double_length_key(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"keys.{attribute.name} must be hex") from None
    if len(raw) != 16:
        raise ValueError(f"keys.{attribute.name} must be a double-length TDES key (32 hex digits)")
    if raw[:8] == raw[8:]:
        # Equal halves make TDES single DES: refuse it even for a test key.
        raise ValueError(f"keys.{attribute.name} has equal halves (single DES)")


# A TEST terminal PIN key (TPK); the built-in gateway knows it for POSSIM01
# (firmware_fixtures/gateway/terminals.yaml). Never a real key.
DEFAULT_PIN_KEY = "C1D0F8FB4958670DBA40AB1F3752EF0D"
# A TEST merchant API key: signs the QR gateway's HTTP bodies (HMAC-SHA256,
# docs/qr_api.md); the built-in gateway knows it for this merchant.
DEFAULT_MERCHANT_API_KEY = "possim-test-merchant-key-0001"


@attrs.frozen
class Keys:
    """The terminal's keys. Never shown in a repr, a log or a trace."""

    pin_key: str = attrs.field(default=DEFAULT_PIN_KEY, validator=_double_length_key, repr=False)
    merchant_api_key: str = attrs.field(default=DEFAULT_MERCHANT_API_KEY, repr=False)
    # The MAC key (TAK) for hosts that want DE64/DE128 MACs (gateway.card ...&mac=x919).
    mac_key: str | None = attrs.field(
        default=None,
        validator=attrs.validators.optional(_double_length_key),
        repr=False,
    )

    @property
    def pin_key_bytes(self) -> bytes:
        return bytes.fromhex(self.pin_key)

    @property
    def mac_key_bytes(self) -> bytes | None:
        return None if self.mac_key is None else bytes.fromhex(self.mac_key)


def _floor_limit(value: object) -> int:
    """``[emv] floor_limit`` in yuan ("100.00") or fen (an integer) -> fen."""
    if isinstance(value, bool):
        raise ValueError("emv.floor_limit must be an amount")
    try:
        fen = value * 100 if isinstance(value, int) else parse_yuan(str(value))
    except ValueError as exc:
        raise ValueError(f"emv.floor_limit: {exc}") from None
    if fen < 0:
        raise ValueError("emv.floor_limit must not be negative")
    return fen


@attrs.frozen
class EmvSettings:
    """Terminal risk management parameters (EMV Book 3, 10.6)."""

    floor_limit_fen: int = 0  # 9F1B; purchases at or above it set TVR "exceeds floor limit"


@attrs.frozen
class TerminalConfig:
    terminal_id: str = attrs.field(default="POSSIM01")
    merchant_id: str = attrs.field(default="898310048990001")
    merchant_name: str = "possim测试商户"
    vendor: str = "newland"
    receipt: str = "sale"
    # What the cashier app says on success: firmware_fixtures/announcements/ and
    # the language of its templates (docs/speaker.md).
    announcements: str = "default"
    announcement_language: str = "zh"
    currency: str = "156"
    country: str = "156"
    devices: DeviceURLs = DeviceURLs()
    card_gateway: str = BUILTIN_GATEWAY
    # "builtin" (the built-in gateway's QR API) or http://HOST:PORT
    qr_gateway: str = BUILTIN_GATEWAY
    # How the acquirer takes pre-auth completions ([gateway] completion):
    # "request", online (0200, DE60.1 20), or "advice", offline (0220, DE60.1 24).
    preauth_completion: str = attrs.field(default="request")
    timeouts: Timeouts = Timeouts()
    keys: Keys = Keys()
    emv: EmvSettings = EmvSettings()
    source: Path | None = None

    @terminal_id.validator
    def _check_tid(self, _: attrs.Attribute[str], value: str) -> None:
        if len(value) != 8:
            raise ValueError(f"terminal_id {value!r} must be 8 characters (ISO 8583 DE41)")

    @preauth_completion.validator
    def _check_completion(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in COMPLETION_MODES:
            raise ValueError(
                f"gateway.completion {value!r}: expected one of {', '.join(COMPLETION_MODES)}"
            )

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
        path = fixtures.locate(
            "terminals", name_or_path, (".toml",), "terminal configuration", ConfigError
        )
        text = fixtures.read_text(path, error=ConfigError)
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            problem, line = _toml_problem(str(exc))
            raise ConfigError(path, f"not valid TOML: {problem}", line) from None
        except ValueError:  # an integer past Python's int() limit (4300 digits)
            long_number = re.search(r"\d{100}", text)
            line = text.count("\n", 0, long_number.start()) + 1 if long_number else None
            raise ConfigError(path, "not valid TOML: a number too long to read", line) from None
        except RecursionError:  # tomllib recurses once per nested array or table
            raise ConfigError(
                path, "not valid TOML: arrays or tables nested too deeply for a configuration"
            ) from None
        return cls.from_mapping(document, source=path, text=text)

    @classmethod
    def from_mapping(
        cls, document: Mapping[str, Any], *, source: Path | None = None, text: str = ""
    ) -> TerminalConfig:
        """The configuration in ``document`` (parsed from ``text``, whose lines errors name)."""
        where = source or Path("<config>")
        unknown = sorted(set(document) - set(_SECTIONS))
        if unknown:
            raise ConfigError(
                where,
                f"unknown section [{unknown[0]}]: expected one of {', '.join(_SECTIONS)}",
                _toml_line(text, unknown[0]) or _toml_line(text, None, unknown[0]),
            )
        sections = {
            name: _section(document, name, keys, where, text) for name, keys in _SECTIONS.items()
        }
        try:
            gateway = sections["gateway"]
            config = cls(
                **sections["terminal"],
                devices=DeviceURLs(**sections["devices"]),
                card_gateway=gateway.get("card", BUILTIN_GATEWAY),
                qr_gateway=gateway.get("qr", BUILTIN_GATEWAY),
                preauth_completion=gateway.get("completion", "request"),
                timeouts=Timeouts(**sections["timeouts"]),
                keys=Keys(**sections["keys"]),
                emv=EmvSettings(
                    floor_limit_fen=_floor_limit(sections["emv"].get("floor_limit", 0))
                ),
                source=source,
            )
            if not config.uses_builtin_gateway:
                endpoint = config.host_endpoint()
                if endpoint.mac and config.keys.mac_key is None:
                    raise ValueError(f"gateway.card asks for mac={endpoint.mac}: set keys.mac_key")
            if config.qr_gateway != BUILTIN_GATEWAY and not config.qr_gateway.startswith(
                ("http://", "https://")
            ):
                raise ValueError(
                    f'gateway.qr {config.qr_gateway!r}: expected "builtin" or http://HOST:PORT'
                )
        except (TypeError, ValueError) as exc:
            raise ConfigError(where, str(exc), _line_named_in(text, str(exc))) from None
        return config


def _names(cls: type, *, only_text: bool = False) -> tuple[str, ...]:
    return tuple(
        field.name
        for field in attrs.fields(cls)
        if not only_text or field.type in ("str", "str | None")
    )


# Each section and the keys it may hold; every value of these is text except in
# [timeouts] (numbers, checked by Timeouts) and [emv] (an amount).
_SECTIONS: dict[str, tuple[str, ...]] = {
    "terminal": tuple(
        name
        for name in _names(TerminalConfig, only_text=True)
        # [gateway] card, qr and completion
        if name not in ("card_gateway", "qr_gateway", "preauth_completion")
    ),
    "devices": _names(DeviceURLs),
    "gateway": ("card", "qr", "completion"),
    "timeouts": _names(Timeouts),
    "keys": _names(Keys),
    "emv": ("floor_limit",),
}
_NOT_TEXT = frozenset({"timeouts", "emv"})


def _section(
    document: Mapping[str, Any], name: str, keys: tuple[str, ...], where: Path, text: str
) -> dict[str, Any]:
    section = document.get(name, {})
    if not isinstance(section, Mapping):
        raise ConfigError(
            where,
            f"{name}: expected a table ([{name}] and keys under it), got {section!r}",
            _toml_line(text, None, name),
        )
    for key, value in section.items():
        if key not in keys:
            raise ConfigError(
                where,
                f"[{name}] {key}: unknown key; expected one of {', '.join(keys)}",
                _toml_line(text, name, key),
            )
        if name not in _NOT_TEXT and not isinstance(value, str):
            raise ConfigError(
                where,
                f"{name}.{key}: expected text in quotes, got {value!r}",
                _toml_line(text, name, key),
            )
    return dict(section)


_LINE_IN_MESSAGE = re.compile(r"^(.*) \(at line (\d+), column \d+\)$")
_HEADER = re.compile(r"^\s*\[\s*([A-Za-z0-9_-]+)\s*\]")


def _toml_problem(message: str) -> tuple[str, int | None]:
    """tomllib's message without its position, and the line it names."""
    match = _LINE_IN_MESSAGE.match(message)
    return (match.group(1), int(match.group(2))) if match else (message, None)


def _toml_line(text: str, section: str | None, key: str | None = None) -> int | None:
    """The line of ``key`` in ``[section]`` (or of the section's header; ``section``
    None: a top-level key) in TOML ``text``; None when not written that plainly."""
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _HEADER.match(line)
        if header:
            current = header.group(1)
            if key is None and current == section:
                return number
        elif key is not None and current == section and re.match(rf"\s*{re.escape(key)}\s*=", line):
            return number
    return None


def _line_named_in(text: str, problem: str) -> int | None:
    """The line of the ``section.key`` (or bare terminal key) a problem starts with."""
    match = re.match(r"([a-z_]+)\.([a-z_]+)", problem) or re.match(r"()([a-z_]+)", problem)
    if match is None:
        return None
    section, key = match.groups()
    for name, keys in _SECTIONS.items():
        if (section or name) == name and key in keys:
            return _toml_line(text, name, key)
    return None
