"""The two ends of a trace a device tap or a replay fake works with.

:class:`Tape` is the recording end (a :class:`~drivers.traffic.trace.TraceWriter`
plus the trace's salt and sealer); :class:`Cursor` the replay end: it hands out
the trace's messages in order and raises :class:`TraceDivergence` the moment the
driver asks for something else.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drivers.clock import Clock
from drivers.traffic.hygiene import Sealer, digest, new_salt
from drivers.traffic.trace import (
    Message,
    Trace,
    TraceDivergence,
    TraceFormatError,
    TraceWriter,
    redact_url,
    seal_binding,
)

_SALT = re.compile(r"[0-9a-f]{32}")


class Tape:
    """Where one device's traffic is being recorded."""

    def __init__(
        self, path: Path, kind: str, url: str, clock: Clock, device: Mapping[str, Any]
    ) -> None:
        self.salt = new_salt()
        self.sealer = Sealer.for_recording()
        self._clock = clock
        self._start = clock.monotonic()
        self.writer = TraceWriter(
            path,
            {
                "kind": kind,
                "url": redact_url(url),
                "device": dict(device),
                "salt": self.salt,
                "seal": self.sealer.header,
            },
        )

    @property
    def path(self) -> Path:
        return self.writer.path

    def add(
        self,
        op: str,
        direction: str,
        hex_text: str,
        summary: str,
        seal: Callable[[Mapping[str, Any]], str] | None = None,
        **extra: Any,
    ) -> int:
        # t: seconds on the device's clock since it was opened (virtual in a simulation).
        extra["t"] = round(self._clock.monotonic() - self._start, 3)
        return self.writer.add(op, direction, hex_text, summary, seal, **extra)

    def add_sealed(
        self, op: str, direction: str, data: bytes, shown: str, summary: str, **extra: Any
    ) -> None:
        """Record ``data``; when ``shown`` hides part of it, keep the bytes sealed, bound
        to the rest of the line (see :func:`~drivers.traffic.trace.seal_binding`)."""
        if shown == data.hex().upper():
            self.add(op, direction, shown, summary, **extra)
            return

        def seal(line: Mapping[str, Any]) -> str:
            return self.sealer.seal(data, seal_binding(self.salt, line))

        self.add(op, direction, shown, summary, seal, **extra)

    def digest(self, data: bytes) -> str:
        return digest(self.salt, data, self.sealer.secret)

    def close(self) -> None:
        self.writer.close()


Describe = Callable[[bytes], str]


def _binding(trace: Trace, message: Message) -> bytes:
    """What the sealed payload of ``message`` was bound to when it was recorded."""
    if trace.version == 1:  # format 1 bound it to the operation and shown bytes only
        return f"{message.op} {message.dir} {message.hex}".encode()
    return seal_binding(str(trace.header.get("salt")), message.to_json())


class Cursor:
    """Reads a trace in order for a replay fake. Thread-safe."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.lock = threading.RLock()
        self.position = 0
        self.sealer = Sealer.for_replay(trace.header.get("seal"), trace.path)
        salt = trace.header.get("salt")
        if not isinstance(salt, str) or not _SALT.fullmatch(salt):
            raise TraceFormatError(trace.path, "header: salt is missing or malformed", line=1)
        self.salt = salt
        # Every seal is checked now, so an edited line is reported as such, at its line,
        # before the replay starts -- not as a divergence at some later exchange.
        self._payloads = {
            message.extra["sealed"]: self.sealer.unseal(
                message.extra["sealed"], _binding(trace, message), message, trace.path
            )
            for message in trace.messages
            if "sealed" in message.extra
        }
        # The first divergence: later calls re-raise it, closing is quiet after it.
        self.failure: TraceDivergence | None = None
        # The cursors of the other devices replayed by the same terminal: when one
        # diverged, the others stopping short is a consequence, not news.
        self.peers: list[Cursor] = [self]

    @property
    def path(self) -> Path:
        return self.trace.path

    def peek(self) -> Message | None:
        with self.lock:
            messages = self.trace.messages
            return messages[self.position] if self.position < len(messages) else None

    def advance(self) -> Message:
        with self.lock:
            message = self.trace.messages[self.position]
            self.position += 1
            return message

    def expect(self, op: str, direction: str, actual: str) -> Message:
        """The next message, which must be ``op``/``direction``; ``actual`` describes what
        the driver did (redacted), for the error."""
        with self.lock:
            if self.failure is not None:
                raise self.failure
            message = self.peek()
            if message is None:
                raise self.diverged(None, f"(extra) {op} {direction} {actual}")
            if message.op != op or message.dir != direction:
                raise self.diverged(message, f"{op} {direction} {actual}")
            self.position += 1
            return message

    def check_bytes(self, message: Message, data: bytes, shown: str, describe: Describe) -> None:
        """The driver sent ``data``: it must be what ``message`` recorded."""
        recorded = message.extra.get("digest")
        if isinstance(recorded, str):
            same = digest(self.salt, data, self.sealer.secret) == recorded
            note = "" if same else " [hidden bytes differ: digest mismatch]"
        else:
            same = not message.hidden and message.hex.upper() == data.hex().upper()
            note = ""
        if not same:
            raise self.diverged(
                message, f"{message.op} {message.dir} {shown} ({describe(data)}){note}"
            )

    def payload(self, message: Message) -> bytes:
        """The bytes a fake device answers with: unsealed when the line hides them."""
        sealed = message.extra.get("sealed")
        if isinstance(sealed, str):
            unsealed = self._payloads.get(sealed)
            if unsealed is None:  # a message of another copy of the trace
                unsealed = self.sealer.unseal(
                    sealed, _binding(self.trace, message), message, self.path
                )
            return unsealed
        if message.hidden:  # a digest: the bytes a driver sent, never answered with
            raise TraceFormatError(
                self.trace.path,
                f"exchange {message.n}: its bytes are hidden, and a device cannot answer them",
                line=message.line or None,
            )
        return message.data()

    def diverged(self, message: Message | None, actual: str) -> TraceDivergence:
        if message is None:
            last = self.trace.messages[-1].n + 1 if self.trace.messages else 0
            error = TraceDivergence(self.trace.path, last, "(end of trace)", actual)
        else:
            error = TraceDivergence(
                self.trace.path, message.n, message.describe(), f"#{message.n} {actual}"
            )
        with self.lock:
            if self.failure is None:
                self.failure = error
        return error

    def remaining(self, ignore: frozenset[str] = frozenset()) -> list[Message]:
        with self.lock:
            rest = list(self.trace.messages[self.position :])
        return [m for m in rest if m.op not in ignore]

    def check_finished(self, ignore: frozenset[str] = frozenset()) -> None:
        """Raise when the driver stopped before the trace did (a missing exchange).

        Quiet after a divergence: that one was raised already, and closing must finish.
        """
        rest = self.remaining(ignore)
        if rest and not any(peer.failure is not None for peer in self.peers):
            raise TraceDivergence(
                self.trace.path,
                rest[0].n,
                rest[0].describe(),
                f"(missing) the driver stopped; {len(rest)} recorded message(s) never happened",
            )
