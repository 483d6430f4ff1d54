"""Declared step arguments: one declaration per argument gives the parser, the JSON
Schema, ``possim check``'s messages and the step reference.

A step is a frozen attrs class whose arguments are fields declared with :func:`arg`::

    @attrs.frozen(kw_only=True)
    class ScanCode(Action):
        keyword = "scan_code"
        shorthand = "code"          # `scan_code: "1345..."` fills `code`
        code: str = arg(kind=Text(strip=True, nonempty=True), repr=False)
        times: int = arg(1, minimum=1, maximum=100, help="How many times the code arrives")

The value a scenario writes after the keyword is the step's arguments as a
mapping (``{code: "1345...", times: 2}``), or -- for a step that declares a
``shorthand`` -- that one argument alone. :func:`parse` reads it (every problem
a one-line :class:`~simulator.errors.ScenarioError` at the step's line, naming
``keyword.argument``); :func:`schema` gives its JSON Schema (draft 2020-12),
which docs/scenario.schema.json and the reference in docs/scenarios.md are
generated from, so the editor, ``possim check`` and the page agree.

An argument's kind (:class:`Kind`) comes from its annotation -- ``bool``,
``int`` (with ``minimum``/``maximum``), ``str``, ``tuple[str, ...]``, an enum
or ``choices=`` (one of, with "did you mean"), :data:`Seconds` (a duration),
:data:`Fen` (an amount in yuan), :data:`BatchNo`, a card -- or is given with
``kind=``. What concerns several arguments is declared on the step:
``constraints`` (exactly one of, at least one of, not empty: in the schema and
the parser both) and ``check()`` (what only the parser can say).
"""

from __future__ import annotations

import enum
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

from drivers.errors import did_you_mean
from simulator.devices.card_image import CardImage
from simulator.scenario.kinds import (
    BATCH,
    CARD,
    DURATION,
    FLAG,
    REQUIRED,
    TEXT,
    TEXTS,
    YUAN,
    ArgSpec,
    BatchNo,
    Choice,
    Declared,
    Fen,
    Integer,
    Kind,
    Seconds,
)
from simulator.scenario.model import Constraint, Step, Where

_META = "possim.arg"
NO_ARGUMENTS_SCHEMA: Mapping[str, Any] = types.MappingProxyType(
    {
        "description": "Takes no arguments: write the keyword alone, e.g. `- remove_card:`.",
        "anyOf": [{"type": "null"}, {"const": True}, {"type": "object", "maxProperties": 0}],
    }
)
S = TypeVar("S", bound=Step)


def arg(
    default: Any = REQUIRED,
    *,
    kind: Kind | None = None,
    help: str = "",
    minimum: int | None = None,
    maximum: int | None = None,
    choices: tuple[str, ...] | type[enum.Enum] | None = None,
    expected: str = "",
    examples: tuple[Any, ...] = (),
    in_mapping: bool = True,
    required: bool = False,
    repr: bool = True,
) -> Any:
    """An attrs field that is a step argument (see the module docstring)."""
    spec = ArgSpec(kind, help, minimum, maximum, choices, expected, examples, in_mapping, required)
    return attrs.field(default=default, repr=repr, metadata={_META: spec})


# -- what concerns several arguments --------------------------------------------------


@attrs.frozen
class ExactlyOne(Constraint):
    keys: tuple[str, ...]
    noun: str = "argument"

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [{"required": [key]} for key in self.keys]}

    def problem(self, given: Mapping[Any, Any]) -> str | None:
        if sum(key in given for key in self.keys) == 1:
            return None
        return f"name exactly one {self.noun} of {', '.join(self.keys)}"


@attrs.frozen
class AtLeastOne(Constraint):
    keys: tuple[str, ...]
    message: str

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [{"required": [key]} for key in self.keys]}

    def problem(self, given: Mapping[Any, Any]) -> str | None:
        return None if any(key in given for key in self.keys) else self.message


@attrs.frozen
class NotEmpty(Constraint):
    message: str

    def schema(self) -> dict[str, Any]:
        return {"minProperties": 1}

    def problem(self, given: Mapping[Any, Any]) -> str | None:
        return None if given else self.message


# -- a step's value -------------------------------------------------------------------


@functools.cache
def declared(cls: type[Step]) -> tuple[Declared, ...]:
    """The arguments ``cls`` declares, in declaration order."""
    hints = typing.get_type_hints(cls)
    found = []
    for field in attrs.fields(cls):
        spec = field.metadata.get(_META)
        if spec is None:
            continue
        kind = spec.kind or _kind_of(hints[field.name], spec, f"{cls.__name__}.{field.name}")
        found.append(Declared(field.name, spec, kind, field.default))
    return tuple(found)


def parse(cls: type[S], value: Any, where: Where) -> S:
    """The step ``cls`` with ``value``'s arguments; the first problem raised at ``where``."""
    keyword = cls.keyword
    args = declared(cls)
    given: dict[str, Any] = {}
    written: tuple[str, ...] = ()
    keys = [a.name for a in args if a.spec.in_mapping]
    if not args:
        if value not in (None, {}, True):
            raise where.error(f"{keyword}: takes no arguments")
    elif cls.mapping and isinstance(value, Mapping):
        unknown = sorted(str(key) for key in value if key not in keys)
        if unknown:
            hint = did_you_mean(unknown[0], keys) or f"; expected one of {sorted(keys)}"
            raise where.error(f"{keyword}: unknown key {unknown[0]!r}{hint}")
        for constraint in cls.constraints:
            problem = constraint.problem(value)
            if problem is not None:
                raise where.error(f"{keyword}: {problem}")
        for a in args:
            if a.name in value:
                given[a.name] = a.kind.parse(value[a.name], a, f"{keyword}.{a.name}", where)
            elif a.required and a.spec.in_mapping:
                example = cls.example.partition("#")[0].strip()
                raise where.error(f"{keyword}: missing {a.name!r} (e.g. {example})")
        written = tuple(str(key) for key in value)
    elif value is None and cls.alone:
        pass
    elif cls.shorthand is not None:
        (a,) = (a for a in args if a.name == cls.shorthand)
        given[a.name] = a.kind.parse(value, a, keyword, where)
        written = (a.name,)
    else:
        raise where.error(f"{keyword}: expected a mapping with keys {sorted(keys)}, got {value!r}")
    step = cls(**given, line=where.line, written=written)
    problem = step.check()
    if problem is not None:
        raise where.error(problem)
    return step


def schema(cls: type[Step]) -> dict[str, Any]:
    """The JSON Schema of ``cls``'s value (see the module docstring)."""
    args = declared(cls)
    if not args:
        return dict(NO_ARGUMENTS_SCHEMA)
    forms: list[Any] = [{"type": "null"}] if cls.alone else []
    if cls.shorthand is not None:
        (short,) = (a for a in args if a.name == cls.shorthand)
        written_alone = short.schema()
        if not cls.mapping:
            return written_alone
        # A shorthand that is itself a choice of forms reads best as those forms.
        forms.extend(written_alone["anyOf"] if set(written_alone) == {"anyOf"} else [written_alone])
    mapping: dict[str, Any] = {
        "type": "object",
        "properties": {a.name: a.schema() for a in args if a.spec.in_mapping},
    }
    required = [a.name for a in args if a.required and a.spec.in_mapping]
    if required:
        mapping["required"] = required
    for constraint in cls.constraints:
        mapping.update(constraint.schema())
    mapping["additionalProperties"] = False
    return {"anyOf": [*forms, mapping]} if forms else mapping


def _kind_of(annotation: Any, spec: ArgSpec, name: str) -> Kind:
    """The kind an annotation stands for (``X | None``: X's)."""
    options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(options) == 1:
        annotation = options[0]
    if spec.choices is not None:
        return Choice(spec.choices)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return Choice(annotation)
    table: dict[Any, Kind] = {
        bool: FLAG,
        int: Integer(),
        str: TEXT,
        Seconds: DURATION,
        Fen: YUAN,
        BatchNo: BATCH,
        CardImage: CARD,
        tuple[str, ...]: TEXTS,
    }
    kind = table.get(annotation)
    if kind is None:
        raise TypeError(f"{name}: no argument kind for {annotation!r}: declare arg(kind=...)")
    return kind
