"""The virtual speaker: records text and language; with sim://?wav=DIR it also
renders WAVs through espeak-ng, and a scenario run keeps them as artifacts."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from drivers.clock import RealClock
from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.registry import DeviceContext, open_device
from drivers.speaker import Speaker
from simulator.devices.speaker import Utterance, VirtualSpeaker
from simulator.devices.world import SimulatedWorld
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


def test_records_text_and_language_without_audio() -> None:
    speaker = VirtualSpeaker()
    speaker.say("微信收款一元", language="zh")
    speaker.say("WeChat Pay received one yuan", language="en")
    assert speaker.utterances == [
        Utterance("微信收款一元", "zh"),
        Utterance("WeChat Pay received one yuan", "en"),
    ]
    assert speaker.wav_files == []


def test_wav_without_espeak_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DeviceUnavailable, match="apt-get install espeak-ng"):
        VirtualSpeaker(wav_dir=tmp_path / "wav")


def test_empty_wav_parameter_is_refused(tmp_path: Path) -> None:
    world = SimulatedWorld(clock=RealClock())
    with pytest.raises(DeviceURLError, match="needs a folder"):
        open_device(Speaker, "sim://?wav=", DeviceContext(simulation=world))


@pytest.mark.system_package("espeak-ng")
def test_renders_each_utterance_when_asked(tmp_path: Path) -> None:
    speaker = VirtualSpeaker(wav_dir=tmp_path)
    speaker.say("支付宝到账一元", language="zh")
    (utterance,) = speaker.utterances
    assert utterance.text == "支付宝到账一元" and utterance.wav is not None
    with wave.open(str(utterance.wav), "rb") as audio:
        assert audio.getnframes() > audio.getframerate() // 2


@pytest.mark.system_package("espeak-ng")
def test_a_scenario_run_leaves_wavs_as_artifacts(tmp_path: Path) -> None:
    config = tmp_path / "wav_terminal.toml"
    config.write_text(f'[devices]\nspeaker = "sim://?wav={tmp_path / "wav"}"\n', encoding="utf-8")
    scenario_file = tmp_path / "card_purchase.yaml"
    text = (SCENARIOS / "card_purchase.yaml").read_text(encoding="utf-8")
    scenario_file.write_text(
        text.replace("seed: 1\n", f"seed: 1\nterminal: {config}\n"), encoding="utf-8"
    )
    result = run_scenario(load_scenario(scenario_file), tmp_path / "runs")
    assert result.passed, result.failure_text
    artifacts = result.artifacts
    assert (artifacts / "speech.txt").read_text(encoding="utf-8") == "收款成功，十二点三四元\n"
    wav = artifacts / "speech-01.wav"
    assert wav.read_bytes()[:4] == b"RIFF"
    assert not (artifacts / "speech-02.wav").exists()


def test_without_wav_a_scenario_run_leaves_no_audio(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(SCENARIOS / "card_purchase.yaml"), tmp_path)
    assert result.passed, result.failure_text
    assert (result.artifacts / "speech.txt").is_file()
    assert list(result.artifacts.glob("*.wav")) == []
