"""Speakers that announce payments."""

from __future__ import annotations

import abc
from typing import ClassVar


class Speaker(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "speaker"

    @abc.abstractmethod
    def say(self, text: str, *, language: str = "zh") -> None:
        """Speak ``text`` (already spelled out: amounts as words, no digits)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
