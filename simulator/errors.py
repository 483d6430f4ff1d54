"""The simulator package's exception hierarchy.

Every error a user can meet names what was wrong and, where there is one, the
file and line to fix.
"""

from __future__ import annotations

from pathlib import Path


class SimulatorError(Exception):
    """Base class for every error raised by the simulator package."""


class ClockStalled(SimulatorError):
    """No simulated thread made progress for too long: a deadlock or a lost notify."""


class FixtureError(SimulatorError):
    """A data file (card image, profile, spec, config) is missing or malformed."""

    def __init__(self, path: Path | str, problem: str, line: int | None = None) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line is not None else str(self.path)
        super().__init__(f"{where}: {problem}")


class ScenarioError(FixtureError):
    """A scenario file is malformed: carries file, line and what was expected."""


class ConfigError(FixtureError):
    """A terminal configuration file is malformed."""


class WireFormatError(SimulatorError):
    """Bytes on a wire do not parse as the protocol they claim to be."""


class Iso8583Error(WireFormatError):
    """An ISO 8583 frame or message is malformed."""


class EmvDataError(WireFormatError):
    """TLV / DOL data from a card or a host is malformed."""


class EscposError(WireFormatError):
    """An ESC/POS byte stream holds a malformed or truncated command."""


class TerminalError(SimulatorError):
    """The terminal model was asked to do something its state does not allow."""


class GatewayError(SimulatorError):
    """The gateway simulator cannot start or serve."""
