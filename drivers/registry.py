"""Device URLs and the registry that turns them into drivers.

A device is named by a URL (``sim://``, ``pcsc://Reader 00``,
``usb://0416:5011``, ``tcp://127.0.0.1:9100`` ...). The scheme picks a factory
from one registry keyed by (device kind, scheme); schemes are contributed by
``possim.devices`` entry points, so adding a transport never edits a chain of
``if``s here.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from drivers.clock import Clock, RealClock
from drivers.errors import DeviceURLError

ENTRY_POINT_GROUP = "possim.devices"


class DeviceKind(str, enum.Enum):
    CARD_READER = "card_reader"
    PIN_ENTRY = "pin_entry"
    PRINTER = "printer"
    SCANNER = "scanner"
    SPEAKER = "speaker"
    MAGSTRIPE_READER = "magstripe_reader"


@attrs.frozen
class DeviceURL:
    """A parsed device URL: ``scheme://target?key=value&...``."""

    raw: str
    scheme: str
    target: str
    params: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def parse(cls, url: str) -> DeviceURL:
        if "://" not in url:
            raise DeviceURLError(f"{url!r} is not a device URL: expected scheme://target")
        parts = urlsplit(url)
        if not parts.scheme:
            raise DeviceURLError(f"{url!r} has no scheme")
        target = unquote(parts.netloc + parts.path)
        return cls(
            raw=url,
            scheme=parts.scheme.lower(),
            target=target,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        )

    def param(self, key: str, default: str) -> str:
        return self.params.get(key, default)

    def int_param(self, key: str, default: int) -> int:
        value = self.params.get(key)
        if value is None:
            return default
        try:
            return int(value, 0)
        except ValueError:
            raise DeviceURLError(f"{self.raw}: {key}={value!r} is not an integer") from None


@attrs.frozen
class DeviceContext:
    """What a factory may use besides the URL.

    ``clock`` times every wait; ``simulation`` is the simulated world (virtual
    devices live there) and is ``None`` when only real devices are wanted.
    """

    clock: Clock = attrs.field(factory=RealClock)
    simulation: Any = None
    # A drivers.traffic.recording.Recorder while the device's traffic is recorded
    # (``?record=PATH``, docs/replay.md); transports that can be tapped use it.
    recorder: Any = None


DeviceFactory = Callable[[DeviceURL, DeviceContext], Any]


class DeviceRegistry:
    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._factories: dict[tuple[DeviceKind, str], DeviceFactory] = {}
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._lock = threading.Lock()

    def register(self, kind: DeviceKind, scheme: str, factory: DeviceFactory) -> None:
        key = (kind, scheme.lower())
        existing = self._factories.get(key)
        if existing is not None and existing is not factory:
            raise DeviceURLError(f"scheme {scheme!r} for {kind.value} is already registered")
        self._factories[key] = factory

    def schemes(self, kind: DeviceKind) -> list[str]:
        self._ensure_loaded()
        return sorted(scheme for k, scheme in self._factories if k is kind)

    def open(self, kind: DeviceKind, url: str | DeviceURL, context: DeviceContext) -> Any:
        self._ensure_loaded()
        parsed = url if isinstance(url, DeviceURL) else DeviceURL.parse(url)
        factory = self._factories.get((kind, parsed.scheme))
        if factory is None:
            known = ", ".join(f"{s}://" for s in self.schemes(kind)) or "none"
            raise DeviceURLError(
                f"no {kind.value} driver for {parsed.raw!r}: known schemes are {known}"
            )
        from drivers.traffic.recording import attach_recorder, check_tapped

        parsed, context, recorder, required = attach_recorder(kind, parsed, context)
        device = factory(parsed, context)
        if recorder is not None:
            check_tapped(recorder, required, device)
        return device

    def _ensure_loaded(self) -> None:
        if self._loaded or not self._load_entry_points:
            return
        with self._lock:
            if self._loaded:
                return
            for entry_point in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    register = entry_point.load()
                    register(self)
                except ImportError as exc:  # a broken plug-in, or possim's packages shadowed
                    raise DeviceURLError(
                        f"cannot load the {entry_point.name!r} device scheme "
                        f"({entry_point.value}): {exc}"
                    ) from None
            self._loaded = True


registry = DeviceRegistry()


def open_device(kind: DeviceKind, url: str, context: DeviceContext | None = None) -> Any:
    """Open the device named by ``url`` through the global registry."""
    return registry.open(kind, url, context or DeviceContext())
