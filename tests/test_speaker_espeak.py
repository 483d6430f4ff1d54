"""The espeak-ng speaker driver: argv, WAV output, missing binary, no sound device."""

from __future__ import annotations

import os
import stat
import wave
from pathlib import Path

import pytest

from drivers.errors import DeviceTimeout, DeviceUnavailable, DeviceURLError
from drivers.espeak_speaker import EspeakSpeaker, sound_device_present, voice_language
from drivers.registry import open_device
from drivers.speaker import Speaker
from drivers.url import DeviceURL

needs_espeak = pytest.mark.system_package("espeak-ng")


def fake_espeak(folder: Path, script: str) -> str:
    """A stand-in ``espeak-ng`` (a shell script) for argv and failure tests."""
    program = folder / "espeak-ng"
    program.write_text("#!/bin/sh\n" + script, encoding="utf-8")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return str(program)


def assert_valid_wav(path: Path) -> None:
    assert path.read_bytes()[:4] == b"RIFF"
    assert path.read_bytes()[8:12] == b"WAVE"
    with wave.open(str(path), "rb") as audio:
        seconds = audio.getnframes() / audio.getframerate()
        assert audio.getnchannels() == 1
    # A spoken announcement lasts about a second or more; an empty file is 0.
    assert seconds > 0.5, seconds


@needs_espeak
@pytest.mark.parametrize(
    ("url", "text", "language"),
    [
        ("espeak://cmn-latn-pinyin", "收款成功，十二点三四元", "zh"),
        ("espeak://en", "Payment received, twelve point three four yuan", "en"),
    ],
)
def test_writes_one_valid_wav_per_utterance(
    tmp_path: Path, url: str, text: str, language: str
) -> None:
    speaker = open_device(Speaker, f"{url}?wav={tmp_path / 'out'}")
    assert isinstance(speaker, EspeakSpeaker)
    speaker.say(text, language=language)
    speaker.say(text, language=language)
    assert [p.name for p in speaker.wav_files] == [
        f"utterance-0001-{language}.wav",
        f"utterance-0002-{language}.wav",
    ]
    for path in speaker.wav_files:
        assert_valid_wav(path)


@needs_espeak
def test_numbering_continues_after_existing_files(tmp_path: Path) -> None:
    (tmp_path / "utterance-0007-zh.wav").write_bytes(b"old")
    speaker = EspeakSpeaker("en", wav_dir=tmp_path)
    assert speaker.render("one yuan", language="en") == tmp_path / "utterance-0008-en.wav"
    assert (tmp_path / "utterance-0007-zh.wav").read_bytes() == b"old"


@needs_espeak
def test_rate_changes_the_length_of_the_audio(tmp_path: Path) -> None:
    slow = EspeakSpeaker("en", wav_dir=tmp_path / "slow", rate=100)
    fast = EspeakSpeaker("en", wav_dir=tmp_path / "fast", rate=300)
    text = "Payment received, twelve point three four yuan"
    frames = []
    for speaker in (slow, fast):
        path = speaker.render(text, language="en")
        assert path is not None
        with wave.open(str(path), "rb") as audio:
            frames.append(audio.getnframes())
    assert frames[0] > 1.5 * frames[1]


def test_chinese_uses_the_pinyin_voice_and_stdin(tmp_path: Path) -> None:
    log = tmp_path / "argv.txt"
    stdin = tmp_path / "stdin.txt"
    program = fake_espeak(
        tmp_path, f'echo "$@" > {log}\ncat > {stdin}\nprintf RIFFxxxxWAVE%060d 0 > "$6"\n'
    )
    for voice in ("", "cmn", "zh", "cmn-latn-pinyin", "en"):
        speaker = EspeakSpeaker(voice, wav_dir=tmp_path / "out", program=program)
        speaker.say("微信收款十二点三四元", language="zh")
        argv = log.read_text(encoding="utf-8").split()
        assert argv[argv.index("-v") + 1] == "cmn-latn-pinyin", (voice, argv)
        assert stdin.read_text(encoding="utf-8") == "微信收款十二点三四元"
        assert "微信收款十二点三四元" not in argv  # the text is not an argument


def test_voice_follows_the_language() -> None:
    speaker = EspeakSpeaker("en-us", wav_dir=None, sound_device=True, program="sh")
    assert speaker.voice_for("en") == "en-us"
    assert speaker.voice_for("zh") == "cmn-latn-pinyin"
    assert speaker.argv("en", Path("x.wav"))[1:] == ["-b", "1", "-v", "en-us", "-w", "x.wav"]
    assert voice_language("cmn-latn-pinyin") == "zh"
    assert voice_language("en-gb-scotland") == "en"


def test_missing_binary_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no espeak-ng
    with pytest.raises(DeviceUnavailable, match=r"apt-get install espeak-ng"):
        open_device(Speaker, f"espeak://en?wav={tmp_path}")


def test_no_sound_device_advises_wav(tmp_path: Path) -> None:
    program = fake_espeak(tmp_path, "exit 0\n")
    with pytest.raises(DeviceUnavailable, match=r"no sound device.*\?wav=DIR"):
        EspeakSpeaker("en", program=program, sound_device=False)


def test_sound_device_failure_at_play_time_advises_wav(tmp_path: Path) -> None:
    # espeak-ng exits 0 when ALSA has no card; only stderr tells.
    program = fake_espeak(
        tmp_path,
        'cat > /dev/null\necho "ALSA lib pcm.c: Unknown PCM default" >&2\n'
        "echo 'error: No such file or directory' >&2\nexit 0\n",
    )
    speaker = EspeakSpeaker("en", program=program, sound_device=True)
    with pytest.raises(DeviceUnavailable, match=r"sound device failed.*\?wav=DIR"):
        speaker.say("one yuan", language="en")


def test_sound_device_detection(tmp_path: Path) -> None:
    snd = tmp_path / "snd"
    assert not sound_device_present(snd, environ={})
    snd.mkdir()
    (snd / "controlC0").touch()
    (snd / "pcmC0D0c").touch()  # a capture device does not play
    assert not sound_device_present(snd, environ={})
    (snd / "pcmC0D0p").touch()
    assert sound_device_present(snd, environ={})
    assert sound_device_present(tmp_path / "none", environ={"PULSE_SERVER": "unix:/x"})


def test_a_hanging_espeak_times_out(tmp_path: Path) -> None:
    program = fake_espeak(tmp_path, "exec sleep 30\n")
    speaker = EspeakSpeaker("en", wav_dir=tmp_path, program=program, timeout=0.2)
    with pytest.raises(DeviceTimeout, match=r"within 0.2 s \(real time\).*\?timeout="):
        speaker.say("one yuan", language="en")


def test_a_failing_espeak_is_reported(tmp_path: Path) -> None:
    program = fake_espeak(tmp_path, "cat > /dev/null\necho 'unknown voice' >&2\nexit 1\n")
    speaker = EspeakSpeaker("en", wav_dir=tmp_path, program=program)
    with pytest.raises(Exception, match=r"status 1: unknown voice"):
        speaker.say("one yuan", language="en")


def test_a_run_without_audio_is_an_error(tmp_path: Path) -> None:
    program = fake_espeak(tmp_path, "cat > /dev/null\nexit 0\n")
    speaker = EspeakSpeaker("en", wav_dir=tmp_path / "out", program=program)
    with pytest.raises(Exception, match=r"wrote no audio"):
        speaker.say("one yuan", language="en")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("espeak://en?rate=5000", "80 to 450 words per minute"),
        ("espeak://en?rate=fast", "not an integer"),
        ("espeak://en?timeout=-1", "positive number of seconds"),
        ("espeak://en?timeout=soon", "not a number"),
        ("espeak://en?wav=", "needs a folder"),
        ("espeak://en?wave=out", "unknown parameter 'wave'"),
        ("espeak://en;rm?wav=out", "not an espeak-ng voice name"),
    ],
)
def test_bad_urls_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, problem: str
) -> None:
    monkeypatch.chdir(tmp_path)
    fake_espeak(tmp_path, "exit 0\n")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}")
    with pytest.raises(DeviceURLError, match=problem):
        EspeakSpeaker.from_url(DeviceURL.parse(url))


@needs_espeak
def test_possim_run_with_espeak_writes_a_wav_per_announcement(tmp_path: Path) -> None:
    from simulator import cli

    wav_dir = tmp_path / "wav"
    out = tmp_path / "runs"
    scenario = Path(__file__).resolve().parent.parent / "scenarios" / "qr_wechat.yaml"
    argv = ["run", str(scenario), "--out", str(out)]
    argv += ["--speaker", "espeak://cmn-latn-pinyin", "--wav-dir", str(wav_dir)]
    assert cli.main(argv) == 0
    (folder,) = [path for path in out.iterdir() if path.is_dir()]
    said = (folder / "speech.txt").read_text(encoding="utf-8").splitlines()
    wavs = sorted(wav_dir.glob("*.wav"))
    assert said and len(wavs) == len(said)
    for wav in wavs:
        with wave.open(str(wav)) as audio:
            assert audio.getnframes() > 0
