"""The JSONL trace format: one header line, then one line per message, in order.

Header::

    {"possim_trace": 2, "kind": "card_reader", "url": "pcsc://possim%20vpcd%2000%2000",
     "possim_version": "0.1.0", "recorded_at": "2026-11-25T15:40:00+00:00",
     "salt": "<hex>", "seal": {...}, "device": {...}}

Message lines::

    {"n": 3, "op": "transmit", "dir": "out", "hex": "00A404000E...", "summary": "SELECT ..."}

``dir`` is ``out`` (driver to device), ``in`` (device to driver) or ``event``
(something that happened to the device: a card inserted). ``hex`` is the bytes
as a human may see them: where the bytes are sensitive, hidden nibbles are
``*`` and the bytes themselves are kept as ``digest`` (a salted HMAC of a PIN
command: enough to check a replay sent the same bytes, not to recover them) or
``sealed`` (an AES-GCM sealed response: see :mod:`drivers.traffic.hygiene`),
bound to everything else on its line (:func:`seal_binding`).

Format 2 binds a seal to the whole line and the trace's salt; format 1 (read
still) bound it to ``op``, ``dir`` and ``hex`` only. Reading is bounded
(docs/reliability.md): at most :data:`MAX_TRACE_BYTES` of UTF-8, lines of at
most :data:`MAX_LINE_CHARS`, JSON nested at most :data:`MAX_NESTING` deep,
numbers of at most :data:`MAX_NUMBER_DIGITS` digits, and every field of the
type it has; anything else is a :class:`TraceFormatError` naming the line.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from drivers import fixtures
from drivers.errors import DriverError
from drivers.fixtures import FixtureFileError

FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
DIRECTIONS = ("out", "in", "event")
MAX_TRACE_BYTES = 16 * 1024 * 1024
MAX_LINE_CHARS = 1024 * 1024
MAX_NESTING = 8  # the header holds objects in an object; a message line is flat
MAX_NUMBER_DIGITS = 20
# URL parameters that never go into a header: where the trace itself is written.
_PRIVATE_PARAMS = frozenset({"record"})


class TraceError(Exception):
    """Base class of the record/replay errors.

    Not a :class:`~drivers.errors.DriverError` (only :class:`TraceRecordingError`
    is): see :class:`TraceDivergence`.
    """


class TraceFormatError(TraceError, FixtureFileError):
    """A trace file is missing or malformed: ``path:line: problem``."""


class TraceDivergence(TraceError):
    """The driver's traffic is not the traffic the trace holds.

    Deliberately not a :class:`~drivers.errors.DriverError`: an app that copes
    with device faults must not take a replay mismatch for one and carry on.
    ``index`` is the trace line number (``n``) where the two first differ.
    """

    def __init__(self, trace: Path, index: int, expected: str, actual: str) -> None:
        self.trace = trace
        self.index = index
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"{trace}: traffic diverges from the trace at exchange {index}:\n"
            f"  expected: {expected}\n"
            f"  actual:   {actual}"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Survives pickling (a scenario run in another process reports it).
        return (type(self), (self.trace, self.index, self.expected, self.actual))


class TraceRecordingError(TraceError, DriverError):
    """Recording cannot be set up (unwritable path, a transport that cannot be tapped)."""


def possim_version() -> str:
    try:
        return version("possim")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def redact_url(url: str) -> str:
    """``url`` without credentials and without the ``record=`` parameter."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in _PRIVATE_PARAMS])
    if not netloc:  # urlunsplit would drop the // of serial:///dev/ttyACM0
        return f"{parts.scheme}://{parts.path}" + (f"?{query}" if query else "")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@attrs.frozen
class Message:
    """One line of a trace after the header."""

    n: int
    op: str
    dir: str
    hex: str = ""
    summary: str = ""
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    # The line of the file it was read from (0: not read from a file), for errors.
    line: int = attrs.field(default=0, eq=False, repr=False)

    def data(self) -> bytes:
        """The bytes of ``hex``; only for messages that hide nothing."""
        return bytes.fromhex(self.hex)

    @property
    def hidden(self) -> bool:
        return "*" in self.hex or "[" in self.hex

    def describe(self) -> str:
        """``#12 transmit out 00B2010C00 (READ RECORD SFI 1 record 1)`` -- already redacted."""
        shown = self.hex if len(self.hex) <= 96 else self.hex[:96] + f"...({len(self.hex) // 2} B)"
        summary = f" ({self.summary})" if self.summary else ""
        return f"#{self.n} {self.op} {self.dir} {shown or '-'}{summary}"

    def to_json(self) -> dict[str, Any]:
        line: dict[str, Any] = {"n": self.n, "op": self.op, "dir": self.dir, "hex": self.hex}
        line.update(self.extra)
        line["summary"] = self.summary
        return line


_CORE = frozenset({"n", "op", "dir", "hex", "summary"})


@attrs.frozen
class Trace:
    """A loaded trace: its header and messages."""

    path: Path
    header: Mapping[str, Any]
    messages: tuple[Message, ...]

    @property
    def kind(self) -> str:
        return str(self.header["kind"])

    @property
    def device(self) -> Mapping[str, Any]:
        device = self.header.get("device", {})
        return device if isinstance(device, Mapping) else {}

    @property
    def version(self) -> int:
        return int(self.header["possim_trace"])

    @classmethod
    def load(cls, path: Path | str) -> Trace:
        path = Path(path)
        text = fixtures.read_text(path, error=TraceFormatError, limit=MAX_TRACE_BYTES)
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: Path | str = "<trace>") -> Trace:
        path = Path(path)
        lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        if not lines:
            raise TraceFormatError(path, "empty trace: expected a header line")
        header = _json_object(path, *lines[0])
        _check_header(path, lines[0][0], header)
        messages = [
            _message(path, number, _json_object(path, number, line), index)
            for index, (number, line) in enumerate(lines[1:])
        ]
        return cls(path, header, tuple(messages))

    def dumps(self) -> str:
        lines = [json.dumps(dict(self.header), ensure_ascii=False)]
        lines.extend(json.dumps(m.to_json(), ensure_ascii=False) for m in self.messages)
        return "\n".join(lines) + "\n"

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    if len(line) > MAX_LINE_CHARS:
        raise TraceFormatError(
            path,
            f"a line of {len(line)} characters: a trace line holds at most {MAX_LINE_CHARS}",
            line=number,
        )
    if _nesting(line) > MAX_NESTING:
        raise TraceFormatError(
            path, f"JSON nested more than {MAX_NESTING} levels: not a trace line", line=number
        )
    try:
        data = json.loads(line, parse_int=_integer, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, f"not JSON: {exc.msg}", line=number) from None
    except _Refused as exc:
        raise TraceFormatError(path, str(exc), line=number) from None
    if not isinstance(data, dict):
        raise TraceFormatError(path, "expected a JSON object", line=number)
    return data


class _Refused(ValueError):
    """JSON a trace never holds (raised from json.loads' hooks)."""


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _Refused(
            f"a number of {len(text)} digits: a trace holds none over {MAX_NUMBER_DIGITS}"
        )
    return int(text)


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a number a trace holds")


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def _nesting(line: str) -> int:
    """How deep the JSON ``line`` nests (brackets inside strings do not count)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_STRING.sub("", line)):
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _check_header(path: Path, number: int, header: Mapping[str, Any]) -> None:
    version = header.get("possim_trace")
    if isinstance(version, bool) or not isinstance(version, int):
        raise TraceFormatError(path, "not a possim trace header (no possim_trace)", line=number)
    if version not in READABLE_VERSIONS:
        newer = version > FORMAT_VERSION
        raise TraceFormatError(
            path,
            f"trace format {version}: this possim reads formats "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
            + (" (recorded by a newer possim)" if newer else ""),
            line=number,
        )
    for field, kind in (("kind", str), ("url", str), ("salt", str), ("device", Mapping)):
        if field in header and not isinstance(header[field], kind):
            raise TraceFormatError(path, f"header: {field} is malformed", line=number)
    if not isinstance(header.get("kind"), str):
        raise TraceFormatError(path, "header: kind is missing", line=number)


_HEX = re.compile(r"(?:[0-9A-Fa-f*]{2})*")
SEALED_HEX = "[SEALED]"  # the hex of a line whose bytes are all sealed
_HEX_DIGEST = re.compile(r"[0-9a-f]{64}")


def _whole(low: int, high: int) -> Callable[[object], bool]:
    return lambda value: (
        isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    )


# The fields the recorders write besides n/op/dir/hex/summary, and what each holds.
_EXTRA_FIELDS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "t": (
        "seconds",
        lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < math.inf,
    ),
    "us": ("microseconds", _whole(0, 10**15)),  # an input event's timestamp (wedge)
    "rc": ("a PC/SC return code", _whole(0, 0xFFFFFFFF)),
    "protocol": ("a PC/SC protocol", _whole(0, 0xFFFFFFFF)),
    "disposition": ("a PC/SC disposition", _whole(0, 0xFFFFFFFF)),
    "present": ("true or false", lambda v: isinstance(v, bool)),
    "error": ("true or false", lambda v: isinstance(v, bool)),
    "digest": ("64 hex digits", lambda v: isinstance(v, str) and bool(_HEX_DIGEST.fullmatch(v))),
    "sealed": ("base64 text", lambda v: isinstance(v, str) and bool(v)),
}


def _message(path: Path, number: int, data: Mapping[str, Any], index: int) -> Message:
    def bad(field: str, expected: str) -> TraceFormatError:
        return TraceFormatError(
            path, f"field {field}: expected {expected}, got {data.get(field)!r}", line=number
        )

    n = data.get("n", index)  # names the message in errors; hand edits may skip numbers
    if not _whole(0, 10**9)(n):
        raise bad("n", "the message number")
    op = data.get("op")
    if not isinstance(op, str) or not re.fullmatch(r"[a-z_]{1,32}", op):
        raise bad("op", "an operation name")
    direction = data.get("dir")
    if direction not in DIRECTIONS:
        raise bad("dir", " or ".join(DIRECTIONS))
    hex_text = data.get("hex", "")
    if not isinstance(hex_text, str) or not (hex_text == SEALED_HEX or _HEX.fullmatch(hex_text)):
        raise bad("hex", "hex digits (* for hidden ones)")
    summary = data.get("summary", "")
    if not isinstance(summary, str):
        raise bad("summary", "text")
    extra = {k: v for k, v in data.items() if k not in _CORE}
    for field, value in extra.items():
        expected, valid = _EXTRA_FIELDS.get(field, ("", lambda v: True))
        if not valid(value):
            raise bad(field, expected)
    message = Message(int(n), op, str(direction), hex_text, summary, extra, line=number)
    if message.hidden and "sealed" not in extra and "digest" not in extra:
        raise TraceFormatError(
            path, "hex hides bytes but the line has neither sealed nor digest", line=number
        )
    return message


def seal_binding(salt: str, line: Mapping[str, Any]) -> bytes:
    """What a sealed payload is bound to (format 2): the trace's salt and everything
    else on its line -- its number, operation, shown bytes, summary ... -- so that
    editing the line, or moving the payload to another line or trace, breaks the seal."""
    rest = {key: value for key, value in line.items() if key != "sealed"}
    canonical = json.dumps(rest, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{salt}\n{canonical}".encode()


class TraceWriter:
    """Appends messages to a trace file as they happen (flushed line by line, so a
    crash keeps everything up to it)."""

    def __init__(self, path: Path, header: Mapping[str, Any]) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._count = 0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file: IO[str] | None = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise TraceRecordingError(f"cannot write the trace {path}: {exc.strerror}") from None
        full = {
            "possim_trace": FORMAT_VERSION,
            **header,
            "possim_version": possim_version(),
            "recorded_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        }
        self._write(json.dumps(full, ensure_ascii=False))

    def add(
        self,
        op: str,
        direction: str,
        hex_text: str,
        summary: str,
        seal: Callable[[Mapping[str, Any]], str] | None = None,
        **extra: Any,
    ) -> int:
        """Append a message; ``seal`` (given the line as it stands) returns its ``sealed``."""
        with self._lock:
            number = self._count
            self._count += 1
            message = Message(number, op, direction, hex_text, summary, extra)
            if seal is not None:
                sealed = seal(message.to_json())
                message = attrs.evolve(message, extra={**extra, "sealed": sealed})
            self._write(json.dumps(message.to_json(), ensure_ascii=False))
            return number

    def _write(self, line: str) -> None:
        if self._file is None:
            return
        self._file.write(line + "\n")
        self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
