"""The fleet's one error: it cannot run as asked, and the message says what to change."""

from __future__ import annotations

from simulator.errors import SimulatorError


class FleetError(SimulatorError):
    """The fleet cannot run as asked (bad options, a gateway process that will not start)."""
