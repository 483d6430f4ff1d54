"""Errors of the back office, in the simulator's hierarchy."""

from __future__ import annotations

from simulator.errors import SimulatorError, WireFormatError


class StatementFormatError(WireFormatError):
    """A channel statement does not parse as its channel's format (names channel and line)."""

    def __init__(self, channel: str, problem: str, line: int | None = None) -> None:
        where = f"{channel} statement" + (f" line {line}" if line is not None else "")
        super().__init__(f"{where}: {problem}")
        self.channel = channel
        self.line = line


class BackofficeError(SimulatorError):
    """A back-office request cannot be served (unknown channel, bad date, no ledger)."""
