"""Keyboard-wedge scan guns (USB HID keyboards) on Linux, over evdev.

Most scan guns at Chinese tills are USB keyboards: they *type* each code. The
``evdev://`` scheme reads such a gun's input device with python-evdev
(``pip install possim[wedge]``):

====================================================  ===============================
URL                                                   device
====================================================  ===============================
``evdev:///dev/input/by-id/usb-...-event-kbd``        by path
``evdev://?name=Honeywell%20Scanner``                 by the device's name (exact, else
                                                      the one name containing it)
====================================================  ===============================

The device is *grabbed* (``EVIOCGRAB``, unless ``grab=0``) so the codes go to
possim only, not into whatever window has the focus. Key events become
characters on the US layout and codes by inter-key timing
(:mod:`drivers.wedge_keys`): a burst of keys no more than ``gap`` ms apart,
ended by the ``suffix`` key, is a scan; a person typing on the same device (or a
keyboard named by mistake) is slower and is ignored. Every timestamp is the
kernel's, carried by the event, so decoding a recording gives the same codes
every time; only noticing the *end* of a suffix-less burst needs the time now.

Like :class:`~drivers.serial_scanner.SerialScanner`, a reader thread feeds the
decoder and wakes the context clock when a code is complete; skipped bursts are
reported by :meth:`WedgeScanner.take_errors`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, Protocol

from drivers.clock import Clock
from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.params import UrlParam
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.scanner import MAX_QUEUED_CODES, READ_SLICE, Scanner, ThreadedScanner
from drivers.url import DeviceURL
from drivers.wedge_keys import (
    DEFAULT_MAX_LENGTH,
    DEFAULT_MIN_LENGTH,
    SUFFIX_KEYS,
    InputEvent,
    KeyDecoder,
    WedgeBurstDetector,
    WedgeError,
)

NAME = UrlParam(
    "name",
    str,
    None,
    help="the input device's name (as `evtest` or `/proc/bus/input/devices` shows it): "
    "exact, else the only one containing it; instead of a path",
    needs="a device name",
    example="Honeywell%20Scanner",
)
GRAB = UrlParam(
    "grab",
    int,
    1,
    minimum=0,
    maximum=1,
    help="1: grab the device (EVIOCGRAB) so its keys reach possim only; 0: share it",
)
GAP = UrlParam(
    "gap",
    int,
    30,
    positive=True,
    unit="milliseconds",
    help="keys further apart than this start a new burst (a gun types a key every 2-8 ms, "
    "a person 100 ms and more); measured on the events' own timestamps",
)
SUFFIX = UrlParam(
    "suffix",
    str,
    "ENTER",
    choices=tuple(SUFFIX_KEYS),
    ignore_case=True,
    help="the key that ends a code; `none`: a pause longer than `gap` ends it",
)
PREFIX = UrlParam(
    "prefix",
    str,
    "",
    help="stripped from each code (a burst without it is skipped and reported)",
)
MAX_LENGTH = UrlParam(
    "max_length",
    int,
    DEFAULT_MAX_LENGTH,
    positive=True,
    unit="characters",
    help="a longer burst is skipped and reported",
)
MIN_LENGTH = UrlParam(
    "min_length",
    int,
    DEFAULT_MIN_LENGTH,
    positive=True,
    unit="characters",
    help="a shorter burst is a person typing, not a scan",
)
URL_PARAMS = (NAME, GRAB, GAP, SUFFIX, PREFIX, MAX_LENGTH, MIN_LENGTH)


class InputSource(Protocol):
    """Where a wedge's input events come from: an evdev device, a recording, a simulation."""

    def read(self, timeout: float) -> Sequence[InputEvent]:
        """The events available now, waiting up to ``timeout`` seconds for the first."""
        ...

    def now(self) -> float | None:
        """The time on the events' clock now, to tell that a burst has ended:
        ``math.inf`` for a source that only ever delivers whole bursts, ``None``
        when events are waiting to be read (they come first)."""
        ...

    def close(self) -> None: ...


class WedgeScanner(ThreadedScanner):
    """A keyboard-wedge scanner reading an :class:`InputSource` (see the module doc)."""

    def __init__(
        self,
        source: InputSource,
        *,
        clock: Clock,
        detector: WedgeBurstDetector | None = None,
        name: str = "wedge",
    ) -> None:
        super().__init__(clock=clock, name=name, thread_name="possim-wedge")
        self.source = source
        self._keys = KeyDecoder()
        self._detector = detector or WedgeBurstDetector()
        self.history: deque[str] = deque(maxlen=MAX_QUEUED_CODES)  # for replay checks
        self._events = 0
        self._dropped_codes = 0
        self._thread.start()

    def events_seen(self) -> int:
        """How many input events the decoder has taken since the device was opened."""
        with self._lock:
            return self._events

    def wait_events(self, count: int, timeout: float) -> bool:
        """Block (real time) until the decoder has taken ``count`` events since opening."""
        with self._changed:
            return self._changed.wait_for(lambda: self._events >= count, timeout)

    def take_errors(self) -> list[WedgeError]:
        """The bursts skipped since the last call, oldest first."""
        with self._lock:
            errors = self._detector.take_errors()
            if self._dropped_codes:
                errors.append(
                    WedgeError(
                        "queue_full",
                        f"{self._dropped_codes} code(s) dropped: more than "
                        f"{MAX_QUEUED_CODES} scanned and not read",
                    )
                )
                self._dropped_codes = 0
            return errors

    def _close_device(self) -> None:
        self.source.close()

    # -- the reader thread ----------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                events = self.source.read(READ_SLICE)
                now = self.source.now() if not events else None
            except Exception as exc:  # unplugged: report, never crash
                if not self._stopping.is_set():
                    with self._lock:
                        self._fail(f"input device failed: {exc}")
                    self._clock.notify()
                return
            with self._lock:
                for event in events:
                    self._decode(event)
                if now is not None:
                    self._deliver_all(self._detector.flush(now))
                self._events += len(events)
                self._changed.notify_all()
            if events or now is not None:
                self._clock.notify()

    def _decode(self, event: InputEvent) -> None:
        key = self._keys.feed(event)
        if key is not None:
            self._deliver_all(self._detector.feed(key, event.t))

    def _deliver_all(self, codes: list[str]) -> None:
        for code in codes:
            self.history.append(code)
            if not self._deliver(code):
                self._dropped_codes += 1


# -- evdev -------------------------------------------------------------------------


class EvdevSource:
    """A python-evdev ``InputDevice``, grabbed while open."""

    def __init__(self, device: Any, *, grab: bool) -> None:
        self.device = device
        self.path = str(device.path)
        self._grabbed = False
        if grab:
            try:
                device.grab()
            except OSError as exc:
                device.close()
                raise DeviceUnavailable(
                    f"cannot grab {self.path} ({device.name!r}): {exc.strerror}; another "
                    "program holds it (close it, or add grab=0 to share the device)"
                ) from exc
            self._grabbed = True

    def read(self, timeout: float) -> Sequence[InputEvent]:
        import select

        ready, _, _ = select.select([self.device.fd], [], [], timeout)
        if not ready:
            return []
        try:
            raw = list(self.device.read())
        except BlockingIOError:
            return []
        return [InputEvent(event.timestamp(), event.type, event.code, event.value) for event in raw]

    def now(self) -> float | None:
        import select

        if select.select([self.device.fd], [], [], 0)[0]:
            return None  # a key arrived meanwhile: read it before deciding
        return time.time()  # evdev stamps events with CLOCK_REALTIME by default

    def close(self) -> None:
        if self._grabbed:
            with contextlib.suppress(OSError):
                self.device.ungrab()
        self.device.close()


def register(registry: DeviceRegistry) -> None:
    registry.register(
        Scanner,
        "evdev",
        open_wedge_scanner,
        params=URL_PARAMS,
        usage="evdev:///dev/input/eventN",
        help="a keyboard-wedge (USB HID keyboard) scan gun on Linux, by path or `?name=`, "
        "grabbed; python-evdev (`possim[wedge]`, docs/scanner.md)",
    )


def detector_for(url: DeviceURL) -> WedgeBurstDetector:
    """The burst detector ``url``'s parameters describe."""
    return WedgeBurstDetector(
        gap=GAP.value(url) / 1000,
        suffix=SUFFIX_KEYS[SUFFIX.value(url)],
        prefix=PREFIX.value(url),
        max_length=MAX_LENGTH.value(url),
        min_length=MIN_LENGTH.value(url),
    )


def open_wedge_scanner(url: DeviceURL, context: DeviceContext) -> WedgeScanner:
    """``evdev:///dev/input/eventN?...`` or ``evdev://?name=...`` (see the module doc)."""
    detector = detector_for(url)
    try:
        import evdev
    except ImportError:
        raise DeviceUnavailable(
            f"{url.raw}: keyboard-wedge scanners need python-evdev: pip install 'possim[wedge]'"
        ) from None
    device = _find_device(url, evdev)
    source: InputSource = EvdevSource(device, grab=bool(GRAB.value(url)))
    if context.recorder is not None:  # record= (docs/replay.md)
        source = context.recorder.input_events(
            source,
            url,
            transport="evdev",
            device_name=str(device.name),
            gap=GAP.value(url),
            suffix=SUFFIX.value(url),
            prefix=PREFIX.value(url),
            max_length=MAX_LENGTH.value(url),
            min_length=MIN_LENGTH.value(url),
        )
    return WedgeScanner(source, clock=context.clock, detector=detector, name=url.raw)


def _find_device(url: DeviceURL, evdev: Any) -> Any:
    name = NAME.value(url)
    if name is not None and url.target:
        raise DeviceURLError(f"{url.raw}: name a device by path or by ?name=, not both")
    if name is None:
        if not url.target:
            raise DeviceURLError(f"{url.raw}: expected evdev:///dev/input/eventN or ?name=")
        return _open(url, url.target, evdev)
    devices = []
    for path in sorted(evdev.list_devices()):
        with contextlib.suppress(OSError):
            devices.append(evdev.InputDevice(path))
    exact = [d for d in devices if d.name == name]
    close_matches = exact or [d for d in devices if name.lower() in d.name.lower()]
    chosen = close_matches[0] if len(close_matches) == 1 else None
    for other in devices:
        if other is not chosen:
            other.close()
    if chosen is not None:
        return chosen
    present = "; ".join(f"{d.path}: {d.name}" for d in devices) or "none readable"
    which = "several input devices" if close_matches else "no input device"
    raise DeviceUnavailable(
        f"{which} named {name!r} for scanner {url.raw}; present: {present} "
        "(reading /dev/input needs root or the input group)"
    )


def _open(url: DeviceURL, path: str, evdev: Any) -> Any:
    if not os.path.exists(path):
        raise DeviceUnavailable(
            f"no input device {path} for scanner {url.raw}; plug the gun in and see "
            "/dev/input/by-id/ (its *-event-kbd link) or use ?name="
        )
    try:
        return evdev.InputDevice(path)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise DeviceUnavailable(
                f"permission denied opening {path} for scanner {url.raw}; add your user to "
                "the input group (sudo usermod -aG input $USER) and log in again"
            ) from exc
        raise DeviceUnavailable(f"cannot open scanner {url.raw}: {exc}") from exc
