"""The simulated keyboard-wedge scan gun: ``sim://?transport=wedge``.

The gun types each code as the input events a USB HID keyboard makes the Linux
kernel emit (hid-input: for every report, ``EV_MSC``/``MSC_SCAN`` with the HID
usage, ``EV_KEY`` with the key code, then ``EV_SYN``/``SYN_REPORT``; Shift
pressed around capitals), 2-8 ms a key (seeded, on the virtual clock), then
Enter. The terminal's side is the real :class:`~drivers.wedge_scanner.WedgeScanner`
reading those events, so scenarios, ``possim tui`` and record/replay exercise the
decoder. :meth:`WedgeHand.type_text` is a person typing on the same device
(100-300 ms a key), which the driver must ignore.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Sequence

from drivers.clock import Clock
from drivers.errors import DeviceUnavailable
from drivers.registry import DeviceContext
from drivers.scanner import Scanner
from drivers.url import DeviceURL
from drivers.wedge_keys import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    KEY_LEFTSHIFT,
    KEY_PRESS,
    KEY_RELEASE,
    MSC_SCAN,
    SYN_REPORT,
    US_KEYMAP,
    InputEvent,
)
from drivers.wedge_scanner import WedgeScanner

ARRIVAL_WAIT = 5.0  # real seconds for the driver's reader thread to decode a scan
GUN_KEY_DELAY = (0.002, 0.008)  # seconds from one key press to the next: a scan gun
PERSON_KEY_DELAY = (0.12, 0.30)  # ... a person typing
HID_USAGE_PAGE_KEYBOARD = 0x70000  # MSC_SCAN value = usage page 0x07 << 16 | usage id
HID_LEFT_SHIFT = 0xE1

# HID Usage Tables 1.4, section 10 (Keyboard/Keypad page 0x07): the usage id of each
# character's key on the US layout (the unshifted character names the key).
_HID_USAGE: dict[str, int] = {
    **{chr(ord("a") + i): 0x04 + i for i in range(26)},
    **{str(d): 0x1E + (d - 1) for d in range(1, 10)},
    "0": 0x27,
    "\r": 0x28,
    "\t": 0x2B,
    " ": 0x2C,
    **dict(
        zip(
            "-=[]\\;'`,./",
            (0x2D, 0x2E, 0x2F, 0x30, 0x31, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38),
            strict=True,
        )
    ),
}
# Character -> (Linux key code, shifted), from the main block only (not the keypad).
_MAIN_BLOCK = sorted(code for code in US_KEYMAP if code < 58 and code != 55)  # 55: KP *
_KEY_OF: dict[str, tuple[int, bool]] = {US_KEYMAP[code][0]: (code, False) for code in _MAIN_BLOCK}
for _code in _MAIN_BLOCK:
    _KEY_OF.setdefault(US_KEYMAP[_code][1], (_code, True))


class UntypableCharacter(DeviceUnavailable):
    """A code with a character no key types on the US layout."""


def key_events(
    text: str, start: float, rng: random.Random, delay: tuple[float, float] = GUN_KEY_DELAY
) -> list[InputEvent]:
    """The events a HID keyboard's reports make the kernel emit for typing ``text``
    from ``start`` (seconds), a key every ``delay`` (uniform, from ``rng``)."""
    events: list[InputEvent] = []
    t = start

    def report(usage: int, code: int, value: int) -> None:
        stamp = round(t, 6)  # the kernel stamps events to the microsecond
        events.append(InputEvent(stamp, EV_MSC, MSC_SCAN, HID_USAGE_PAGE_KEYBOARD | usage))
        events.append(InputEvent(stamp, EV_KEY, code, value))
        events.append(InputEvent(stamp, EV_SYN, SYN_REPORT, 0))

    for char in text:
        found = _KEY_OF.get(char)
        if found is None:
            raise UntypableCharacter(f"a wedge cannot type {char!r} on the US layout")
        code, shifted = found
        usage = _HID_USAGE[US_KEYMAP[code][0]]
        held = rng.uniform(delay[0], delay[1]) / 3  # the key is released before the next
        if shifted:
            report(HID_LEFT_SHIFT, KEY_LEFTSHIFT, KEY_PRESS)
            t += held / 4
        report(usage, code, KEY_PRESS)
        t += held
        report(usage, code, KEY_RELEASE)
        if shifted:
            t += held / 4
            report(HID_LEFT_SHIFT, KEY_LEFTSHIFT, KEY_RELEASE)
        t += rng.uniform(delay[0], delay[1]) - held * (1.5 if shifted else 1)
    return events


class SimWedgeSource:
    """The input device the driver reads: whatever the hand types, in whole pushes."""

    def __init__(self) -> None:
        self._ready: deque[InputEvent] = deque()
        self._changed = threading.Condition()
        self._closed = False

    def push(self, events: Sequence[InputEvent]) -> None:
        with self._changed:
            self._ready.extend(events)
            self._changed.notify_all()

    def read(self, timeout: float) -> Sequence[InputEvent]:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self._closed, timeout)
            events = list(self._ready)
            self._ready.clear()
            return events

    def now(self) -> float | None:
        with self._changed:
            # A push is a whole scan or a whole bit of typing: once read, it has ended.
            return None if self._ready else math.inf

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()


class WedgeHand:
    """The hand on the gun (and on the keyboard it is): ``scan(code)`` like the
    in-process VirtualScanner."""

    def __init__(
        self, source: SimWedgeSource, clock: Clock, driver: WedgeScanner, seed: int = 0
    ) -> None:
        self._source = source
        self._clock = clock
        self._driver = driver
        self._rng = random.Random(seed)
        self._next = 0.0  # events never go back in time, even if the clock stands still

    def scan(self, code: str, times: int = 1) -> None:
        """Type ``code`` and Enter; ``times`` > 1: a doubled scan, back to back."""
        before = self._driver.received()
        events = self._type(code + "\r", GUN_KEY_DELAY, times)
        self._clock.work_begun()
        try:
            self._source.push(events)
            self._driver.wait_received(before + times, ARRIVAL_WAIT)  # real time: a thread
        finally:
            self._clock.work_done()
            self._clock.notify()

    def type_text(self, text: str) -> None:
        """A person typing ``text`` on the device: the driver must not take it for a scan."""
        seen = self._driver.events_seen()
        events = self._type(text, PERSON_KEY_DELAY, 1)
        self._source.push(events)
        self._driver.wait_events(seen + len(events), ARRIVAL_WAIT)

    def noise(self, data: bytes) -> None:
        """A wedge carries keys, not line noise (a scenario's scan_noise): nothing arrives."""
        self._clock.notify()

    def _type(self, text: str, delay: tuple[float, float], times: int) -> list[InputEvent]:
        events: list[InputEvent] = []
        start = max(self._clock.monotonic(), self._next)
        for _ in range(times):
            events.extend(key_events(text, start, self._rng, delay))
            start = events[-1].t + delay[1]
        self._next = start + 1.0  # the next burst starts well apart
        return events


class WedgeLink(Scanner):
    """The terminal's scanner: the wedge driver on the simulated device."""

    def __init__(self, driver: WedgeScanner) -> None:
        self.driver = driver

    def read_code(self, timeout: float) -> str | None:
        return self.driver.read_code(timeout)

    def take_scan(self) -> str | None:
        return self.driver.take_scan()

    def close(self) -> None:
        self.driver.close()


def open_wedge_scanner(context: DeviceContext, url: DeviceURL) -> tuple[WedgeLink, WedgeHand]:
    """The driver on a simulated wedge, and the hand that scans with it; recorded like
    ``evdev://`` when the context records (``possim trace record``)."""
    source = SimWedgeSource()
    read_by: object = source
    if context.recorder is not None:
        read_by = context.recorder.input_events(
            source, url, transport="evdev", device_name="possim wedge"
        )
    driver = WedgeScanner(read_by, clock=context.clock, name=url.raw)  # type: ignore[arg-type]
    return WedgeLink(driver), WedgeHand(source, context.clock, driver)
