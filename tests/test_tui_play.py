"""``possim tui --play``: a library scenario played step by step, headless.

The playback must report exactly what ``run_scenario`` reports for the same
scenario (passed, and the failure text with its transcript), mark each step
passed or failed on screen, and pause without the clock's stall detector
taking the pause for a hang.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable
from pathlib import Path

from textual.pilot import Pilot

from simulator.clock import VirtualClock
from simulator.errors import ClockStalled
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario
from simulator.tui.playback import Playback
from simulator.tui.playback_app import PlaybackApp

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
LOOKS = 1000


async def until(pilot: Pilot[None], ready: Callable[[], bool], what: str) -> None:
    for _ in range(LOOKS):
        await pilot.pause()
        if ready():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def failing_copy(tmp_path: Path) -> Path:
    """The library's card purchase expecting an announcement the terminal never makes."""
    text = (LIBRARY / "card_purchase.yaml").read_text(encoding="utf-8")
    wrong, count = re.subn(r"(?m)^(\s*- expect_speech:).*$", r'\1 "not what was said"', text)
    assert count == 1
    path = tmp_path / "card_purchase_wrong_speech.yaml"
    path.write_text(wrong, encoding="utf-8")
    return path


def test_a_passing_scenario_step_by_step_then_running(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "card_purchase.yaml")
    headless = run_scenario(scenario, tmp_path / "headless")

    async def play() -> None:
        app = PlaybackApp(scenario, tmp_path / "played", delay=0.0, paused=True)
        async with app.run_test(size=(120, 40)) as pilot:
            steps = app.playback.steps
            await until(pilot, lambda: steps[0].status == "running", "the first step held")
            await pilot.pause()
            assert app.step_lines[0].startswith("▶") and "paused" in app.status_line
            await pilot.press("n")
            await until(pilot, lambda: steps[1].status == "running", "one step run")
            assert steps[0].status == "passed" and app.step_lines[0].startswith("✓")
            await pilot.press("n")
            await until(pilot, lambda: steps[2].status == "running", "another step run")
            await until(pilot, lambda: "请插卡" in app.query_one("#screen").text, "present card")
            await pilot.press("space")  # resume, as fast as it goes
            await until(pilot, lambda: app.result is not None, "the end of the scenario")
            await pilot.pause()
            assert all(line.startswith("✓") for line in app.step_lines)
            assert app.status_line.startswith("PASS")
            assert app.result is not None
            assert (app.result.passed, app.result.failure_text) == (True, "")

    asyncio.run(play())
    assert headless.passed


def test_a_failing_scenario_reports_what_possim_run_reports(tmp_path: Path) -> None:
    scenario = load_scenario(failing_copy(tmp_path))
    headless = run_scenario(scenario, tmp_path / "headless")
    assert not headless.passed

    async def play() -> None:
        app = PlaybackApp(scenario, tmp_path / "played", delay=0.0)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: app.result is not None, "the end of the scenario")
            await pilot.pause()
            assert app.result is not None
            assert not app.result.passed
            assert app.result.failure_text == headless.failure_text
            marks = [line[0] for line in app.step_lines]
            failed = [s.status for s in app.playback.steps].index("failed")
            assert headless.failure is not None and headless.failure.step is not None
            assert app.playback.steps[failed].line == headless.failure.step.line
            assert marks[:failed] == ["✓"] * failed and marks[failed] == "✗"
            assert set(marks[failed + 1 :]) <= {" "}
            assert app.status_line.startswith("FAIL")

    asyncio.run(play())


def test_a_long_pause_does_not_stall_the_clock(tmp_path: Path) -> None:
    """Paused for many times the stall timeout, then resumed: nobody raised ClockStalled."""
    clock = VirtualClock(stall_timeout=0.2)
    playback = Playback((), paused=True, heartbeat=0.05)
    errors: list[BaseException] = []
    released = threading.Event()

    def waiter() -> None:  # a simulation thread idle on the clock, as at a settled step
        try:
            clock.wait_until(released.is_set, 60.0)
        except ClockStalled as exc:
            errors.append(exc)

    def resume_later() -> None:
        while playback.heartbeats < 20:  # 20 heartbeats = 1 s, five stall timeouts
            with playback._cond:
                playback._cond.wait(0.05)
        playback.resume()

    class Run:  # the one attribute the playback reads
        pass

    Run.clock = clock  # type: ignore[attr-defined]
    thread = threading.Thread(target=waiter)
    resumer = threading.Thread(target=resume_later)
    with clock.actor():
        thread.start()
        resumer.start()
        playback._hold(Run)  # type: ignore[arg-type]
    released.set()
    clock.notify()
    thread.join(5)
    resumer.join(5)
    assert playback.heartbeats >= 20
    assert errors == []


def test_stopping_a_playback_ends_the_run_at_the_next_step(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "card_purchase.yaml")
    playback = Playback(scenario.steps, delay=0.0)

    def stop_after_the_first_step() -> None:
        if playback.steps[0].status == "passed":
            playback.abort()

    playback.on_change.append(stop_after_the_first_step)
    result = run_scenario(scenario, tmp_path, observer=playback)
    assert playback.stopped and not result.passed
    assert "PlaybackAborted" in result.failure_text
    assert [s.status for s in playback.steps[:2]] == ["passed", "running"]


def test_paused_and_a_bracketed_name_are_shown_as_they_are(tmp_path: Path) -> None:
    """The status line is text, not markup: "[paused]" and "[x]" survive (issue 21)."""
    from tui_capture import shown_lines

    text = (LIBRARY / "card_purchase.yaml").read_text(encoding="utf-8")
    named, count = re.subn(r"(?m)^name: .*$", "name: Card [bold]x[/bold] [v2]", text)
    assert count == 1
    path = tmp_path / "bracketed.yaml"
    path.write_text(named, encoding="utf-8")

    async def play() -> None:
        app = PlaybackApp(load_scenario(path), tmp_path / "played", delay=0.0, paused=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.playback.steps[0].status == "running", "held")
            await pilot.pause()
            shown = "\n".join(shown_lines(app))
            assert "[paused] Card [bold]x[/bold] [v2]" in shown, shown

    asyncio.run(play())
