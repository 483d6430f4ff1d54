"""What an event says: a typed payload, declared beside the code that publishes it.

Each kind of event is an attrs class deriving from :class:`EventPayload`, living
in its publisher's module (the display's :class:`ScreenShown` in
:mod:`simulator.terminal.display`, the host link's ISO 8583 messages in
:mod:`simulator.terminal.host_link` ...), the way a Textual widget declares its
messages. A consumer selects events by class (``bus.of(ScreenShown)``,
``isinstance(event.payload, Said)``) and reads typed attributes; the strings of
the JSONL transcript come from the class:

* ``source`` -- who publishes it (a class constant; a payload that several
  parts publish, such as :class:`Problem`, is published with ``source=``);
* ``kind`` -- what it is, declared once on the class;
* :meth:`EventPayload.summary` -- the one redacted line people read, made from
  the fields when someone asks for it (the bus does not, so publishing stays
  cheap);
* :meth:`EventPayload.detail` -- the JSON object of the transcript: the fields
  in declaration order, except those declared with
  ``attrs.field(metadata=SUMMARY_ONLY)`` (what the line says but the
  transcript's ``detail`` never carried), left out when None with
  ``metadata=OMIT_NONE`` or renamed with ``metadata=detail_key(...)``. Enums
  become their values, tuples lists, attrs values dicts.

Publishers redact before they build a payload: a payload holds no PIN, no full
PAN, no key (see :mod:`drivers.wire.masking`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any, ClassVar, Final, TypeVar, cast

import attrs

_META: Final = "possim.event"
_P = TypeVar("_P", bound="EventPayload")


@attrs.frozen
class _DetailSpec:
    in_detail: bool = True
    key: str | None = None  # None: the field's name
    omit_none: bool = False


# Field metadata (``attrs.field(metadata=...)``) for what ``detail`` does with a field:
SUMMARY_ONLY: Final[Mapping[str, Any]] = {_META: _DetailSpec(in_detail=False)}
OMIT_NONE: Final[Mapping[str, Any]] = {_META: _DetailSpec(omit_none=True)}


def detail_key(key: str) -> Mapping[str, Any]:
    """Field metadata: the field is written to ``detail`` under ``key``."""
    return {_META: _DetailSpec(key=key)}


class EventPayload:
    """The base of every event payload (an attrs class, frozen, with slots)."""

    __slots__ = ()

    source: ClassVar[str] = ""  # "": published with source= (several parts publish it)
    kind: ClassVar[str]

    def summary(self) -> str:
        """The one line people read (already redacted: made from redacted fields)."""
        raise NotImplementedError(f"{type(self).__name__}.summary")

    def detail(self) -> dict[str, Any]:
        """The transcript's ``detail`` object (see the module docstring)."""
        found: dict[str, Any] = {}
        for name, key, omit_none in _plan(type(self)):
            value = getattr(self, name)
            if value is None and omit_none:
                continue
            found[key] = jsonable(value)
        return found

    @classmethod
    def from_record(cls: type[_P], record: Mapping[str, Any]) -> _P | None:
        """The payload a ``transcript.jsonl`` record holds, if it is one of this class's.

        Every field is read from ``detail`` as it is: right for payloads whose
        fields are JSON values (text, numbers); others override it or are not
        read back.
        """
        if record.get("kind") != cls.kind or (cls.source and record.get("source") != cls.source):
            return None
        detail = record.get("detail", {})
        return cls(**{name: detail.get(key) for name, key, _ in _plan(cls)})


def jsonable(value: Any) -> Any:
    """``value`` as the transcript's JSON holds it (one level: values are redacted data)."""
    if type(value) in _PLAIN_TYPES:
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple):
        return list(value)
    if attrs.has(type(value)):
        return attrs.asdict(value)
    return value


_PLAIN: Final = _DetailSpec()
_PLAIN_TYPES: Final = frozenset({str, int, float, bool, type(None), dict, list})
_Plan = tuple[tuple[str, str, bool], ...]
_PLANS: dict[type[EventPayload], _Plan] = {}


def _plan(cls: type[EventPayload]) -> _Plan:
    """Which fields go to ``detail``, under which key (worked out once per class)."""
    plan = _PLANS.get(cls)
    if plan is None:
        entries = []
        for field in attrs.fields(cast(Any, cls)):  # every payload class is an attrs class
            spec = field.metadata.get(_META, _PLAIN)
            if spec.in_detail:
                entries.append((field.name, spec.key or field.name, spec.omit_none))
        plan = _PLANS[cls] = tuple(entries)
    return plan


@attrs.frozen
class Problem(EventPayload):
    """Something went wrong, in one line for people (kind ``error``).

    A free text is the honest type here: each problem is a different sentence
    (an exception's message, a refusal's reason) that nobody decodes, only
    reads; consumers select problems as a whole (``isinstance(payload,
    Problem)``: ``possim gateway serve --quiet``, the TUI's red lines). Every
    part of the shop reports them, so the publisher names itself:
    ``bus.publish(Problem(text), source="qr_link")``. A problem that carries
    data (the peer, the receipt's title) is a subclass with those fields.
    """

    kind: ClassVar[str] = "error"

    text: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return self.text
