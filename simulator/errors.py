"""The simulator package's exception hierarchy.

Every error a user can meet names what was wrong and, where there is one, the
file and line to fix.
"""

from __future__ import annotations

from typing import Any

from drivers.fixtures import FixtureFileError


class SimulatorError(Exception):
    """Base class for every error raised by the simulator package."""


class ClockStalled(SimulatorError):
    """No simulated thread made progress for too long: a deadlock or a lost notify."""


class FixtureError(SimulatorError, FixtureFileError):
    """A data file (card image, profile, spec, config) is missing or malformed.

    ``FixtureError(path, problem, line=None)``; the message reads
    ``path:line: problem`` (see :class:`drivers.fixtures.FixtureFileError`).
    """


class ScenarioError(FixtureError):
    """A scenario file is malformed: carries file, line and what was expected."""


class ConfigError(FixtureError):
    """A terminal configuration file is malformed."""


class WireFormatError(SimulatorError):
    """Bytes on a wire do not parse as the protocol they claim to be."""


class Iso8583Error(WireFormatError):
    """An ISO 8583 frame or message is malformed.

    ``field`` names the data element at fault where there is one, as pyiso8583's
    ``EncodeError``/``DecodeError`` do (``"t"`` the MTI, ``"p"`` the bitmap,
    ``"4"`` the amount ...); ``None`` for framing errors.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __reduce__(self) -> tuple[Any, ...]:
        # Survives pickling (a fleet worker reports it to its parent).
        return (type(self), (str(self), self.field))


class EscposError(WireFormatError):
    """An ESC/POS byte stream holds a malformed or truncated command."""


class TerminalError(SimulatorError):
    """The terminal model was asked to do something its state does not allow."""


class GatewayError(SimulatorError):
    """The gateway simulator cannot start or serve."""
