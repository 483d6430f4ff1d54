"""One event stream for everything a simulation does.

Every device exchange (APDU, ESC/POS job, utterance, scan), every gateway
message (ISO 8583, HTTP), every screen change and every app-to-app intent is an
:class:`Event` on one :class:`EventBus`. Transcripts, run records, JUnit
reports, expectation checks and the TUI are all views over this stream.

Publishers redact before they publish (see :mod:`drivers.wire.masking`); as a
second line of defence the bus masks any value registered with
:meth:`EventBus.add_secret` (the PAN and track 2 of the card in play) wherever
it appears in an event.

Retention: a simulation's bus keeps every event (scenarios, reports and tests
read the whole history). A long-running server (``possim gateway serve``)
keeps only the last ``keep_last`` events -- memory and garbage-collection
pauses stay flat however long it runs -- while its subscribers (the console
printer, a transcript writer) still get every event as it is published.
``since(seq)`` answers for any ``seq`` still inside that window and raises
:class:`EventsDropped` for one that has fallen out of it.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import attrs

from drivers.clock import Clock
from simulator.errors import SimulatorError

Subscriber = Callable[["Event"], None]


class EventsDropped(SimulatorError):
    """``since(seq)`` asked for events a bounded bus no longer keeps."""


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
    """The event stream; ``keep_last=N`` keeps only the newest N events (servers)."""

    def __init__(self, clock: Clock, *, keep_last: int | None = None) -> None:
        if keep_last is not None and keep_last < 1:
            raise SimulatorError(f"an event bus must keep at least 1 event, not {keep_last}")
        self._clock = clock
        self._lock = threading.RLock()
        self._keep_last = keep_last
        # A list keeps everything; a bounded deque drops the oldest on append.
        self._events: list[Event] | deque[Event] = (
            [] if keep_last is None else deque(maxlen=keep_last)
        )
        self._published = 0  # the seq of the newest event
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

    @property
    def keep_last(self) -> int | None:
        """How many events are kept (None: all of them)."""
        return self._keep_last

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
            self._published = seq = self._published + 1
            event = Event(seq, at, wall, source, kind, summary, detail)
            self._events.append(event)
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
        """Every event kept (on a bounded bus: the newest ``keep_last``)."""
        with self._lock:
            return list(self._events)

    def __len__(self) -> int:
        """How many events were published: the ``seq`` of the newest one."""
        return self._published

    def since(self, seq: int) -> list[Event]:
        """The events after ``seq`` (``since(0)``: from the start; ``since(len(bus))``: none).

        On a bounded bus, raises :class:`EventsDropped` if some of them are no
        longer kept.
        """
        with self._lock:
            events = self._events
            if isinstance(events, list):
                return events[seq:]
            oldest = self._published - len(events) + 1
            if seq < oldest - 1:
                raise EventsDropped(
                    f"events {seq + 1}..{oldest - 1} are gone: this bus keeps only the last "
                    f"{self._keep_last} events (the oldest kept is {oldest}); subscribe to "
                    "see every event as it is published"
                )
            return list(itertools.islice(events, max(0, seq - oldest + 1), None))

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
