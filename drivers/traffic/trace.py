"""The JSONL trace format: one header line, then one line per message, in order.

Header::

    {"possim_trace": 1, "kind": "card_reader", "url": "pcsc://possim%20vpcd%2000%2000",
     "possim_version": "0.1.0", "recorded_at": "2026-11-25T15:40:00+00:00",
     "salt": "<hex>", "seal": {...}, "device": {...}}

Message lines::

    {"n": 3, "op": "transmit", "dir": "out", "hex": "00A404000E...", "summary": "SELECT ..."}

``dir`` is ``out`` (driver to device), ``in`` (device to driver) or ``event``
(something that happened to the device: a card inserted). ``hex`` is the bytes
as a human may see them: where the bytes are sensitive, hidden nibbles are
``*`` and the bytes themselves are kept as ``digest`` (a salted HMAC of a PIN
command: enough to check a replay sent the same bytes, not to recover them) or
``sealed`` (an AES-GCM sealed response: see :mod:`drivers.traffic.hygiene`).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from drivers.errors import DriverError
from drivers.fixtures import FixtureFileError

FORMAT_VERSION = 1
DIRECTIONS = ("out", "in", "event")
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

    @classmethod
    def load(cls, path: Path | str) -> Trace:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise TraceFormatError(path, f"cannot read the trace: {exc.strerror}") from None
        return cls.parse(text, path)

    @classmethod
    def parse(cls, text: str, path: Path | str = "<trace>") -> Trace:
        path = Path(path)
        lines = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        if not lines:
            raise TraceFormatError(path, "empty trace: expected a header line")
        header = _json_object(path, *lines[0])
        if header.get("possim_trace") != FORMAT_VERSION:
            raise TraceFormatError(
                path, f"not a possim trace (version {FORMAT_VERSION}) header", line=lines[0][0]
            )
        if not isinstance(header.get("kind"), str):
            raise TraceFormatError(path, "header: kind is missing", line=lines[0][0])
        messages = []
        for index, (number, line) in enumerate(lines[1:]):
            data = _json_object(path, number, line)
            try:
                op, direction, hex_text = data["op"], data["dir"], data.get("hex", "")
                if not isinstance(op, str) or direction not in DIRECTIONS:
                    raise KeyError("dir")
                if not isinstance(hex_text, str):
                    raise KeyError("hex")
                # n names the message in errors; a hand-edited trace may skip numbers.
                n = data.get("n", index)
                if isinstance(n, bool) or not isinstance(n, int):
                    raise KeyError("n")
            except KeyError as exc:
                raise TraceFormatError(
                    path, f"field {exc.args[0]}: missing or malformed", line=number
                ) from None
            extra = {k: v for k, v in data.items() if k not in _CORE}
            summary = data.get("summary", "")
            messages.append(Message(n, op, direction, hex_text, str(summary), extra))
        return cls(path, header, tuple(messages))

    def dumps(self) -> str:
        lines = [json.dumps(dict(self.header), ensure_ascii=False)]
        lines.extend(json.dumps(m.to_json(), ensure_ascii=False) for m in self.messages)
        return "\n".join(lines) + "\n"

    def __iter__(self) -> Iterator[Message]:
        return iter(self.messages)


def _json_object(path: Path, number: int, line: str) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise TraceFormatError(path, f"not JSON: {exc.msg}", line=number) from None
    if not isinstance(data, dict):
        raise TraceFormatError(path, "expected a JSON object", line=number)
    return data


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
        **extra: Any,
    ) -> int:
        with self._lock:
            number = self._count
            self._count += 1
            message = Message(number, op, direction, hex_text, summary, extra)
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
