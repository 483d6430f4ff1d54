"""Record and replay ESC/POS traffic at the python-escpos device object.

:class:`~drivers.printer.escpos.EscposPrinter` talks to its device through two
methods only: ``_raw(bytes)`` (every job, every status query) and ``_read()``
(every status reply). :func:`tap_escpos` wraps those two on an opened
``Usb``/``Serial``/``Network``/``File`` instance; :class:`ReplayEscpos` is a
python-escpos printer class whose ``_raw`` checks the bytes against the trace
and whose ``_read`` answers from it.
"""

from __future__ import annotations

from typing import Any

from escpos.escpos import Escpos

from drivers.traffic import summaries
from drivers.traffic.tape import Cursor, Tape


def tap_escpos(device: Escpos, tape: Tape) -> None:
    """Record everything written to and read from ``device`` (patched in place, so
    ``type(device)`` -- which the driver checks to know if it can read -- is kept)."""
    raw, read = device._raw, device._read

    def recording_raw(data: bytes) -> None:
        data = bytes(data)
        tape.add("write", "out", data.hex().upper(), summaries.describe_escpos(data))
        raw(data)

    def recording_read() -> bytes:
        try:
            reply = bytes(read() or b"")
        except Exception as exc:  # a timeout is part of the conversation too
            tape.add("read", "in", "", f"read failed: {type(exc).__name__}", error=True)
            raise
        tape.add("read", "in", reply.hex().upper(), summaries.describe_status(reply))
        return reply

    device._raw = recording_raw
    device._read = recording_read


class ReplayEscpos(Escpos):  # type: ignore[misc]  # python-escpos is untyped
    """A python-escpos printer that is a printer trace."""

    def __init__(self, cursor: Cursor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cursor = cursor
        self._closed = False

    def open(self) -> None:
        pass

    def _raw(self, msg: bytes) -> None:
        data = bytes(msg)
        shown = data.hex().upper()
        cursor = self._cursor
        with cursor.lock:
            message = cursor.expect(
                "write", "out", f"{_short(shown)} ({summaries.describe_escpos(data)})"
            )
            cursor.check_bytes(message, data, _short(shown), summaries.describe_escpos)

    def _read(self) -> bytes:
        message = self._cursor.expect("read", "in", "(a status read)")
        if message.extra.get("error"):
            raise TimeoutError("the recorded printer did not answer (replayed)")
        return self._cursor.payload(message)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._cursor.check_finished()

    def __del__(self) -> None:
        pass  # Escpos.__del__ closes; a replay checks its trace in close(), never here


def _short(shown: str) -> str:
    return shown if len(shown) <= 96 else shown[:96] + f"...({len(shown) // 2} B)"
