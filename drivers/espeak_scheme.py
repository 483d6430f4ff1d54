"""The ``espeak://VOICE[?wav=DIR&rate=N&timeout=S]`` scheme: speakers on espeak-ng."""

from __future__ import annotations

from drivers.espeak_speaker import URL_PARAMS, EspeakSpeaker
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.speaker import Speaker
from drivers.url import DeviceURL


def register(registry: DeviceRegistry) -> None:
    registry.register(
        Speaker,
        "espeak",
        open_speaker,
        params=URL_PARAMS,
        usage="espeak://VOICE",
        help="real speech through espeak-ng (docs/speaker.md); VOICE speaks the utterances in "
        "its language, another language gets its default voice; no VOICE: each utterance's",
    )


def open_speaker(url: DeviceURL, context: DeviceContext) -> Speaker:
    return EspeakSpeaker.from_url(url)
