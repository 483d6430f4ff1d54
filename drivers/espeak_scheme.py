"""The ``espeak://VOICE[?wav=DIR&rate=N&timeout=S]`` scheme: speakers on espeak-ng.

The driver module is imported only when an ``espeak://`` URL is opened.
"""

from __future__ import annotations

from drivers.registry import DeviceContext, DeviceKind, DeviceRegistry, DeviceURL
from drivers.speaker import Speaker


def register(registry: DeviceRegistry) -> None:
    registry.register(DeviceKind.SPEAKER, "espeak", open_speaker)


def open_speaker(url: DeviceURL, context: DeviceContext) -> Speaker:
    from drivers.espeak_speaker import EspeakSpeaker

    return EspeakSpeaker.from_url(url)
