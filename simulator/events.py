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
import threading
from collections.abc import Callable, Iterator, Mapping
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
        self._subscribers: list[Subscriber] = []
        self._secrets: dict[str, str] = {}

    @property
    def clock(self) -> Clock:
        return self._clock

    def add_secret(self, value: str, replacement: str) -> None:
        """Mask ``value`` in every later event (belt and braces for PAN/track 2)."""
        if len(value) >= 8:
            with self._lock:
                self._secrets[value] = replacement

    def publish(self, source: str, kind: str, summary: str, **detail: Any) -> Event:
        # Read the clock before taking our lock: clock predicates read the bus
        # while holding the clock's lock, so the reverse order would deadlock.
        at = self._clock.monotonic()
        wall = self._clock.now().isoformat(timespec="milliseconds")
        with self._lock:
            event = Event(
                seq=len(self._events) + 1,
                at=at,
                time=wall,
                source=source,
                kind=kind,
                summary=self._scrub(summary),
                detail=self._scrub(detail),
            )
            self._events.append(event)
            subscribers = list(self._subscribers)
        for subscriber in subscribers:
            subscriber(event)
        self._clock.notify()
        return event

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            with self._lock:
                if subscriber in self._subscribers:
                    self._subscribers.remove(subscriber)

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

    def _scrub(self, value: Any) -> Any:
        if not self._secrets:
            return value
        if isinstance(value, str):
            for secret, replacement in self._secrets.items():
                value = value.replace(secret, replacement)
            return value
        if isinstance(value, Mapping):
            return {k: self._scrub(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._scrub(v) for v in value]
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
