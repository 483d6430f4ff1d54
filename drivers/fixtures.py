"""possim's data files: where they are found, and YAML that remembers where things were.

**Finding a file.** Data files live in the ``firmware_fixtures`` data package
and in the folders named by ``POSSIM_FIXTURES`` (searched first):
:func:`find`, :func:`names` and :func:`locate` look a name up in one category
(``cards``, ``printers`` ...).

**Reading YAML with lines**, so errors can say ``file:line``. Every YAML data
file possim reads (scenarios, card images, printer profiles, gateway tables,
vendor contracts, receipt templates) goes through this module:

* :class:`LineLoader` is a ``yaml.SafeLoader`` whose mappings come back as
  :class:`LineDict` and sequences as :class:`LineList`; both know the
  (1-based) line they start on and the line of each key / item. Keys are
  strings (a plain scalar key is turned into its ``str``) and a key that
  appears twice in one mapping is an error naming both lines.
  :class:`TextLineLoader` is the same, but reads every plain scalar as the
  text written in the file (``0156`` stays ``"0156"``, ``yes`` stays
  ``"yes"``): for formats that check each field themselves.
* :func:`load` / :func:`loads` turn unreadable files, non-UTF-8 bytes and YAML
  syntax errors into one exception type, :class:`FixtureFileError` (or a
  subclass the caller names), carrying the path, the line and the problem.
* :func:`line_of` and :func:`line_at` find "the line of this key".

Limits (docs/reliability.md): a file of at most :data:`MAX_FILE_BYTES`, nested
at most :data:`MAX_DEPTH` levels, at most :data:`MAX_NODES` values once its
aliases (``*name``) and merges (``<<``) are expanded -- so a few hundred bytes
of nested aliases (a "billion laughs") cannot make gigabytes -- and numbers of
at most :data:`MAX_NUMBER_CHARS` characters, finite. Each is refused with the
line where it is crossed, before anything is built past it.

This module lives in ``drivers`` so both ``drivers`` and ``simulator`` can use
it (``drivers`` never imports ``simulator``; ``firmware_fixtures`` is data only).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

import firmware_fixtures

__all__ = [
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MAX_NUMBER_CHARS",
    "FixtureFileError",
    "LineDict",
    "LineList",
    "LineLoader",
    "TextLineLoader",
    "find",
    "line_at",
    "line_of",
    "load",
    "loads",
    "locate",
    "names",
    "read_text",
    "search_path",
]

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 64
# Values (scalars, lists, mappings, keys) in a file once every alias is expanded.
MAX_NODES = 100_000
# Python's int() is quadratic in the digits (it refuses more than 4300); no file
# possim reads needs a number longer than this -- quote it if it is text.
MAX_NUMBER_CHARS = 40
# A problem longer than this is shortened in the middle: a message stays readable
# however large the value it quotes (and the file's limits bound that value).
MAX_PROBLEM_CHARS = 2000


FIXTURES_ENV = "POSSIM_FIXTURES"


def search_path() -> list[Path]:
    """Folders searched for fixtures: ``$POSSIM_FIXTURES`` entries, then built-ins."""
    extra = [Path(p) for p in os.environ.get(FIXTURES_ENV, "").split(os.pathsep) if p]
    return [*extra, firmware_fixtures.ROOT]


def find(category: str, name: str, suffixes: tuple[str, ...]) -> Path | None:
    """The file for ``name`` in ``category`` (e.g. ``cards``/``unionpay_debit``).

    ``name`` may also be a path to a file anywhere.
    """
    direct = Path(name)
    if direct.suffix in suffixes and _is_file(direct):
        return direct
    for folder in search_path():
        for suffix in suffixes:
            candidate = folder / category / f"{name}{suffix}"
            if _is_file(candidate):
                return candidate
    return None


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name no file can have (too long, a NUL byte): not found
        return False


def names(category: str, suffixes: tuple[str, ...]) -> list[str]:
    """Every name :func:`find` knows in ``category``, sorted."""
    found: set[str] = set()
    for folder in search_path():
        directory = folder / category
        if directory.is_dir():
            found.update(p.stem for p in directory.iterdir() if p.suffix in suffixes)
    return sorted(found)


def locate(
    category: str,
    name_or_path: str | Path,
    suffixes: tuple[str, ...],
    what: str,
    error: Callable[[str, str], Exception],
) -> Path:
    """Like :func:`find`, but a miss raises ``error(name, problem)`` saying
    where it looked and what is there, e.g. ``no card image named 'x' in ...``."""
    name = str(name_or_path)
    path = find(category, name, suffixes)
    if path is not None:
        return path
    if Path(name).suffix in suffixes:
        raise error(name, f"no such {what} file")
    folders = ", ".join(str(folder / category) for folder in search_path())
    known = ", ".join(names(category, suffixes)) or "none"
    raise error(name, f"no {what} named {name!r} in {folders} (known: {known})")


# -- errors ------------------------------------------------------------------------


class FixtureFileError(Exception):
    """A data file is missing, unreadable or malformed.

    ``path`` is the file (or the name that was looked up), ``line`` the 1-based
    line at fault (``None`` when the whole file is) and ``problem`` what was
    wrong; the message reads ``path:line: problem``.
    """

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        if len(problem) > MAX_PROBLEM_CHARS:
            left_out = len(problem) - MAX_PROBLEM_CHARS
            head, tail = MAX_PROBLEM_CHARS * 3 // 4, MAX_PROBLEM_CHARS // 4
            problem = f"{problem[:head]} ...({left_out} characters left out)... {problem[-tail:]}"
        self.path = Path(path)
        self.problem = problem
        self.line = line
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses take other constructor arguments than ``args``: rebuild
        # from the attributes so the error survives pickling (multiprocessing).
        return (_rebuild_error, (type(self), self.args, dict(self.__dict__)))


def _rebuild_error(
    cls: type[FixtureFileError], args: tuple[Any, ...], state: dict[str, Any]
) -> FixtureFileError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


# -- containers that know their lines --------------------------------------------


class LineDict(dict[str, Any]):
    """A mapping read from YAML: its own line and the line of each key."""

    line: int | None
    key_lines: dict[str, int]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = None
        self.key_lines = {}

    def line_of(self, key: str) -> int | None:
        """The line of ``key``; the mapping's own line when the key is absent."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A sequence read from YAML: its own line and the line of each item."""

    line: int | None
    item_lines: list[int]

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.line = None
        self.item_lines = []

    def line_of(self, index: int) -> int | None:
        """The line of item ``index``; the sequence's own line when there is none."""
        if -len(self.item_lines) <= index < len(self.item_lines):
            return self.item_lines[index]
        return self.line


def line_of(value: object, key: str | int | None = None) -> int | None:
    """The line of ``value`` (a LineDict / LineList), or of its ``key`` / item.

    None for anything that was not read by this module's loaders.
    """
    if key is None:
        return value.line if isinstance(value, (LineDict, LineList)) else None
    if isinstance(value, LineDict) and isinstance(key, str):
        return value.line_of(key)
    if isinstance(value, LineList) and isinstance(key, int):
        return value.line_of(key)
    return line_of(value)


def line_at(document: object, *keys: str | int) -> int | None:
    """The line of the field at ``keys`` (``line_at(doc, "media", "width", "mm")``).

    Walks down from ``document``; where a key is missing, the line of the
    mapping (or sequence) that should hold it. None without line information.
    """
    line = line_of(document)
    current: object = document
    for key in keys:
        found = (isinstance(current, LineDict) and isinstance(key, str) and key in current) or (
            isinstance(current, LineList) and isinstance(key, int) and 0 <= key < len(current)
        )
        if not found:
            return line_of(current) or line
        line = line_of(current, key)
        current = current[key]  # type: ignore[index]
    return line


# -- the loaders ------------------------------------------------------------------


class _Refused(Exception):
    """YAML this module's loaders refuse (a complex or duplicate key)."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem)
        self.problem = problem
        self.line = int(mark.line) + 1


if TYPE_CHECKING:
    _Loader = yaml.SafeLoader
else:
    # libyaml scans and parses where PyYAML has it (every wheel does): ten times the
    # speed of Python. PyYAML's composer (with the counting below) and constructor
    # build from its events.
    if yaml.__with_libyaml__:
        _Events = yaml.cyaml.CParser
    else:  # pragma: no cover

        class _Events(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
            def __init__(self, stream):
                yaml.reader.Reader.__init__(self, stream)
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)

    class _Loader(
        yaml.composer.Composer, _Events, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        def __init__(self, stream):
            _Events.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)


class LineLoader(_Loader):
    """A safe loader building :class:`LineDict` mappings and :class:`LineList` sequences.

    It counts while composing, before anything is built: the values an alias
    (``*name``) repeats count again each time, and the levels it holds add to the
    depth where it is used; past the module's limits the file is refused at the
    line where the limit is crossed.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._values = 0
        # For each node being composed, outermost first: the levels below it so far.
        self._open: list[int] = []
        # Each anchored node composed: its values and levels, aliases expanded.
        self._anchored: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            named = self.anchors.get(event.anchor)
            if named is not None:
                expanded = self._anchored.get(id(named))
                if expanded is None:
                    raise _Refused(
                        f"alias *{event.anchor} is inside the value it names: it would never end",
                        event.start_mark,
                    )
                self._grow(*expanded, event.start_mark)
            return super().compose_node(parent, index)
        self._grow(1, 1, event.start_mark)
        before = self._values
        self._open.append(0)
        node = super().compose_node(parent, index)
        levels = self._open.pop() + 1
        if self._open:
            self._open[-1] = max(self._open[-1], levels)
        if event.anchor is not None:
            self._anchored[id(node)] = (self._values - before + 1, levels)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError):
            # PyYAML's constructors fail this way on a value its explicit tag does not
            # fit (`!!int name`, `!!bool 3`, `!!map [1]`).
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise _Refused(
                f"not a {tag} value: write it without the tag", node.start_mark
            ) from None

    def _grow(self, values: int, levels: int, mark: Any) -> None:
        """Count ``values`` more values, ``levels`` deep, inside the node being composed."""
        self._values += values
        if self._values > MAX_NODES:
            raise _Refused(
                f"more than {MAX_NODES} values (an alias *name counts what it repeats): "
                "possim reads no file that large",
                mark,
            )
        if len(self._open) + levels > MAX_DEPTH:
            raise _Refused(
                f"nested more than {MAX_DEPTH} levels deep (an alias *name counts what it "
                "holds): possim reads no file nested that deep",
                mark,
            )
        if self._open:
            self._open[-1] = max(self._open[-1], levels)


class TextLineLoader(LineLoader):
    """A :class:`LineLoader` that reads every plain scalar as the text written.

    No YAML 1.1 implicit typing: ``0156``, ``yes``, ``3.10`` and ``~`` all stay
    strings (explicit tags such as ``!!int`` still apply). Merge keys (``<<``)
    are plain keys too.
    """


# No implicit resolvers: every plain scalar resolves to the str tag.
TextLineLoader.yaml_implicit_resolvers = {}


_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_KEY_TYPES = (str, int, float, bool, type(None))


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "mapping"
    if isinstance(node, yaml.SequenceNode):
        return "list"
    return "value"


def _construct_mapping(loader: LineLoader, node: yaml.MappingNode) -> LineDict:
    # flatten_mapping() puts the pairs of merged mappings (<<: *base) first; the
    # mapping's own keys may override those, but not repeat each other.
    own = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
    loader.flatten_mapping(node)
    first_own = len(node.value) - own
    result = LineDict()
    result.line = int(node.start_mark.line) + 1
    own_keys: set[str] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        if not isinstance(key_node, yaml.ScalarNode):
            raise _Refused(
                f"a key must be a plain value (a word or a number), not a {_kind(key_node)}",
                key_node.start_mark,
            )
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, _PLAIN_KEY_TYPES):
            raise _Refused(
                f"a key must be a plain value (a word or a number), got {key!r}",
                key_node.start_mark,
            )
        text = key if isinstance(key, str) else str(key)
        if index >= first_own:
            if text in own_keys:
                raise _Refused(
                    f"duplicate key {text!r} (first on line {result.key_lines[text]})",
                    key_node.start_mark,
                )
            own_keys.add(text)
        result[text] = loader.construct_object(value_node, deep=True)
        result.key_lines[text] = int(key_node.start_mark.line) + 1
    return result


def _construct_sequence(loader: LineLoader, node: yaml.SequenceNode) -> LineList:
    result = LineList(loader.construct_object(child, deep=True) for child in node.value)
    result.line = int(node.start_mark.line) + 1
    result.item_lines = [int(child.start_mark.line) + 1 for child in node.value]
    return result


def _construct_int(loader: LineLoader, node: yaml.ScalarNode) -> int:
    _check_number(node)
    return int(loader.construct_yaml_int(node))


def _construct_float(loader: LineLoader, node: yaml.ScalarNode) -> float:
    _check_number(node)
    value = float(loader.construct_yaml_float(node))
    if not math.isfinite(value):
        raise _Refused(
            f"{node.value} is not a finite number: write a number (quote it if it is text)",
            node.start_mark,
        )
    return value


def _check_number(node: yaml.ScalarNode) -> None:
    if len(node.value) > MAX_NUMBER_CHARS:
        raise _Refused(
            f"a number of {len(node.value)} characters: possim reads numbers of at most "
            f"{MAX_NUMBER_CHARS} (quote it if it is text)",
            node.start_mark,
        )


LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
LineLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
LineLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


# -- reading files ------------------------------------------------------------------


def read_text(
    path: Path | str,
    *,
    error: type[FixtureFileError] = FixtureFileError,
    limit: int = MAX_FILE_BYTES,
) -> str:
    """The UTF-8 text of ``path`` (at most ``limit`` bytes), or ``error`` saying why
    it cannot be read."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            data = file.read(limit + 1)
    except OSError as exc:
        raise error(path, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise error(
            path,
            f"larger than {_size(limit)}: possim reads no such file that large",
            line=data.count(b"\n", 0, limit) + 1,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise error(
            path, f"not UTF-8 text: byte 0x{data[exc.start]:02X} is not valid UTF-8", line=line
        ) from None


def loads(
    text: str,
    path: Path | str,
    *,
    loader: type[LineLoader] = LineLoader,
    error: type[FixtureFileError] = FixtureFileError,
) -> Any:
    """Parse ``text`` (read from ``path``, which names it in errors)."""
    if len(text) > MAX_FILE_BYTES:
        raise error(path, f"larger than {_size(MAX_FILE_BYTES)}: possim reads no YAML that large")
    try:
        return yaml.load(text, Loader=loader)
    except _Refused as exc:
        raise error(path, exc.problem, line=exc.line) from None
    except yaml.MarkedYAMLError as exc:
        raise error(path, f"not valid YAML: {_describe(exc)}", line=_line(exc)) from None
    except UnicodeEncodeError as exc:  # a str with lone surrogates: not from a file
        line = text.count("\n", 0, exc.start) + 1
        raise error(path, f"not UTF-8 text: {exc.reason}", line=line) from None
    except yaml.reader.ReaderError as exc:
        raise error(
            path, f"not valid YAML: {_reader_problem(exc)}", line=_reader_line(text, exc)
        ) from None
    except yaml.YAMLError as exc:
        raise error(path, f"not valid YAML: {exc}") from None


def load(
    path: Path | str,
    *,
    loader: type[LineLoader] = LineLoader,
    error: type[FixtureFileError] = FixtureFileError,
) -> Any:
    """Read and parse the YAML file ``path``; every failure is an ``error``."""
    return loads(read_text(path, error=error), path, loader=loader, error=error)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit % (1024 * 1024) == 0 else f"{limit} bytes"


def _reader_problem(exc: yaml.reader.ReaderError) -> str:
    if isinstance(exc.character, bytes):
        return f"byte 0x{ord(exc.character):02X} is not valid {exc.encoding}"
    return f"character U+{exc.character:04X} is not allowed in YAML ({exc.reason})"


def _reader_line(text: str, exc: yaml.reader.ReaderError) -> int:
    # libyaml counts the position in UTF-8 bytes, PyYAML's reader in characters.
    if yaml.__with_libyaml__:
        before = text.encode("utf-8", "surrogatepass")[: exc.position].decode("utf-8", "ignore")
    else:  # pragma: no cover
        before = text[: exc.position]
    return before.count("\n") + 1


def _line(exc: yaml.MarkedYAMLError) -> int | None:
    mark = exc.problem_mark or exc.context_mark
    return int(mark.line) + 1 if mark is not None else None


def _describe(exc: yaml.MarkedYAMLError) -> str:
    problem = exc.problem or str(exc)
    if not exc.context:
        return problem
    context = exc.context
    if exc.context_mark is not None and (
        exc.problem_mark is None or exc.context_mark.line != exc.problem_mark.line
    ):
        context += f" on line {int(exc.context_mark.line) + 1}"
    return f"{context}, {problem}"
