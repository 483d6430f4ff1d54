"""What the interpreter reports about input it could not print as sent."""

from __future__ import annotations

from collections.abc import Callable

import attrs

from drivers.wire.escpos import DLE, ESC, FS, GS
from simulator.devices.printer.tables import command_name
from simulator.errors import EscposError


@attrs.frozen
class EscposDiagnostic:
    """One unknown, malformed or unprintable command, and what the printer did about it.

    ``offset`` is the command's first byte in the whole stream (None for a fault
    such as paper out, which is about the printer, not the bytes).
    """

    offset: int | None
    command: str
    problem: str

    @property
    def message(self) -> str:
        if self.offset is None:
            return f"{self.command}: {self.problem}" if self.command else self.problem
        return f"offset {self.offset}: {self.command}: {self.problem}"

    def to_error(self) -> EscposError:
        """The typed exception, for callers that want to raise on bad input."""
        return EscposError(self.message)


DiagnosticHook = Callable[[EscposDiagnostic], None]


def command_at(data: bytes | bytearray) -> str:
    """The name of the command ``data`` starts with, e.g. ``GS v`` (``data`` not empty)."""
    prefix = {ESC: "ESC", FS: "FS", GS: "GS", DLE: "DLE"}.get(data[0])
    if prefix is None:
        return f"byte 0x{data[0]:02X}"
    return command_name(prefix, data[1]) if len(data) > 1 else prefix
