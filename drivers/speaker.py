"""Speakers that announce payments."""

from __future__ import annotations

import abc


class Speaker(abc.ABC):
    @abc.abstractmethod
    def say(self, text: str, *, language: str = "zh") -> None:
        """Speak ``text`` (already spelled out: amounts as words, no digits)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
