"""Magnetic stripe readers: the swipe slot of a smart POS (track 2 only).

A swipe is an event, not a session: the driver queues what the head read and
the terminal takes it when it is ready (:meth:`MagstripeReader.take_swipe`,
non-blocking), so one wait can watch the chip slot and the swipe slot at once.
"""

from __future__ import annotations

import abc
from typing import ClassVar


class MagstripeReader(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "magstripe_reader"
    name: str = "magstripe reader"

    @abc.abstractmethod
    def take_swipe(self) -> str | None:
        """The oldest swipe not yet taken, as track 2 text (ISO 7813, ``=``
        separator, no sentinels or LRC), or ``None`` when nobody swiped.

        A swipe the head could not decode is returned as an empty string, so
        the terminal can ask for another swipe instead of waiting in silence.
        Track 2 is card data: never log it unmasked.
        """

    @abc.abstractmethod
    def swipe_waiting(self) -> bool:
        """True when :meth:`take_swipe` has something to return. No side effects:
        it runs inside clock predicates, possibly on another thread."""

    def discard_swipes(self) -> None:  # noqa: B027 - optional hook
        """Forget swipes not taken yet (a new transaction starts clean)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the reader."""
