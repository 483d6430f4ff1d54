"""The kinds of value a step argument takes (:class:`Kind`): each gives the JSON
Schema of the argument and parses it, with a one-line message naming
``keyword.argument`` when the value does not fit.

Declared with :func:`simulator.scenario.args.arg`; a kind comes from the
field's annotation (``bool``, ``int``, ``str``, ``tuple[str, ...]``, an enum,
:data:`Seconds`, :data:`Fen`, :data:`BatchNo`, a card) or is given with
``kind=``. Durations and counts are bounded (docs/reliability.md): a duration
at most :data:`MAX_DURATION` of virtual time, a count within its declared
``minimum``/``maximum``, so the schema and the parser refuse the same values.
"""

from __future__ import annotations

import abc
import enum
import re
import types
from collections.abc import Mapping
from typing import Any, NewType

import attrs

from drivers.errors import did_you_mean
from simulator.devices import cards
from simulator.devices.card_image import CardImage
from simulator.errors import FixtureError
from simulator.scenario.model import Where
from simulator.wire.money import parse_yuan

# A duration argument's value (virtual seconds), an amount's (fen), a batch number.
Seconds = NewType("Seconds", float)
Fen = NewType("Fen", int)
BatchNo = NewType("BatchNo", str)

REQUIRED: Any = attrs.NOTHING
# A day of virtual time: longer than any timeout a terminal or host has, short
# enough that a typo (30000h) is caught rather than run.
MAX_DURATION = 24 * 3600.0
TEXT_SCHEMA: Mapping[str, Any] = types.MappingProxyType({"type": ["string", "number"]})


@attrs.frozen
class ArgSpec:
    """What :func:`~simulator.scenario.args.arg` declares about one argument."""

    kind: Kind | None = None  # None: from the field's annotation
    help: str = ""
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | type[enum.Enum] | None = None
    # How "expected ..." reads in its message when the kind's own words do not say it.
    expected: str = ""
    examples: tuple[Any, ...] = ()
    # False: only the shorthand form fills it (it is no key of the mapping form).
    in_mapping: bool = True
    # True: the mapping form must give it, though the shorthand form leaves it at
    # its default.
    required: bool = False


@attrs.frozen
class Declared:
    """One declared argument of a step class, its kind resolved."""

    name: str
    spec: ArgSpec
    kind: Kind
    default: Any

    @property
    def required(self) -> bool:
        """The mapping form must give it."""
        return self.spec.required or self.default is REQUIRED

    def schema(self) -> dict[str, Any]:
        """The argument's JSON Schema: its kind's, its default, its help."""
        schema = dict(self.kind.schema(self))
        if self.kind.shows_default and isinstance(self.default, (str, int, float)):
            schema["default"] = self.default
        if self.spec.help:
            schema["description"] = self.spec.help
        if self.spec.examples:
            schema["examples"] = list(self.spec.examples)
        return schema


class Kind(abc.ABC):
    """How an argument's value is written: its JSON Schema and its parser."""

    shows_default = True  # the schema names the argument's default

    @abc.abstractmethod
    def schema(self, arg: Declared) -> Mapping[str, Any]: ...

    @abc.abstractmethod
    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Any:
        """The value, or ``where.error(f"{what}: ...")`` raised."""


# -- kinds ------------------------------------------------------------------------------


class Flag(Kind):
    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {"type": "boolean"}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> bool:
        if not isinstance(value, bool):
            raise where.error(f"{what}: expected true or false, got {value!r}")
        return value


@attrs.frozen
class Const(Kind):
    """``key: true`` and nothing else (a fault named by its key)."""

    value: Any = True

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {"const": self.value}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Any:
        if value is not self.value:
            raise where.error(f"{what}: write {arg.name}: {str(self.value).lower()}")
        return value


@attrs.frozen
class Integer(Kind):
    nonzero: bool = False

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        for bound in ("minimum", "maximum"):
            if getattr(arg.spec, bound) is not None:
                schema[bound] = getattr(arg.spec, bound)
        if self.nonzero:
            schema["not"] = {"const": 0}
        return schema

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> int:
        low, high = arg.spec.minimum, arg.spec.maximum
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or (low is not None and value < low)
            or (high is not None and value > high)
            or (self.nonzero and value == 0)
        ):
            if arg.spec.expected:
                expected = arg.spec.expected
            elif low is not None and high is not None:
                expected = f"a whole number from {low} to {high}"
            elif low is not None:
                expected = f"a whole number of {low} or more"
            else:
                expected = "a whole number"
            raise where.error(f"{what}: expected {expected}, got {value!r}")
        return value


@attrs.frozen
class Text(Kind):
    """Text (a number is taken as its text unless ``string_only``)."""

    pattern: str | None = None  # the whole text must match
    expected: str = "text"  # how a message says what was expected
    strip: bool = False
    nonempty: bool = False
    upper: bool = False
    string_only: bool = False

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        schema: dict[str, Any] = {"type": "string"} if self.string_only else dict(TEXT_SCHEMA)
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        elif self.nonempty:
            schema["minLength"] = 1
        return schema

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> str:
        expected = arg.spec.expected or self.expected
        if (
            value is None
            or isinstance(value, (bool, Mapping, list, tuple))
            or (self.string_only and not isinstance(value, str))
        ):
            raise where.error(f"{what}: expected {expected}, got {value!r}")
        text = str(value).strip() if self.strip else str(value)
        text = text.upper() if self.upper else text
        if (self.nonempty and not text) or (
            self.pattern is not None and re.fullmatch(self.pattern, text) is None
        ):
            raise where.error(f"{what}: expected {expected}, got {value!r}")
        return text


class Texts(Kind):
    """One text or a list of them."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {"anyOf": [dict(TEXT_SCHEMA), {"type": "array", "items": dict(TEXT_SCHEMA)}]}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> tuple[str, ...]:
        items = value if isinstance(value, list) else [value]
        return tuple(TEXT.parse(item, arg, what, where) for item in items)


@attrs.frozen
class Choice(Kind):
    """One of ``values`` (strings, or an enum's values: the enum member is returned)."""

    values: tuple[str, ...] | type[enum.Enum]

    @property
    def words(self) -> list[str]:
        if isinstance(self.values, tuple):
            return list(self.values)
        return [str(member.value) for member in self.values]

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {"enum": self.words}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Any:
        word = str(value)
        if isinstance(value, (Mapping, list)) or word not in self.words:
            hint = did_you_mean(word, self.words) or f"; expected one of {', '.join(self.words)}"
            raise where.error(f"{what}: unknown {arg.name} {value!r}{hint}")
        return word if isinstance(self.values, tuple) else self.values(word)


_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


@attrs.frozen
class Duration(Kind):
    """``30s``, ``500ms``, ``2m``, ``1h`` or a number of seconds; at most ``maximum``."""

    maximum: float = MAX_DURATION
    shows_default = False  # every duration's default is in its step's help

    def schema(self, arg: Declared | None = None) -> Mapping[str, Any]:
        # The pattern spells the maximum per unit, so an editor refuses "25h" as the
        # parser does.
        per_unit = "|".join(
            rf"{_at_most(int(self.maximum / seconds))}\s*{unit}" + ("?" if unit == "s" else "")
            for unit, seconds in _UNIT_SECONDS.items()
        )
        return {
            "description": f"A duration: 30s, 500ms, 2m, 1h, or a number of seconds; at most "
            f"{_shown(self.maximum)}.",
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": self.maximum},
                {"type": "string", "pattern": rf"^\s*(?:{per_unit})\s*$"},
            ],
        }

    def parse(self, value: Any, arg: Declared | None, what: str, where: Where) -> Seconds:
        expected = f"expected a duration like 30s, 500ms or 2m, got {value!r}"
        if isinstance(value, bool):
            raise where.error(f"{what}: {expected}")
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = DURATION_RE.match(str(value))
            if match is None:
                raise where.error(f"{what}: {expected}")
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
        if seconds < 0:
            raise where.error(f"{what}: a duration cannot be negative")
        if not seconds <= self.maximum:  # also NaN
            raise where.error(
                f"{what}: at most {_shown(self.maximum)} of virtual time, got {value!r}"
            )
        return Seconds(seconds)


AMOUNT_SCHEMA: Mapping[str, Any] = types.MappingProxyType(
    {
        "description": 'Yuan with up to two decimals, quoted: "12.34".',
        "type": ["string", "number"],
        "pattern": r"^\s*\d+(\.\d{1,2})?\s*$",
    }
)


@attrs.frozen
class Yuan(Kind):
    """An amount in yuan (``"12.34"``), as fen; ``signed``: may be negative (a net)."""

    signed: bool = False

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        if self.signed:
            return {"type": "string", "pattern": r"^-?\d{1,10}(\.\d{1,2})?$"}
        return dict(AMOUNT_SCHEMA)

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Fen:
        if value is None or isinstance(value, (bool, list, Mapping)):
            raise where.error(f'{what}: expected an amount like "12.34", got {value!r}')
        text = str(value).strip()
        sign = -1 if self.signed and text.startswith("-") else 1
        try:
            fen = sign * parse_yuan(text.removeprefix("-") if sign < 0 else text)
        except ValueError as exc:
            raise where.error(f"{what}: {exc}") from None
        least = arg.spec.minimum
        if least is not None and fen < least:
            raise where.error(
                f"{what}: must be above zero" if least == 1 else f"{what}: at least {least} fen"
            )
        return Fen(fen)


class Card(Kind):
    """A card: a catalogue name (firmware_fixtures/cards/) or a card file, loaded."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "description": "A card: a catalogue name (firmware_fixtures/cards/) or a card "
            "file's path.",
            "anyOf": [
                {"enum": cards.names()},
                {"type": "string", "pattern": r"[/\\]|\.ya?ml$"},
            ],
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> CardImage:
        name = TEXT.parse(value, arg, what, where)
        try:
            return cards.load(name)
        except FixtureError as exc:
            # A card that is there but malformed says what is wrong in it (file:line: field).
            hint = did_you_mean(name, cards.names()) if cards.find(name) is None else ""
            problem = f"unknown card {name!r}{hint}" if hint else str(exc)
            raise where.error(f"{what}: {problem}") from None


FLAG = Flag()
TEXT = Text()
TEXTS = Texts()
DURATION = Duration()
YUAN = Yuan()
CARD = Card()
BATCH = Text(pattern="^[0-9]{6}$", string_only=True, expected='6 digits in quotes, like "000001"')


def _shown(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


def _at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to ``limit`` (leading zeros and a
    fraction allowed: ``007.5``; ``limit`` itself only with a zero fraction)."""
    below = _integers_up_to(limit - 1) if limit > 0 else None
    exact = rf"{limit}(?:\.0+)?"
    return rf"0*(?:{exact}|(?:{below})(?:\.\d+)?)" if below else rf"0*(?:{exact})"


def _integers_up_to(top: int) -> str:
    """A regex for the whole numbers 0..``top`` written without leading zeros."""
    digits = str(top)
    width = len(digits)
    choices = [] if width == 1 else ["0", rf"[1-9]\d{{0,{width - 2}}}"]
    for index, digit in enumerate(digits):
        lowest = 1 if index == 0 and width > 1 else 0
        if int(digit) > lowest:
            rest = width - index - 1
            choices.append(
                f"{digits[:index]}[{lowest}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else "")
            )
    choices.append(digits)
    return "|".join(choices)
