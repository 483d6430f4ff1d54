"""The simulator package's exception hierarchy.

Every error a user can meet names what was wrong and, where there is one, the
file and line to fix.
"""

from __future__ import annotations

from firmware_fixtures.yaml_lines import FixtureFileError


class SimulatorError(Exception):
    """Base class for every error raised by the simulator package."""


class ClockStalled(SimulatorError):
    """No simulated thread made progress for too long: a deadlock or a lost notify."""


class FixtureError(SimulatorError, FixtureFileError):
    """A data file (card image, profile, spec, config) is missing or malformed.

    ``FixtureError(path, problem, line=None)``; the message reads
    ``path:line: problem`` (see :class:`firmware_fixtures.yaml_lines.FixtureFileError`).
    """


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
