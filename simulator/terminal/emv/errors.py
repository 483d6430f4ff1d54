"""The kernel's failures, part of possim's one hierarchy (:mod:`simulator.errors`).

Every malformed or unexpected card answer surfaces as one of these (or as a
driver error from the reader: ``NoCard``, ``CardRemoved``,
``CardProtocolError``); never as an ``IndexError``/``KeyError``/``ValueError``.
"""

from __future__ import annotations

from simulator.errors import SimulatorError


class EmvError(SimulatorError):
    """The card transaction cannot go on; the message says why, for people."""


class NoApplication(EmvError):
    """No application on the card is one the terminal supports (or accepts now)."""


class CardBlocked(EmvError):
    """The card, or every matching application on it, is blocked."""


class EmvProtocolError(EmvError):
    """The card answered something malformed or unexpected."""


class EmvSequenceError(EmvError):
    """A kernel method was called out of order (a bug in the caller)."""
