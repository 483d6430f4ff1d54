"""Keyboard-wedge scans from key events: the US layout and the burst detector.

A USB scan gun in "keyboard" (HID) mode types each code as key presses, a few
milliseconds apart, usually followed by Enter. This module turns key events into
codes, with no device and no clock of its own (every timestamp is the event's),
so the same input always decodes the same way:

* :class:`KeyDecoder` turns Linux input events (``EV_KEY`` codes from
  ``<linux/input-event-codes.h>``, press/release/repeat, Shift held or not) into
  characters, on the US layout every scan gun's factory setting assumes;
* :class:`WedgeBurstDetector` turns characters with timestamps into codes: a
  *burst* is keys no more than ``gap`` apart (a gun: 2-8 ms a key; a person:
  100 ms and more), ended by the suffix key (Enter by default). The TUI feeds it
  its own key events (``event.character``, ``event.time``).

>>> detector = WedgeBurstDetector(gap=0.03)
>>> person = [detector.feed(key, t) for key, t in (("4", 0.0), ("2", 0.25))]
>>> gun = [detector.feed(key, 1.0 + i * 0.004) for i, key in enumerate("6912\\r")]
>>> person, gun[-1]
([[], []], ['6912'])
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

import attrs

# <linux/input-event-codes.h>
EV_SYN, EV_KEY, EV_MSC = 0x00, 0x01, 0x04
SYN_REPORT, SYN_DROPPED = 0, 3
MSC_SCAN = 0x04
KEY_RELEASE, KEY_PRESS, KEY_REPEAT = 0, 1, 2
KEY_ENTER, KEY_TAB, KEY_KPENTER = 28, 15, 96
KEY_LEFTSHIFT, KEY_RIGHTSHIFT = 42, 54
SHIFT_KEYS = frozenset({KEY_LEFTSHIFT, KEY_RIGHTSHIFT})

# Key code -> (unshifted, shifted) on the US layout: the printable ASCII a payment
# code, a barcode or a URL in a QR code is made of. Keypad digits read as digits
# (guns set to "keypad emulation" send them with Num Lock assumed on).
_ROWS: tuple[tuple[int, str, str], ...] = (
    (2, "1234567890-=", "!@#$%^&*()_+"),
    (16, "qwertyuiop[]", "QWERTYUIOP{}"),
    (30, "asdfghjkl;'`", 'ASDFGHJKL:"~'),
    (43, "\\zxcvbnm,./", "|ZXCVBNM<>?"),
)
US_KEYMAP: dict[int, tuple[str, str]] = {
    code + i: (plain[i], shifted[i]) for code, plain, shifted in _ROWS for i in range(len(plain))
}
US_KEYMAP[57] = (" ", " ")  # KEY_SPACE
US_KEYMAP[KEY_ENTER] = ("\r", "\r")
US_KEYMAP[KEY_KPENTER] = ("\r", "\r")
US_KEYMAP[KEY_TAB] = ("\t", "\t")
for _code, _digit in zip((82, 79, 80, 81, 75, 76, 77, 71, 72, 73), "0123456789", strict=True):
    US_KEYMAP[_code] = (_digit, _digit)  # KEY_KP0 .. KEY_KP9
US_KEYMAP.update({55: ("*", "*"), 74: ("-", "-"), 78: ("+", "+"), 83: (".", ".")})
US_KEYMAP.update({98: ("/", "/")})  # KEY_KPSLASH

SUFFIX_KEYS: dict[str, str] = {"ENTER": "\r", "TAB": "\t", "none": ""}
KEY_NAMES = {"enter": "\r", "tab": "\t"}  # Textual's names of the keys that end a code
DEFAULT_GAP = 0.030  # seconds: a gun types a key every 2-8 ms, a person ~100+ ms
DEFAULT_MAX_LENGTH = 512
DEFAULT_MIN_LENGTH = 4
MAX_ERRORS = 64  # the skipped bursts kept for take_errors()


@attrs.frozen
class InputEvent:
    """One Linux ``struct input_event``: ``t`` in seconds, as the kernel stamped it."""

    t: float
    type: int
    code: int
    value: int


# A key the layout has no character for: it breaks a burst it falls in.
NOT_A_CHARACTER = "\x00"
# The kernel dropped events (SYN_DROPPED): the burst under way lost keys.
DROPPED = "\x01"


class KeyDecoder:
    """Linux key events -> the characters they type, with Shift held or not.

    Only presses type (a release or an auto-repeat does not: a person holding a
    key is no scan). Caps Lock is not followed: its state lives in the host,
    not in the events, and scan guns send Shift for capitals.
    """

    def __init__(self, keymap: dict[int, tuple[str, str]] | None = None) -> None:
        self._keymap = US_KEYMAP if keymap is None else keymap
        self._shift_down: set[int] = set()

    def feed(self, event: InputEvent) -> str | None:
        """The character ``event`` types; :data:`NOT_A_CHARACTER` for another key's
        press, :data:`DROPPED` when the kernel lost events, else ``None``."""
        if event.type == EV_SYN and event.code == SYN_DROPPED:
            self._shift_down.clear()
            return DROPPED
        if event.type != EV_KEY:
            return None
        if event.code in SHIFT_KEYS:
            if event.value == KEY_RELEASE:
                self._shift_down.discard(event.code)
            else:
                self._shift_down.add(event.code)
            return None
        if event.value == KEY_REPEAT:
            return NOT_A_CHARACTER
        if event.value != KEY_PRESS:
            return None
        pair = self._keymap.get(event.code)
        if pair is None:
            return NOT_A_CHARACTER
        return pair[1] if self._shift_down else pair[0]


@attrs.frozen
class WedgeError:
    """A burst the detector skipped: ``kind`` is ``no_suffix``, ``no_prefix``,
    ``too_long``, ``not_a_character`` or ``dropped``; ``length`` its characters."""

    kind: str
    detail: str
    length: int = 0


class WedgeBurstDetector:
    """Characters with timestamps in, scanned codes out (see the module doc).

    ``gap``: seconds; a key later than this after the previous one starts a new
    burst. ``suffix``: the key that ends a code (``\\r`` Enter, ``\\t`` Tab, or
    ``""``: a pause longer than ``gap`` ends it, noticed at the next key or at
    :meth:`flush`). ``prefix`` is stripped from each code. A burst shorter than
    ``min_length`` characters is a person typing; one longer than ``max_length``
    is skipped (only its length is kept, so memory stays bounded).
    """

    def __init__(
        self,
        *,
        gap: float = DEFAULT_GAP,
        suffix: str = "\r",
        prefix: str = "",
        max_length: int = DEFAULT_MAX_LENGTH,
        min_length: int = DEFAULT_MIN_LENGTH,
    ) -> None:
        if gap <= 0 or max_length < 1 or min_length < 1:
            raise ValueError("gap, max_length and min_length must be positive")
        self.gap = gap
        self.suffix = suffix
        self.prefix = prefix
        self.max_length = max_length
        self.min_length = min_length
        self._keys: list[str] = []
        self._length = 0
        self._broken: tuple[str, str] | None = None
        self._last: float | None = None
        self._errors: deque[WedgeError] = deque(maxlen=MAX_ERRORS)

    @property
    def in_burst(self) -> bool:
        """Keys of a possible scan are pending (the TUI may hold them back)."""
        return self._length > 1

    def feed(self, key: str, t: float) -> list[str]:
        """Key ``key`` (a character, ``\\r`` or ``enter`` for Enter, ``\\t`` or ``tab``
        for Tab; anything else longer or not printable is a key with no character)
        pressed at ``t`` seconds; the codes this completes."""
        key = KEY_NAMES.get(key, key)
        codes = self.flush(t)
        self._last = t
        if self.suffix and key == self.suffix:
            if self._length:
                codes.extend(self._complete())
            return codes
        if key == DROPPED:
            self._break("dropped", "the kernel dropped input events (SYN_DROPPED)")
        elif len(key) != 1 or not key.isprintable():
            self._break("not_a_character", "a key with no character on the US layout")
        self._length += 1
        if self._broken is None and self._length > self.max_length:
            self._break("too_long", f"more than {self.max_length} characters")
        if self._broken is None:
            self._keys.append(key)
        return codes

    def feed_all(self, keys: Iterable[tuple[str, float]]) -> list[str]:
        return [code for key, t in keys for code in self.feed(key, t)]

    def flush(self, now: float) -> list[str]:
        """End the burst under way if ``now`` is more than ``gap`` after its last key
        (or before it: timestamps went back); the code that ends, if any."""
        last = self._last
        if last is None or not self._length or 0 <= now - last <= self.gap:
            return []
        if self.suffix:  # a pause before the suffix: a person, or a scan cut short
            if self._length >= self.min_length:
                self._errors.append(
                    WedgeError(*(self._broken or _no_suffix(self.suffix)), self._length)
                )
            self._reset()
            return []
        return self._complete()

    def take_errors(self) -> list[WedgeError]:
        """The bursts skipped since the last call, oldest first (at most :data:`MAX_ERRORS`)."""
        errors = list(self._errors)
        self._errors.clear()
        return errors

    def _complete(self) -> list[str]:
        length, broken, text = self._length, self._broken, "".join(self._keys)
        self._reset()
        if length < self.min_length:
            return []  # a person pressed a key or two and Enter
        if broken is not None:
            self._errors.append(WedgeError(*broken, length))
            return []
        if self.prefix:
            if not text.startswith(self.prefix):
                self._errors.append(
                    WedgeError("no_prefix", f"does not start with {self.prefix!r}", length)
                )
                return []
            text = text[len(self.prefix) :]
        return [text] if text else []

    def _break(self, kind: str, detail: str) -> None:
        # Reported when the burst ends, and only if it was long enough to be a scan.
        if self._broken is None:
            self._broken = (kind, detail)
        self._keys.clear()

    def _reset(self) -> None:
        self._keys.clear()
        self._length = 0
        self._broken = None


def _no_suffix(suffix: str) -> tuple[str, str]:
    name = {"\r": "Enter", "\t": "Tab"}.get(suffix, repr(suffix))
    return "no_suffix", f"a burst that paused before its suffix ({name}): skipped"
