"""One event stream for everything a simulation does.

Every device exchange (APDU, ESC/POS job, utterance, scan), every gateway
message (ISO 8583, HTTP), every screen change and every app-to-app intent is
published on one :class:`EventBus` as a typed payload (see
:mod:`simulator.events.payload`) in an :class:`Envelope`: its ``seq``, its
instant on the run's clock, its wall time and its source. Transcripts, run
records, JUnit reports, expectation checks and the TUI are all views over this
stream; they select events by payload class::

    for shown in bus.of(ScreenShown):          # list[Envelope[ScreenShown]]
        print(shown.at, shown.payload.screen)

Publishers redact before they publish (see :mod:`drivers.wire.masking`); as a
second line of defence the bus masks any value registered with
:meth:`EventBus.add_secret` (the PAN and track 2 of the card in play) wherever
it appears in an event published after: in its summary, its ``detail`` and
the payload a consumer reads. The masking, like the summary and the
``detail``, is done when first asked for, with the secrets known when the
event was published: publishing costs a payload and an envelope.

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
import re
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar, cast

import attrs

from drivers.clock import Clock
from simulator.errors import SimulatorError
from simulator.events.payload import EventPayload

P = TypeVar("P", bound=EventPayload)
P_co = TypeVar("P_co", bound=EventPayload, covariant=True)
Subscriber = Callable[["Event"], None]


class EventsDropped(SimulatorError):
    """``since(seq)`` asked for events a bounded bus no longer keeps."""


class _Masker:
    """The secrets registered when an event was published, and their masks."""

    __slots__ = ("masks", "pattern")

    def __init__(self, masks: Mapping[str, str]) -> None:
        self.masks = masks
        # Longest first: a track 2 is masked whole, not just its PAN.
        longest_first = sorted(masks, key=len, reverse=True)
        self.pattern = re.compile("|".join(map(re.escape, longest_first)))

    def text(self, text: str) -> str:
        return self.pattern.sub(lambda found: self.masks[found.group()], text)

    def value(self, value: Any) -> Any:
        """``value`` with every secret in its strings masked (containers rebuilt)."""
        if isinstance(value, str):
            masked = self.text(value)
            return value if masked == value else masked  # a str enum stays itself
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v) for v in value)
        return value

    def found_in(self, value: Any) -> bool:
        """Whether a secret is in ``value``'s text (a search per string, no copies)."""
        if isinstance(value, str):
            return self.pattern.search(value) is not None
        if isinstance(value, Mapping):
            return any(self.found_in(v) for v in value.values())
        if isinstance(value, (list, tuple)):
            return any(self.found_in(v) for v in value)
        if value is None or isinstance(value, (int, float)):
            return False
        return self.pattern.search(repr(value)) is not None  # an attrs value, a date ...

    def payload(self, payload: P) -> P | None:
        """A copy of ``payload`` with its secrets masked; None if it holds none (most)."""
        fields = attrs.fields(cast(Any, type(payload)))  # every payload is an attrs class
        if not any(self.found_in(getattr(payload, f.name)) for f in fields):
            return None
        changes = {f.alias: self.value(getattr(payload, f.name)) for f in fields if f.init}
        masked: P = attrs.evolve(cast(Any, payload), **changes)
        return masked


_UNSET: Any = object()


class Envelope(Generic[P_co]):
    """One published event: ``seq``, ``at`` (seconds on the run's monotonic clock,
    virtual in simulations), ``time`` (ISO 8601 wall time), ``source`` and the
    typed ``payload``; ``kind``, ``summary`` and ``detail`` come from the payload."""

    __slots__ = (
        "_masked",
        "_masker",
        "_payload",
        "_raw",
        "_summary",
        "at",
        "seq",
        "source",
        "time",
    )

    def __init__(
        self,
        seq: int,
        at: float,
        time: str,
        source: str,
        payload: P_co,
        masker: _Masker | None = None,
    ) -> None:
        self.seq = seq
        self.at = at
        self.time = time
        self.source = source
        self._raw = payload  # as published
        self._masker = masker  # the secrets known then (None: none)
        # Worked out when first asked for; threads racing compute the same value.
        self._payload: P_co = _UNSET
        self._masked = False  # the payload held a secret (so may its detail)
        self._summary: str = _UNSET

    @property
    def payload(self) -> P_co:
        """The payload, with any secret the bus knew when it was published masked."""
        payload = self._payload
        if payload is _UNSET:
            masker = self._masker
            masked = None if masker is None else masker.payload(self._raw)
            self._masked = masked is not None
            payload = self._payload = self._raw if masked is None else masked
        return payload

    @property
    def kind(self) -> str:
        return self._raw.kind

    @property
    def summary(self) -> str:
        """The one redacted line for people."""
        summary = self._summary
        if summary is _UNSET:
            summary = self.payload.summary()
            masker = self._masker
            if masker is not None and masker.pattern.search(summary) is not None:
                summary = masker.text(summary)
            self._summary = summary
        return summary

    @property
    def detail(self) -> dict[str, Any]:
        """The transcript's ``detail`` object (a new dict on every call)."""
        detail = self.payload.detail()
        if self._masked and self._masker is not None:
            # Made from masked fields; a value the field masking does not reach
            # (inside an attrs value) is masked here.
            masked: dict[str, Any] = self._masker.value(detail)
            return masked
        return detail

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": round(self.at, 6),
            "time": self.time,
            "source": self.source,
            "kind": self.kind,
            "summary": self.summary,
            "detail": self.detail,
        }

    def line(self) -> str:
        return event_line(self.at, self.source, self.kind, self.summary)

    def __repr__(self) -> str:
        return (
            f"Envelope(seq={self.seq}, at={self.at!r}, source={self.source!r}, "
            f"payload={self.payload!r})"
        )


Event = Envelope[EventPayload]


def event_line(at: float, source: str, kind: str, summary: str) -> str:
    """An event as one line of ``transcript.txt``."""
    return f"[{at:9.3f}s] {source:<12} {kind:<10} {summary}"


def of_type(events: Iterable[Event], kind: type[P]) -> Iterator[Envelope[P]]:
    """The events among ``events`` whose payload is a ``kind`` (or a subclass)."""
    for event in events:
        if isinstance(event._raw, kind):
            yield cast("Envelope[P]", event)


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
        # Replaced on every new secret: an event keeps the one it was published under.
        self._masker: _Masker | None = None
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
                self._masker = _Masker(dict(self._secrets))

    def publish(self, payload: P, *, source: str | None = None) -> Envelope[P]:
        """Publish ``payload`` as ``source`` (default: its class's ``source``)."""
        source = source or payload.source
        if not source:
            raise SimulatorError(f"a {type(payload).__name__} is published with source=")
        # Read the clock before taking our lock: clock predicates read the bus
        # while holding the clock's lock, so the reverse order would deadlock.
        at = self._clock.monotonic()
        now = self._clock.now()
        last, wall = self._wall
        if now is not last:
            wall = now.isoformat(timespec="milliseconds")
            self._wall = (now, wall)
        with self._lock:
            self._published = seq = self._published + 1
            event = Envelope(seq, at, wall, source, payload, self._masker)
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

    def of(self, kind: type[P], *, after: int | None = None) -> list[Envelope[P]]:
        """The events whose payload is a ``kind`` (or a subclass's), in order: of every
        event kept, or of those after ``seq`` ``after`` (as :meth:`since`)."""
        return list(of_type(self.events if after is None else self.since(after), kind))
