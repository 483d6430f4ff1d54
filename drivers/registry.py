"""Device URLs and the registry that turns them into drivers.

A device is named by a URL (``sim://``, ``pcsc://Reader 00``,
``usb://0416:5011``, ``tcp://127.0.0.1:9100`` ...). The registry keeps one
factory per (device protocol, scheme), each with its declared ``?key=value``
parameters (:mod:`drivers.params`); schemes are contributed by
``possim.devices`` entry points, so adding a transport never edits a chain of
``if``s here. Recording (``?record=PATH``, docs/replay.md) is a plug-in too: a
:class:`RecordingHook` the registry calls on every open, without knowing how
traffic is recorded.

Lookup is typed, the way labgrid's ``get_driver(cls)`` is: the caller names the
protocol it wants and gets that type back, or an error::

    printer = registry.open(Printer, "tcp://127.0.0.1:9100", context)  # -> Printer

A factory that makes something else is refused (:class:`DeviceURLError` naming
what it made), so a mis-registered scheme fails at start-up, not at the first
receipt.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, TypeVar

import attrs

from drivers.clock import Clock, RealClock
from drivers.errors import DeviceURLError
from drivers.params import UrlParam, check_params
from drivers.url import DeviceURL

ENTRY_POINT_GROUP = "possim.devices"
P = TypeVar("P")

# The order docs/devices.md lists device kinds in (drivers.kinds maps each name to its
# protocol; the registry knows kinds only by the name each protocol declares).
KIND_ORDER = ("card_reader", "pin_entry", "printer", "scanner", "speaker", "magstripe_reader")


def kind_of(protocol: type[object]) -> str:
    """The device kind ``protocol`` is (or implements): ``card_reader`` for CardReader."""
    kind = getattr(protocol, "device_kind", None)
    return kind if isinstance(kind, str) else protocol.__name__


@attrs.frozen
class DeviceContext:
    """What a factory may use besides the URL.

    ``clock`` times every wait; ``simulation`` is the simulated world (virtual
    devices live there; ``None`` when only real devices are wanted), which
    factories check the type of before using it; ``recording`` turns recording
    on for what is opened with this context (``None``: the registry's own hook,
    the one the traffic plug-in registers).
    """

    clock: Clock = attrs.field(factory=RealClock)
    simulation: object | None = None
    # A drivers.traffic.recording.Recorder while the device's traffic is recorded
    # (``?record=PATH``, docs/replay.md); transports that can be tapped use it.
    recorder: TrafficRecorder | None = None
    recording: RecordingHook | None = None


class TrafficRecorder(Protocol):
    """Records one device's traffic: a transport hands it what it opened, so the
    transports import nothing of :mod:`drivers.traffic`."""

    def scard(self, scard: Any, url: DeviceURL, **device: Any) -> Any:
        """pyscard's ``scard`` module, recording (``pcsc://``)."""
        ...

    def tap_escpos(self, escpos: Any, url: DeviceURL, **device: Any) -> None:
        """Record a python-escpos device's writes and reads (patched in place)."""
        ...

    def serial_port(self, port: Any, url: DeviceURL, **device: Any) -> Any:
        """A pyserial port, recording (``serial://``, ``socket://``)."""
        ...

    def input_events(self, source: Any, url: DeviceURL, **device: Any) -> Any:
        """A keyboard wedge's input-event source, recording (``evdev://``)."""
        ...


class RecordingHook(Protocol):
    """What the registry calls around every open so the device's traffic can be
    recorded (:data:`drivers.traffic.recording.RECORDING`)."""

    def attach(
        self, kind: str, url: DeviceURL, context: DeviceContext
    ) -> tuple[DeviceURL, DeviceContext, Callable[[object], None]]:
        """(the URL the factory gets, the context it gets, a check on the opened device)."""
        ...


DeviceFactory = Callable[[DeviceURL, DeviceContext], object]


@attrs.frozen
class Scheme:
    """One registered scheme of one device protocol: its factory, its declared
    parameters and what docs/devices.md says about it."""

    protocol: type[object]
    name: str
    factory: DeviceFactory
    params: tuple[UrlParam[object], ...] = ()
    usage: str = ""  # "usb://VID:PID"
    help: str = ""

    @property
    def kind(self) -> str:
        return kind_of(self.protocol)


class DeviceRegistry:
    def __init__(self, *, load_entry_points: bool = True) -> None:
        self._schemes: dict[tuple[type[object], str], Scheme] = {}
        self._load_entry_points = load_entry_points
        self._loaded = False
        self._lock = threading.Lock()
        # Set by a plug-in (drivers.traffic.replay_scheme.register): the registry
        # itself knows nothing of recording.
        self.recording: RecordingHook | None = None

    def register(
        self,
        protocol: type[object],
        scheme: str,
        factory: DeviceFactory,
        *,
        params: Sequence[UrlParam[object]] = (),
        usage: str = "",
        help: str = "",
    ) -> None:
        """``scheme://`` URLs of ``protocol`` devices are opened by ``factory``, which
        takes the ``params`` declared (any other is refused before it is called)."""
        key = (protocol, scheme.lower())
        existing = self._schemes.get(key)
        if existing is not None and existing.factory is not factory:
            raise DeviceURLError(f"scheme {scheme!r} for {kind_of(protocol)} is already registered")
        self._schemes[key] = Scheme(
            protocol, scheme.lower(), factory, tuple(params), usage or f"{scheme}://", help
        )

    def schemes(self, protocol: type[object]) -> list[str]:
        """The schemes that open ``protocol`` devices (or devices it derives from)."""
        self._ensure_loaded()
        bases = set(protocol.__mro__)
        return sorted({name for (proto, name) in self._schemes if proto in bases})

    def registered(self) -> list[Scheme]:
        """Every scheme, by device kind and name (docs/devices.md)."""
        self._ensure_loaded()
        kinds = list(KIND_ORDER)
        return sorted(
            self._schemes.values(),
            key=lambda s: (kinds.index(s.kind) if s.kind in kinds else len(kinds), s.kind, s.name),
        )

    def scheme(self, protocol: type[object], url: str | DeviceURL) -> tuple[Scheme, DeviceURL]:
        """The scheme that opens ``url`` as a ``protocol``, and the parsed URL;
        a DeviceURLError for an unknown scheme or a parameter it refuses."""
        self._ensure_loaded()
        parsed = url if isinstance(url, DeviceURL) else DeviceURL.parse(url)
        for cls in protocol.__mro__:
            found = self._schemes.get((cls, parsed.scheme))
            if found is not None:
                check_params(parsed, found.params)
                return found, parsed
        known = ", ".join(f"{s}://" for s in self.schemes(protocol)) or "none"
        raise DeviceURLError(
            f"no {kind_of(protocol)} driver for {parsed.raw!r}: known schemes are {known}"
        )

    def check(self, protocol: type[object], url: str | DeviceURL) -> None:
        """Refuse ``url`` as it would be refused on opening, without opening anything:
        its scheme, its parameters and their values (``possim check``)."""
        self.scheme(protocol, url)

    def open(self, protocol: type[P], url: str | DeviceURL, context: DeviceContext) -> P:
        """Open the ``protocol`` device named by ``url``.

        Args:
            protocol: the driver type wanted (``Printer``, ``CardReader``, or a
                subclass such as ``SerialScanner``).
            url: the device URL, e.g. ``tcp://127.0.0.1:9100?timeout=2``.
            context: the clock, the simulated world and the recorder.

        Returns:
            The device, an instance of ``protocol``.

        Raises:
            DeviceURLError: an unknown scheme or parameter, a bad value, or a
                factory that made something other than a ``protocol``.
            DeviceUnavailable: the device is not there (the factory's error).
        """
        found, parsed = self.scheme(protocol, url)
        recording = context.recording or self.recording
        check: Callable[[object], None] | None = None
        if recording is not None:
            parsed, context, check = recording.attach(found.kind, parsed, context)
        device = found.factory(parsed, context)
        if not isinstance(device, protocol):
            close = getattr(device, "close", None)
            if callable(close):
                with contextlib.suppress(Exception):
                    close()
            raise DeviceURLError(
                f"{parsed.raw}: the {found.name}:// factory made a {type(device).__name__}, "
                f"not a {protocol.__name__}"
            )
        if check is not None:
            check(device)
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


def open_device(protocol: type[P], url: str, context: DeviceContext | None = None) -> P:
    """Open the ``protocol`` device named by ``url`` through the global registry."""
    return registry.open(protocol, url, context or DeviceContext())
