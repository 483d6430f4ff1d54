"""Record and replay a keyboard-wedge scanner at its input events.

:class:`~drivers.wedge_scanner.WedgeScanner` reads ``InputEvent`` values from an
input source: :class:`RecordingSource` wraps a real one (python-evdev, or the
simulated wedge) and writes every event to the trace, one line each
(``op`` ``input``, ``dir`` ``in``); :class:`ReplaySource` is a source whose
events come from the trace. A line's ``hex`` is the event's type, code and
value as in ``struct input_event`` (``<HHi``, little-endian), and ``us`` its
kernel timestamp in microseconds since the first event: the decoder times
bursts by those, so a replay decodes exactly what the device sent. Key and
``MSC_SCAN`` events say which keys were pressed -- a payment code is a bearer
token -- so their bytes are sealed and the summary says only ``key press``;
``EV_SYN`` lines stay in clear.

Release, as for the serial scanner (:mod:`drivers.traffic.serial`): a scenario's
``scan_code`` releases recorded events until the driver has decoded one more
code (a person typing in between is released on the way, and ignored by the
driver); with no scenario the driver's next ``read_code`` does.
"""

from __future__ import annotations

import math
import struct
import threading
from collections import deque
from collections.abc import Sequence
from typing import Any

from drivers.clock import Clock
from drivers.traffic.tape import Cursor, Tape
from drivers.wedge_keys import EV_KEY, EV_MSC, EV_SYN, InputEvent
from drivers.wedge_scanner import InputSource, WedgeScanner

ARRIVAL_WAIT = 5.0  # real seconds the driver's reader thread may take to decode events
MAX_TRAILING_EVENTS = 10_000  # released on closing; a longer rest is reported as missing
_EVENT = struct.Struct("<HHi")
_SUMMARY_KEY = {0: "key release", 1: "key press", 2: "key repeat"}
_SYN = {0: "SYN_REPORT", 3: "SYN_DROPPED"}


def describe_event(event: InputEvent) -> str:
    if event.type == EV_KEY:
        return _SUMMARY_KEY.get(event.value, "key")
    if event.type == EV_MSC:
        return "MSC_SCAN" if event.code == 4 else "EV_MSC"
    if event.type == EV_SYN:
        return _SYN.get(event.code, "EV_SYN")
    return f"event type {event.type}"


class RecordingSource:
    """An input source whose events are written to a :class:`Tape`."""

    def __init__(self, source: InputSource, tape: Tape) -> None:
        self._source = source
        self._tape = tape
        self._first: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._source, name)

    def read(self, timeout: float) -> Sequence[InputEvent]:
        events = self._source.read(timeout)
        for event in events:
            if self._first is None:
                self._first = event.t
            us = max(0, round((event.t - self._first) * 1_000_000))
            data = _EVENT.pack(event.type, event.code, event.value)
            shown = data.hex().upper() if event.type == EV_SYN else "[SEALED]"
            self._tape.add_sealed("input", "in", data, shown, describe_event(event), us=us)
        return events

    def now(self) -> float | None:
        return self._source.now()

    def close(self) -> None:
        self._source.close()
        self._tape.close()


class ReplaySource:
    """An input source that plays a wedge trace's events once released."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor
        self._ready: deque[InputEvent] = deque()
        self._changed = threading.Condition()
        self._closed = False
        self.released = 0

    def read(self, timeout: float) -> Sequence[InputEvent]:
        with self._changed:
            self._changed.wait_for(lambda: self._ready or self._closed, timeout)
            events = list(self._ready)
            self._ready.clear()
            return events

    def now(self) -> float | None:
        """The next recorded event's time: whatever the release pace (a hand releases
        events one by one, and this machine may be slow between them), the burst under
        way ends exactly where the recording says; after the last event, never."""
        with self._changed:  # atomic with release(): no event between cursor and queue
            if self._ready:
                return None
            message = self._cursor.peek()
            if message is None or message.op != "input":
                return math.inf
            return int(message.extra.get("us", 0)) / 1e6

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def release(self, count: int) -> int:
        """Hand the driver the next ``count`` recorded events; how many there were."""
        cursor = self._cursor
        events: list[InputEvent] = []
        with self._changed, cursor.lock:
            while len(events) < count and (message := cursor.peek()) is not None:
                if message.op != "input":
                    raise cursor.diverged(message, "input in (a wedge reads input events)")
                data = cursor.payload(cursor.advance())
                kind, code, value = _EVENT.unpack(data)
                events.append(InputEvent(int(message.extra.get("us", 0)) / 1e6, kind, code, value))
            self._ready.extend(events)
            self.released += len(events)
            self._changed.notify_all()
        return len(events)


class ReplayWedgeScanner(WedgeScanner):
    """The unchanged wedge driver on a :class:`ReplaySource`; without a scenario hand,
    ``read_code`` releases recorded events until a code is decoded."""

    def __init__(self, source: ReplaySource, cursor: Cursor, **kwargs: Any) -> None:
        super().__init__(source, **kwargs)
        self.replay_source = source
        self.cursor = cursor
        self.hand_attached = False

    def release_next_code(self, times: int = 1) -> bool:
        """Release events one by one until ``times`` more codes are decoded or the trace
        ends; whether they were."""
        target = self.received() + times
        source = self.replay_source
        while self.received() < target and source.release(1):
            self.wait_events(source.released, ARRIVAL_WAIT)
        return self.received() >= target

    def read_code(self, timeout: float) -> str | None:
        if not self.hand_attached and not self._has_news():
            self.release_next_code()
        return super().read_code(timeout)

    def close(self) -> None:
        # Keys typed after the last code (a person at the keyboard) are no exchange the
        # driver could have missed: let them through before checking the trace is done.
        source = self.replay_source
        if self.cursor.failure is None and source.release(MAX_TRAILING_EVENTS):
            self.wait_events(source.released, ARRIVAL_WAIT)
        super().close()
        self.cursor.check_finished()


class ReplayWedgeHand:
    """The scenario's ``scan_code`` on a replayed wedge: releases the recorded events
    up to the next code and checks it is the code the scenario scans."""

    def __init__(self, driver: ReplayWedgeScanner, clock: Clock) -> None:
        self._driver = driver
        self._clock = clock
        driver.hand_attached = True

    def scan(self, code: str, times: int = 1) -> None:
        driver = self._driver
        before = driver.received()
        self._clock.work_begun()
        try:
            message = driver.cursor.peek()
            driver.release_next_code(times)
            decoded = list(driver.history)[-(driver.received() - before) :][:times]
            if driver.received() == before or decoded != [code] * times:
                shown = f"scenario scans a code of {len(code)} characters x{times}"
                got = f"the recording decodes to {len(decoded)} code(s) of lengths " + ", ".join(
                    str(len(c)) for c in decoded
                )
                raise driver.cursor.diverged(message, f"{shown}; {got}")
        finally:
            self._clock.work_done()
            self._clock.notify()

    def noise(self, data: bytes) -> None:
        """A wedge carries keys, not line noise: nothing to release."""
