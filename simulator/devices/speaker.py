"""A virtual speaker: records every utterance instead of playing it."""

from __future__ import annotations

import threading

import attrs

from drivers.speaker import Speaker


@attrs.frozen
class Utterance:
    text: str
    language: str


class VirtualSpeaker(Speaker):
    def __init__(self, *, language: str = "zh") -> None:
        self.default_language = language
        self._lock = threading.Lock()
        self._utterances: list[Utterance] = []

    def say(self, text: str, *, language: str = "zh") -> None:
        with self._lock:
            self._utterances.append(Utterance(text=text, language=language))

    @property
    def utterances(self) -> list[Utterance]:
        with self._lock:
            return list(self._utterances)
