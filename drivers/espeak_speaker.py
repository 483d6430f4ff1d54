"""A speaker driven by espeak-ng: to the sound device, or one WAV file per utterance.

URLs (scheme ``espeak``, registered by :mod:`drivers.espeak_scheme`)::

    espeak://cmn-latn-pinyin            Mandarin to the sound device
    espeak://en?rate=150                English, 150 words per minute
    espeak://cmn-latn-pinyin?wav=out/   one WAV file per utterance in out/
    espeak://?wav=out/                  the voice follows each utterance's language

The target is the espeak-ng voice for utterances in that voice's language;
an utterance in another language gets that language's default voice
(``zh`` -> ``cmn-latn-pinyin``, ``en`` -> ``en``). Mandarin always uses
``cmn-latn-pinyin``: ``-v cmn`` mispronounces common characters, so the
targets ``cmn`` and ``zh`` are read as ``cmn-latn-pinyin``.

espeak-ng runs as a subprocess (an argv list, no shell, the text on stdin).
A subprocess that hangs is killed after ``?timeout=`` *real* seconds (default
:data:`DEFAULT_TIMEOUT`); the simulation clock plays no part in it.

Without ``wav``, the speaker needs a sound device: ALSA playback devices in
``/dev/snd`` or a PulseAudio/PipeWire server. espeak-ng exits 0 even when it
cannot open one, so the driver checks before opening and refuses with the
advice to pass ``?wav=DIR``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping
from pathlib import Path

from drivers.errors import DeviceTimeout, DeviceUnavailable, DeviceURLError, DriverError
from drivers.params import UrlParam, check_params
from drivers.speaker import Speaker
from drivers.url import DeviceURL

ESPEAK = "espeak-ng"
INSTALL_ADVICE = "install it with `apt-get install espeak-ng`"
DEFAULT_TIMEOUT = 30.0  # real seconds for one utterance
DEFAULT_VOICES: Mapping[str, str] = {"zh": "cmn-latn-pinyin", "en": "en"}
# espeak-ng words per minute: its own limits.
MIN_RATE, MAX_RATE = 80, 450
# ``-v cmn`` reads common characters wrongly (see DESIGN.md section 5).
_VOICE_ALIASES: Mapping[str, str] = {"cmn": "cmn-latn-pinyin", "zh": "cmn-latn-pinyin"}
_VOICE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_+-]*$")
_WAV_NAME_RE = re.compile(r"^utterance-(\d+)-")

WAV: UrlParam[str | None] = UrlParam(
    "wav",
    str,
    None,
    needs="a folder",
    example="out/",
    help="write one WAV file per utterance into this folder (created if missing; numbering "
    "carries on after the files there) instead of playing them",
)
RATE: UrlParam[int | None] = UrlParam(
    "rate",
    int,
    None,
    minimum=MIN_RATE,
    maximum=MAX_RATE,
    unit="words per minute",
    default_doc="espeak-ng's",
    help="the speed (espeak-ng's `-s`)",
)
TIMEOUT = UrlParam(
    "timeout",
    float,
    DEFAULT_TIMEOUT,
    unit="seconds",
    positive=True,
    help="how long one utterance may take, in real time (a hung espeak-ng is killed and "
    "reported as `DeviceTimeout`)",
)
URL_PARAMS = (WAV, RATE, TIMEOUT)


class EspeakError(DriverError):
    """espeak-ng failed to speak an utterance."""


def voice_language(voice: str) -> str:
    """The possim language of an espeak-ng voice: ``cmn-latn-pinyin`` -> ``zh``."""
    head = voice.split("-", 1)[0].split("+", 1)[0].lower()
    return "zh" if head in ("cmn", "zh", "yue") else head


def find_espeak(program: str = ESPEAK) -> str:
    """The path of espeak-ng, or DeviceUnavailable saying how to install it."""
    found = shutil.which(program)
    if found is None:
        raise DeviceUnavailable(f"{program} is not installed (not found on PATH): {INSTALL_ADVICE}")
    return found


def sound_device_present(
    dev_snd: Path = Path("/dev/snd"), environ: Mapping[str, str] | None = None
) -> bool:
    """True when there is somewhere to play sound: an ALSA playback device
    (``/dev/snd/pcmC*D*p``) or a PulseAudio / PipeWire server."""
    env = os.environ if environ is None else environ
    if env.get("PULSE_SERVER"):
        return True
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and any((Path(runtime) / name).exists() for name in ("pulse/native", "pipewire-0")):
        return True
    try:
        return any(p.name.startswith("pcm") and p.name.endswith("p") for p in dev_snd.iterdir())
    except OSError:
        return False


class EspeakSpeaker(Speaker):
    """Speaks through ``espeak-ng``; with ``wav_dir``, writes WAV files instead.

    ``wav_dir`` receives ``utterance-NNNN-LANG.wav`` per utterance, numbered on
    from the files already there (nothing is overwritten); :attr:`wav_files`
    lists those this speaker wrote.
    """

    def __init__(
        self,
        voice: str = "",
        *,
        wav_dir: Path | None = None,
        rate: int | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        program: str = ESPEAK,
        sound_device: bool | None = None,
    ) -> None:
        voice = _VOICE_ALIASES.get(voice.lower(), voice)
        if voice and not _VOICE_RE.match(voice):
            raise DeviceURLError(
                f"{voice!r} is not an espeak-ng voice name (see espeak-ng --voices)"
            )
        if rate is not None and not MIN_RATE <= rate <= MAX_RATE:
            raise DeviceURLError(
                f"rate={rate}: espeak-ng speaks {MIN_RATE} to {MAX_RATE} words per minute"
            )
        if timeout <= 0:
            raise DeviceURLError(f"timeout={timeout}: expected a positive number of seconds")
        self.voice = voice
        self.rate = rate
        self.timeout = timeout
        self.wav_dir = wav_dir
        self.program = find_espeak(program)
        self.wav_files: list[Path] = []
        self._lock = threading.Lock()
        if wav_dir is None:
            present = sound_device_present() if sound_device is None else sound_device
            if not present:
                raise DeviceUnavailable(
                    "espeak: no sound device here (no ALSA playback device in /dev/snd and no "
                    "PulseAudio/PipeWire server); write WAV files instead with "
                    "?wav=DIR, e.g. espeak://cmn-latn-pinyin?wav=out/"
                )
            self._next = 1
        else:
            try:
                wav_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DeviceUnavailable(
                    f"espeak: cannot create the WAV folder {wav_dir}: {exc.strerror or exc}"
                ) from None
            self._next = _next_index(wav_dir)

    @classmethod
    def from_url(cls, url: DeviceURL) -> EspeakSpeaker:
        check_params(url, URL_PARAMS)
        wav = WAV.value(url)
        return cls(
            url.target.strip("/"),
            wav_dir=None if wav is None else Path(wav),
            rate=RATE.value(url),
            timeout=TIMEOUT.value(url),
        )

    def voice_for(self, language: str) -> str:
        """The voice that speaks ``language``: the URL's voice when it speaks that
        language, otherwise the language's default voice."""
        if self.voice and voice_language(self.voice) == language:
            return self.voice
        return DEFAULT_VOICES.get(language, language)

    def argv(self, language: str, wav: Path | None = None) -> list[str]:
        """The espeak-ng command line for one utterance (the text goes on stdin)."""
        argv = [self.program, "-b", "1", "-v", self.voice_for(language)]
        if self.rate is not None:
            argv += ["-s", str(self.rate)]
        if wav is not None:
            argv += ["-w", str(wav)]
        return argv

    def say(self, text: str, *, language: str = "zh") -> None:
        self.render(text, language=language)

    def render(self, text: str, *, language: str = "zh") -> Path | None:
        """Speak ``text``; returns the WAV file written, or None when played."""
        with self._lock:
            wav = None
            if self.wav_dir is not None:
                wav = self.wav_dir / f"utterance-{self._next:04d}-{_safe(language)}.wav"
                self._next += 1
            self._run(self.argv(language, wav), text)
            if wav is not None:
                if not wav.is_file() or wav.stat().st_size <= 44:
                    raise EspeakError(f"espeak-ng wrote no audio to {wav} for {text!r}")
                self.wav_files.append(wav)
            return wav

    def _run(self, argv: list[str], text: str) -> None:
        try:
            done = subprocess.run(
                argv,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except FileNotFoundError:
            raise DeviceUnavailable(f"{argv[0]} disappeared: {INSTALL_ADVICE}") from None
        except subprocess.TimeoutExpired:
            raise DeviceTimeout(
                f"espeak-ng did not finish {text!r} within {self.timeout:g} s (real time); "
                "raise ?timeout=SECONDS or check the sound device"
            ) from None
        stderr = done.stderr.decode("utf-8", "replace").strip()
        if done.returncode != 0:
            raise EspeakError(
                f"espeak-ng exited with status {done.returncode}: {_last_line(stderr)}"
            )
        if "-w" not in argv and _audio_failed(stderr):
            raise DeviceUnavailable(
                f"espeak: the sound device failed ({_last_line(stderr)}); "
                "write WAV files instead with ?wav=DIR"
            )


def _next_index(folder: Path) -> int:
    numbers = [
        int(match.group(1))
        for match in (_WAV_NAME_RE.match(p.name) for p in folder.glob("utterance-*.wav"))
        if match
    ]
    return max(numbers, default=0) + 1


def _safe(language: str) -> str:
    return re.sub(r"[^A-Za-z0-9-]", "_", language) or "xx"


def _audio_failed(stderr: str) -> bool:
    # espeak-ng exits 0 when it cannot open the sound device; it says so on stderr.
    return any(
        line.startswith(("error:", "ALSA lib")) or "Connection refused" in line
        for line in stderr.splitlines()
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no message"
