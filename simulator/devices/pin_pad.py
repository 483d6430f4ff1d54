"""A virtual PIN pad: keys come from a scenario, the TUI keypad or a test.

Like real hardware it only listens while the terminal is asking for a PIN
(or for a menu choice, :meth:`VirtualPinPad.read_key`); keys pressed at other
times are refused, so a scenario that types too early
fails loudly instead of leaking digits into the next prompt.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Collection

from drivers.clock import Clock
from drivers.errors import DeviceTimeout, PinEntryCancelled
from drivers.pin_entry import DigitsChanged, PinEntry

DIGITS = frozenset("0123456789")
KEY_OK = "OK"
KEY_CLEAR = "CLR"
KEY_CANCEL = "CANCEL"
KEYS = DIGITS | {KEY_OK, KEY_CLEAR, KEY_CANCEL}


class VirtualPinPad(PinEntry):
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: deque[str] = deque()
        self._reading = False
        self._choosing = False  # reading one menu key, not a PIN

    @property
    def awaiting_pin(self) -> bool:
        with self._lock:
            return self._reading and not self._choosing

    @property
    def awaiting_key(self) -> bool:
        """The terminal waits for a menu choice (e.g. which application)."""
        with self._lock:
            return self._reading and self._choosing

    def press(self, key: str) -> bool:
        """Press one key; ``False`` when the pad is not collecting a PIN."""
        if key not in KEYS:
            raise ValueError(f"no key {key!r} on the PIN pad: expected a digit, OK, CLR or CANCEL")
        with self._lock:
            if not self._reading:
                return False
            self._keys.append(key)
        self._clock.notify()
        return True

    def type_pin(self, pin: str) -> bool:
        """Type ``pin`` and press OK."""
        return all(self.press(key) for key in [*pin, KEY_OK])

    def read_pin(
        self,
        *,
        min_length: int,
        max_length: int,
        timeout: float,
        on_digits: DigitsChanged | None = None,
    ) -> str:
        with self._lock:
            self._keys.clear()
            self._reading = True
        self._clock.notify()
        deadline = self._clock.monotonic() + timeout
        digits: list[str] = []
        try:
            while True:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0 or not self._clock.wait_until(self._has_key, remaining):
                    raise DeviceTimeout(f"no PIN entered within {timeout:g} s")
                with self._lock:
                    key = self._keys.popleft()
                if key == KEY_CANCEL:
                    raise PinEntryCancelled("cardholder cancelled PIN entry")
                if key == KEY_CLEAR:
                    digits.clear()
                elif key == KEY_OK:
                    if not digits or len(digits) >= min_length:
                        return "".join(digits)
                    continue
                elif len(digits) < max_length:
                    digits.append(key)
                if on_digits is not None:
                    on_digits(len(digits))
        finally:
            with self._lock:
                self._reading = False
                self._keys.clear()
            self._clock.notify()

    def read_key(self, *, keys: Collection[str], timeout: float) -> str:
        with self._lock:
            self._keys.clear()
            self._reading = True
            self._choosing = True
        self._clock.notify()
        deadline = self._clock.monotonic() + timeout
        try:
            while True:
                remaining = deadline - self._clock.monotonic()
                if remaining <= 0 or not self._clock.wait_until(self._has_key, remaining):
                    raise DeviceTimeout(f"no key pressed within {timeout:g} s")
                with self._lock:
                    key = self._keys.popleft()
                if key == KEY_CANCEL:
                    raise PinEntryCancelled("cardholder cancelled")
                if key in keys:
                    return key
        finally:
            with self._lock:
                self._reading = False
                self._choosing = False
                self._keys.clear()
            self._clock.notify()

    def _has_key(self) -> bool:
        return bool(self._keys)
