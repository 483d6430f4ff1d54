"""What the interpreter reports about input it could not print as sent."""

from __future__ import annotations

from collections.abc import Callable

import attrs

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
