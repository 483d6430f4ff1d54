"""A virtual speaker: records every utterance instead of playing it.

With a ``wav_dir`` (``sim://?wav=DIR``) it also renders each utterance to a
WAV file through espeak-ng (:class:`drivers.espeak_speaker.EspeakSpeaker`), so
a scenario run leaves the audio as artifacts; without one it needs nothing
installed.
"""

from __future__ import annotations

import threading
from pathlib import Path

import attrs

from drivers.espeak_speaker import EspeakSpeaker
from drivers.speaker import Speaker


@attrs.frozen
class Utterance:
    text: str
    language: str
    wav: Path | None = None  # the rendered audio, when the speaker renders


class VirtualSpeaker(Speaker):
    def __init__(
        self, *, language: str = "zh", wav_dir: str | Path | None = None, voice: str = ""
    ) -> None:
        self.default_language = language
        self._lock = threading.Lock()
        self._utterances: list[Utterance] = []
        # Raises DeviceUnavailable (install espeak-ng) when WAVs are asked for
        # and cannot be made: better at open than after the first sale.
        self._renderer = None if wav_dir is None else EspeakSpeaker(voice, wav_dir=Path(wav_dir))

    def say(self, text: str, *, language: str = "zh") -> None:
        wav = None if self._renderer is None else self._renderer.render(text, language=language)
        with self._lock:
            self._utterances.append(Utterance(text=text, language=language, wav=wav))

    @property
    def utterances(self) -> list[Utterance]:
        with self._lock:
            return list(self._utterances)

    @property
    def wav_files(self) -> list[Path]:
        return [u.wav for u in self.utterances if u.wav is not None]
