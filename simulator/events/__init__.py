"""The event stream: the bus and its envelope (:mod:`.bus`), typed payloads
(:mod:`.payload`) and the JSONL transcript (:mod:`.transcript`)."""

from simulator.events.bus import (
    Envelope,
    Event,
    EventBus,
    EventsDropped,
    Subscriber,
    event_line,
    of_type,
)
from simulator.events.payload import (
    OMIT_NONE,
    SUMMARY_ONLY,
    EventPayload,
    Problem,
    detail_key,
)
from simulator.events.transcript import JsonlTranscript

__all__ = [
    "OMIT_NONE",
    "SUMMARY_ONLY",
    "Envelope",
    "Event",
    "EventBus",
    "EventPayload",
    "EventsDropped",
    "JsonlTranscript",
    "Problem",
    "Subscriber",
    "detail_key",
    "event_line",
    "of_type",
]
