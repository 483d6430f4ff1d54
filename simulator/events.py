"""One event stream for everything a simulation does.

Every device exchange (APDU, ESC/POS job, utterance, scan), every gateway
message (ISO 8583, HTTP), every screen change and every app-to-app intent is an
:class:`Event` on one :class:`EventBus`. Transcripts, run records, JUnit
reports, expectation checks and the TUI are all views over this stream.

Publishers redact before they publish (see :mod:`simulator.redact`); as a
second line of defence the bus masks any value registered with
:meth:`EventBus.add_secret` (the PAN and track 2 of the card in play) wherever
it appears in an event.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import attrs

from drivers.clock import Clock

Subscriber = Callable[["Event"], None]


@attrs.frozen
class Event:
    seq: int
    at: float  # seconds on the run's monotonic clock (virtual in simulations)
    time: str  # ISO 8601 wall time
    source: str  # who did it: card_reader, printer, gateway, cashier_app ...
    kind: str  # what it was: apdu, escpos, iso8583, utterance, screen, intent ...
    summary: str  # one redacted line for people
    detail: Mapping[str, Any] = attrs.field(factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": round(self.at, 6),
            "time": self.time,
            "source": self.source,
            "kind": self.kind,
            "summary": self.summary,
            "detail": dict(self.detail),
        }

    def line(self) -> str:
        return f"[{self.at:9.3f}s] {self.source:<12} {self.kind:<10} {self.summary}"


class EventBus:
    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.RLock()
        self._events: list[Event] = []
        # Replaced, never changed in place: publish() iterates it without the lock.
        self._subscribers: tuple[Subscriber, ...] = ()
        self._secrets: dict[str, str] = {}
        self._secret_pattern: re.Pattern[str] | None = None  # any of the secrets
        # The last wall time read and its text: on the virtual clock most events
        # share their instant, and the same datetime formats the same way.
        self._wall: tuple[datetime | None, str] = (None, "")

    @property
    def clock(self) -> Clock:
        return self._clock

    def add_secret(self, value: str, replacement: str) -> None:
        """Mask ``value`` in every later event (belt and braces for PAN/track 2)."""
        if len(value) >= 8:
            with self._lock:
                self._secrets[value] = replacement
                # Longest first: a track 2 is masked whole, not just its PAN.
                longest_first = sorted(self._secrets, key=len, reverse=True)
                self._secret_pattern = re.compile("|".join(map(re.escape, longest_first)))

    def publish(self, source: str, kind: str, summary: str, **detail: Any) -> Event:
        # Read the clock before taking our lock: clock predicates read the bus
        # while holding the clock's lock, so the reverse order would deadlock.
        at = self._clock.monotonic()
        now = self._clock.now()
        last, wall = self._wall
        if now is not last:
            wall = now.isoformat(timespec="milliseconds")
            self._wall = (now, wall)
        with self._lock:
            pattern = self._secret_pattern
            if pattern is not None:
                # One pass over each value's text first: most events hold no secret.
                if pattern.search(summary) is not None:
                    summary = self._replace(summary)
                if detail and pattern.search(repr(detail)) is not None:
                    detail = self._replace(detail)
            events = self._events
            event = Event(len(events) + 1, at, wall, source, kind, summary, detail)
            events.append(event)
            subscribers = self._subscribers
        for subscriber in subscribers:
            subscriber(event)
        self._clock.notify()
        return event

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    remaining = list(self._subscribers)
                    remaining.remove(subscriber)
                    self._subscribers = tuple(remaining)

        return unsubscribe

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)

    def since(self, seq: int) -> list[Event]:
        with self._lock:
            return self._events[seq:]

    def of(self, *, source: str | None = None, kind: str | None = None) -> Iterator[Event]:
        for event in self.events:
            if (source is None or event.source == source) and (kind is None or event.kind == kind):
                yield event

    def _replace(self, value: Any) -> Any:
        if isinstance(value, str):
            assert self._secret_pattern is not None
            return self._secret_pattern.sub(lambda found: self._secrets[found.group()], value)
        if isinstance(value, Mapping):
            return {k: self._replace(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._replace(v) for v in value]
        return value


class JsonlTranscript:
    """Writes every event as one JSON line: the per-run machine-readable trace."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    @classmethod
    def open(cls, path: Path) -> JsonlTranscript:
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(path.open("w", encoding="utf-8"))

    def __call__(self, event: Event) -> None:
        with self._lock:
            self._stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
            self._stream.flush()

    def close(self) -> None:
        self._stream.close()
