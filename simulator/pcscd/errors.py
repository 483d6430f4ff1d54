"""The private pcscd's one error: it cannot be started or used, and the message says why."""

from __future__ import annotations

from simulator.errors import SimulatorError


class PcscdError(SimulatorError):
    """The private pcscd cannot be started or used; the message says why."""
