"""The channel simulators' exception hierarchy: one-line messages a user can act on."""

from __future__ import annotations

from simulator.errors import SimulatorError


class ChannelError(SimulatorError):
    """A channel simulator cannot start, or was configured wrongly."""


class TestKeyError(ChannelError):
    """A test key file is unreadable or is not the key it should be."""

    __test__ = False  # not a pytest test class


class ChannelServerError(ChannelError):
    """A channel simulator's HTTP server cannot start (or is not running)."""
