"""Reading fields of YAML fixtures (loaded by :mod:`drivers.fixtures`)
with errors that name the file, the line and the field.

A format can declare each of its fields once, as a :class:`FieldSpec` (name,
:class:`Kind`, default, help) in a :class:`Section`: that one table reads the
file field by field (``file:line: field: expected ...``; unknown fields are
errors, with a did-you-mean) and renders the format's reference table
(:func:`reference_table`) for the docs. Card images are read this way
(:mod:`simulator.devices.card_image_yaml`).
"""

from __future__ import annotations

import abc
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Generic, NamedTuple, NoReturn, TypeVar

import attrs

from drivers import fixtures
from drivers.errors import did_you_mean
from drivers.fixtures import LineDict, LineList, line_of
from simulator.errors import FixtureError

YAML_SUFFIXES = (".yaml", ".yml")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
_HEX_RE = re.compile(r"^[0-9A-Fa-f]*$")


def find_fixture(category: str, name_or_path: str | Path, what: str) -> Path:
    """The YAML fixture ``name_or_path`` in ``category`` or a FixtureError."""
    return fixtures.locate(category, name_or_path, YAML_SUFFIXES, what, FixtureError)


def top_level_list(path: Path, document: Any, key: str) -> list[Any]:
    if not isinstance(document, Mapping) or key not in document:
        raise FixtureError(path, f"expected a mapping with a {key!r} key at the top level")
    items = document[key]
    if not isinstance(items, list):
        raise FixtureError(path, f"{key!r} must be a list", line_of(document))
    return items


def require_str(path: Path, entry: Mapping[str, Any], where: str, field: str) -> str:
    """``entry[field]`` as a non-empty string, or a FixtureError naming it."""
    if field not in entry:
        raise FixtureError(path, f"{where}: missing field {field!r}", line_of(entry))
    value = entry[field]
    if not isinstance(value, str) or not value.strip():
        raise FixtureError(
            path,
            f"{where}: field {field!r} must be a non-empty (quoted) string, got {value!r}",
            line_of(entry),
        )
    return value.strip()


# -- declared fields ------------------------------------------------------------------
#
# A format whose fields are declared once, each as a FieldSpec (name, kind, default,
# help), read field by field from a YAML mapping with ``file:line: field: problem``
# errors; the same declarations render the format's reference table (docs). Scalars
# are read as the text written in the file (TextLineLoader), so every kind below
# parses text.


class Node(NamedTuple):
    """A value read from a YAML fixture and the line it starts on."""

    value: Any  # str, LineDict or LineList (TextLineLoader reads scalars as text)
    line: int | None


def child(mapping: LineDict, key: str) -> Node:
    """``mapping[key]``, at its own line if it is a mapping or a list, else at the key's."""
    value = mapping[key]
    return Node(value, line_of(value) or mapping.line_of(key))


def shape(node: Node) -> str:
    if isinstance(node.value, LineDict):
        return "mapping"
    if isinstance(node.value, LineList):
        return "list"
    return "scalar"


@attrs.frozen
class FieldReader:
    """Reads one fixture file: every problem is a FixtureError naming it."""

    path: Path

    def fail(self, node: Node, where: str, problem: str) -> NoReturn:
        raise FixtureError(self.path, f"{where}: {problem}", node.line)

    def scalar(self, node: Node, where: str, expected: str) -> str:
        """The text of a scalar node; a mapping or a list is refused."""
        if isinstance(node.value, (LineDict, LineList)):
            self.fail(node, where, f"expected {expected}, got a {shape(node)}")
        return str(node.value)


class Kind(abc.ABC, Generic[T_co]):
    """How a field's YAML value is read and checked."""

    @property
    @abc.abstractmethod
    def expected(self) -> str:
        """What the field holds, for ``expected ...`` and ``missing; expected ...``."""

    @abc.abstractmethod
    def read(self, node: Node, where: str, reader: FieldReader) -> T_co: ...


@attrs.frozen
class Text(Kind[str]):
    expected: str = "text"

    def read(self, node: Node, where: str, reader: FieldReader) -> str:
        return reader.scalar(node, where, self.expected).strip()


@attrs.frozen
class Boolean(Kind[bool]):
    expected: str = "true or false"

    def read(self, node: Node, where: str, reader: FieldReader) -> bool:
        raw = reader.scalar(node, where, self.expected).strip().lower()
        if raw in ("true", "yes", "on"):
            return True
        if raw in ("false", "no", "off"):
            return False
        reader.fail(node, where, f"expected {self.expected}, got {raw!r}")


@attrs.frozen
class Digits(Kind[str]):
    """Decimal digits as text (leading zeros kept), ``counts`` of them."""

    expected: str
    counts: range

    def read(self, node: Node, where: str, reader: FieldReader) -> str:
        raw = reader.scalar(node, where, self.expected).strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) in self.counts):
            reader.fail(node, where, f"expected {self.expected}, got {raw!r}")
        return raw


@attrs.frozen
class Integer(Kind[int]):
    """A decimal (or ``0x`` hexadecimal) integer within ``bounds``."""

    expected: str
    bounds: range

    def read(self, node: Node, where: str, reader: FieldReader) -> int:
        raw = reader.scalar(node, where, self.expected).strip()
        try:
            value = int(raw, 0) if raw.lower().startswith("0x") else int(raw, 10)
        except ValueError:
            reader.fail(node, where, f"expected {self.expected}, got {raw!r}")
        if value not in self.bounds:
            reader.fail(node, where, f"expected {self.expected}, got {value}")
        return value


@attrs.frozen
class Ascii(Kind[str]):
    """ASCII text of ``lengths`` characters (letters only with ``alpha``); the value is
    not repeated in errors (it may be a cardholder's name)."""

    expected: str
    lengths: range | tuple[int, ...]
    alpha: bool = False

    def read(self, node: Node, where: str, reader: FieldReader) -> str:
        value = reader.scalar(node, where, self.expected).strip()
        if not (
            value.isascii() and len(value) in self.lengths and (value.isalpha() or not self.alpha)
        ):
            reader.fail(node, where, f"expected {self.expected}")
        return value


@attrs.frozen
class OneOf(Kind[str]):
    """One of ``choices``, compared after ``spelling`` (e.g. upper-casing)."""

    expected: str
    choices: tuple[str, ...]
    spelling: Callable[[str], str] = str.strip

    def read(self, node: Node, where: str, reader: FieldReader) -> str:
        value = self.spelling(reader.scalar(node, where, self.expected).strip())
        if value not in self.choices:
            reader.fail(node, where, f"expected {self.expected}, got {value!r}")
        return value


@attrs.frozen
class Hex(Kind[bytes]):
    """Bytes written as pairs of hex digits (spaces allowed), ``lengths`` bytes long."""

    expected: str = "hex"
    lengths: range | tuple[int, ...] | None = None

    def read(self, node: Node, where: str, reader: FieldReader) -> bytes:
        raw = reader.scalar(node, where, self.expected)
        compact = "".join(raw.split())
        if len(compact) % 2 or not _HEX_RE.match(compact):
            reader.fail(node, where, f"expected {self.expected} (pairs of hex digits), got {raw!r}")
        value = bytes.fromhex(compact)
        if self.lengths is not None and len(value) not in self.lengths:
            reader.fail(node, where, f"expected {self.expected}, got {len(value)} bytes ({raw!r})")
        return value


@attrs.frozen
class ListOf(Kind[tuple[T, ...]]):
    """A non-empty list, each item read by ``item`` (``where[index]`` in errors)."""

    noun: str  # "applications"
    item: Kind[T]
    example: str = ""  # ", e.g. [5A, 5F24]"

    @property
    def expected(self) -> str:
        return f"a list of {self.noun}{self.example}"

    def read(self, node: Node, where: str, reader: FieldReader) -> tuple[T, ...]:
        if not isinstance(node.value, LineList) or not node.value:
            reader.fail(node, where, f"expected a non-empty list of {self.noun}")
        items = node.value
        return tuple(
            self.item.read(Node(value, items.line_of(index)), f"{where}[{index}]", reader)
            for index, value in enumerate(items)
        )


class Required(enum.Enum):
    REQUIRED = "required"


REQUIRED = Required.REQUIRED
# A rule beyond the kind's: (the value, the fields read before it) -> a problem or None.
Rule = Callable[[Any, Mapping[str, Any]], "str | None"]


@attrs.frozen
class FieldSpec:
    """One field of a fixture format, declared once: how it is read, its default and
    its help; the reader, the errors and the reference table all come from it."""

    name: str
    kind: Kind[Any]
    help: str
    default: Any = REQUIRED
    # The default is the value of this earlier field (pin_tries_left: pin_try_limit).
    default_from: str | None = None
    rules: tuple[Rule, ...] = ()
    # Only allowed when this earlier boolean field is true (atr: chip); when it is
    # false the field takes ``otherwise`` (or its default).
    only_if: str | None = None
    otherwise: Any = REQUIRED
    default_doc: str | None = None  # the reference's words for the default

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and self.default_from is None

    def default_for(self, earlier: Mapping[str, Any]) -> Any:
        """The value when the field is not given (``earlier``: the fields read before)."""
        return earlier[self.default_from] if self.default_from is not None else self.default

    def reference_required(self) -> str:
        """The reference table's "required" cell: ``yes``, ``no, 3``, ``yes (chip)``."""
        if self.required:
            cell = "yes"
        else:
            shown = self.default_doc or _shown(self.default)
            cell = f"no, {shown}" if shown else "no"
        return f"{cell} ({self.only_if})" if self.only_if else cell


def _shown(default: Any) -> str:
    if default is None or (not default and not isinstance(default, (bool, int))):
        return ""  # nothing: None, "", b"", {}
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, int):
        return str(default)
    if isinstance(default, bytes):
        return f"`{default.hex().upper()}`"
    text = str(default)
    return f'`"{text}"`' if text.isdigit() else f"`{text}`"


@attrs.frozen
class Fields:
    """A mapping read against its FieldSpecs: the values, and where each came from."""

    reader: FieldReader
    node: Node
    where: str
    values: Mapping[str, Any]
    nodes: Mapping[str, Node]

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def path(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def fail(self, name: str | None, problem: str) -> NoReturn:
        """Fail at field ``name`` (at the mapping when it is absent or None)."""
        node = self.nodes.get(name, self.node) if name is not None else self.node
        self.reader.fail(node, self.path(name) if name is not None else self.where, problem)


@attrs.frozen
class Section(Kind[Fields]):
    """A mapping whose fields are ``fields``: unknown ones are errors (typos do not
    pass silently), missing required ones too, each field checked in order."""

    fields: tuple[FieldSpec, ...]
    what: str = "mapping"  # "card": "a card with chip: false has no chip, ..."
    expected: str = "a mapping (field: value lines)"

    def read(self, node: Node, where: str, reader: FieldReader) -> Fields:
        if not isinstance(node.value, LineDict):
            reader.fail(node, where, f"expected {self.expected}")
        mapping: LineDict = node.value
        specs = {spec.name: spec for spec in self.fields}
        path = (lambda name: f"{where}.{name}") if where else (lambda name: name)
        for key in mapping:
            if key not in specs:
                hint = did_you_mean(key, specs)
                known = ", ".join(sorted(specs))
                reader.fail(
                    Node(key, mapping.line_of(key)),
                    path(key),
                    f"unknown field{hint}; expected one of {known}",
                )
        nodes = {key: child(mapping, key) for key in mapping}
        values: dict[str, Any] = {}
        for spec in self.fields:
            values[spec.name] = self._value(spec, node, nodes, values, path, reader)
            if isinstance(values[spec.name], bool) and not values[spec.name]:
                self._refuse_gated(spec.name, mapping, path, reader)
        return Fields(reader, node, where, values, nodes)

    def _value(
        self,
        spec: FieldSpec,
        node: Node,
        nodes: Mapping[str, Node],
        values: Mapping[str, Any],
        path: Callable[[str], str],
        reader: FieldReader,
    ) -> Any:
        if spec.only_if is not None and not values[spec.only_if]:
            return spec.default_for(values) if spec.otherwise is REQUIRED else spec.otherwise
        found = nodes.get(spec.name)
        if found is None:
            if spec.required:
                reader.fail(node, path(spec.name), f"missing; expected {spec.kind.expected}")
            return spec.default_for(values)
        value = spec.kind.read(found, path(spec.name), reader)
        for rule in spec.rules:
            problem = rule(value, values)
            if problem is not None:
                reader.fail(found, path(spec.name), problem)
        return value

    def _refuse_gated(
        self, gate: str, mapping: LineDict, path: Callable[[str], str], reader: FieldReader
    ) -> None:
        for spec in self.fields:
            if spec.only_if == gate and spec.name in mapping:
                reader.fail(
                    Node(spec.name, mapping.line_of(spec.name)),
                    path(spec.name),
                    f"a {self.what} with {gate}: false has no {gate}, so no {spec.name}; "
                    f"remove the field or set {gate}: true",
                )


def reference_table(fields: Iterable[FieldSpec]) -> str:
    """The Markdown table of a format's fields: field | required | meaning."""
    rows = ["| field | required | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | {s.reference_required()} | {s.help} |" for s in fields]
    return "\n".join(rows)
