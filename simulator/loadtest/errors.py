"""The load test's one error: it cannot run as asked, and the message says what to change."""

from __future__ import annotations

from simulator.errors import SimulatorError


class LoadTestError(SimulatorError):
    """Bad load-test options (host URL, terminal-id range, mix) or an unreadable record."""
