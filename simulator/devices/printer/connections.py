"""Who sent which bytes to the virtual printer: connections and their streams.

The interpreter counts offsets across everything it was ever fed. A server
that takes many connections (``possim printer serve``) reports a problem by
the connection that sent the command and the offset in *that* connection's
stream -- what its client can look up in the job it sent. :class:`StreamMap`
keeps that correspondence for the bytes the interpreter has not finished with
(at most one command's worth, which the command limits bound), so it stays
small however long the server runs.
"""

from __future__ import annotations

import bisect

import attrs

MAX_SEGMENTS = 4096  # interleavings kept (two transports feeding one printer at once)


@attrs.define(eq=False)
class Connection:
    """One host connection (a TCP client, a pty session) feeding the printer."""

    id: int
    label: str  # e.g. "tcp 127.0.0.1:40112"
    bytes_in: int = 0
    problems: int = 0  # problems the printer reported while interpreting its bytes
    problems_shown: int = 0  # of those, printed (servers cap what they print per connection)

    @property
    def name(self) -> str:
        return f"connection {self.id} ({self.label})"


@attrs.frozen
class Located:
    """Where a stream offset came from."""

    connection: Connection
    offset: int  # in the connection's own stream


class StreamMap:
    """Stream offsets -> (connection, offset in its stream), for the bytes still in use."""

    def __init__(self, max_segments: int = MAX_SEGMENTS) -> None:
        self.max_segments = max_segments
        self._starts: list[int] = []  # stream offset where each segment starts
        self._segments: list[tuple[int, Connection, int, int]] = []  # start, conn, its offset, size

    def __len__(self) -> int:
        return len(self._segments)

    def add(self, start: int, connection: Connection, offset: int, size: int) -> None:
        """``size`` bytes at stream offset ``start`` are ``connection``'s from ``offset``."""
        if not size:
            return
        if self._segments:
            last_start, last, last_offset, last_size = self._segments[-1]
            if (
                last is connection
                and last_start + last_size == start
                and last_offset + last_size == offset
            ):
                self._segments[-1] = (last_start, last, last_offset, last_size + size)
                return
        self._starts.append(start)
        self._segments.append((start, connection, offset, size))
        if len(self._segments) > self.max_segments:
            del self._starts[0], self._segments[0]

    def locate(self, stream_offset: int) -> Located | None:
        index = bisect.bisect_right(self._starts, stream_offset) - 1
        if index < 0:
            return None
        start, connection, offset, size = self._segments[index]
        if stream_offset >= start + size:
            return None  # fed by no connection (in process)
        return Located(connection, offset + stream_offset - start)

    def forget_before(self, stream_offset: int) -> None:
        """Drop segments that end at or before ``stream_offset`` (the interpreter is done)."""
        done = 0
        for start, _, _, size in self._segments:
            if start + size > stream_offset:
                break
            done += 1
        if done:
            del self._starts[:done], self._segments[:done]
