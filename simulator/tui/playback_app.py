"""``possim tui --play SCENARIO``: a scenario run visibly, step by step.

The runner (:func:`~simulator.scenario.runner.run_scenario`, the one ``possim
run`` uses) runs on a thread worker with a :class:`~simulator.tui.playback.Playback`
as its observer; this app shows the steps with pass/fail marks, the terminal's
screen, the paper and the event log, and drives the playback's pace.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Footer, Static

from simulator.devices.printer.paper import RenderedReceipt
from simulator.events import Event
from simulator.scenario.model import Scenario
from simulator.scenario.runner import ScenarioResult, ScenarioRun, run_scenario
from simulator.terminal.display import ScreenShown
from simulator.tui.base import PossimBaseApp
from simulator.tui.messages import BusChanged, PlaybackChanged, PlaybackFinished, ReceiptPrinted
from simulator.tui.playback import DEFAULT_DELAY, Playback
from simulator.tui.widgets.event_log import EventLog
from simulator.tui.widgets.printer import PaperRoll
from simulator.tui.widgets.terminal_screen import TerminalScreen

_STYLE = {"passed": "green", "failed": "bold red", "running": "bold yellow", "pending": "dim"}


class PlaybackApp(PossimBaseApp):
    CSS_PATH = "app.tcss"
    TITLE = "possim play"
    AUTO_FOCUS = None
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "pause/resume", id="play.pause"),
        Binding("n,right", "step", "step", id="play.step"),
        Binding("plus,equals_sign", "faster", "faster", id="play.faster"),
        Binding("minus", "slower", "slower", id="play.slower"),
        Binding("q", "quit", "quit", id="app.quit"),
    ]

    def __init__(
        self,
        scenario: Scenario,
        out_dir: Path,
        *,
        delay: float = DEFAULT_DELAY,
        paused: bool = False,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.scenario = scenario
        self.out_dir = out_dir
        self.seed = seed
        self.playback = Playback(scenario.steps, delay=delay, paused=paused)
        self.result: ScenarioResult | None = None
        self._run: ScenarioRun | None = None
        self._seen = 0
        self._lock = threading.Lock()
        self._bus_posted = False

    def compose(self) -> ComposeResult:
        with Vertical(id="pos"):
            yield TerminalScreen(id="screen")
            yield PaperRoll(id="printer")
        with Vertical(id="play"):
            yield Static(id="play-status")
            yield Static(id="steps")
            yield EventLog(id="event-log")
        yield Footer()

    def on_mount(self) -> None:
        self.playback.on_change.append(self._on_playback)
        self.playback.on_started.append(self._started)
        self.run_worker(self._play, thread=True, name="playback", exit_on_error=True)
        self._show_steps()

    def on_unmount(self) -> None:
        self.playback.abort()

    # -- the runner's thread ----------------------------------------------------------

    def _play(self) -> None:
        result = run_scenario(self.scenario, self.out_dir, seed=self.seed, observer=self.playback)
        self.result = result
        self.post_message(PlaybackFinished())

    def _started(self, run: ScenarioRun) -> None:
        """The simulation exists: watch its bus and its printer (runner thread)."""
        self._run = run
        run.shop.bus.subscribe(self._on_event)
        printer = run.view.virtual_printer
        if printer is not None:
            printer.on_receipt.append(self._on_receipt)
        self.post_message(BusChanged())

    def _on_playback(self) -> None:
        self.post_message(PlaybackChanged())

    def _on_event(self, _: Event) -> None:
        # One message per burst: the handler reads everything new from the bus.
        with self._lock:
            if self._bus_posted:
                return
            self._bus_posted = True
        self.post_message(BusChanged())

    def _on_receipt(self, receipt: RenderedReceipt) -> None:
        printer = self._run.view.virtual_printer if self._run is not None else None
        profile = printer.profile if printer is not None else None
        self.post_message(ReceiptPrinted(receipt.text, receipt, profile))

    # -- model -> widgets ------------------------------------------------------------------

    def on_bus_changed(self, _: BusChanged) -> None:
        with self._lock:
            self._bus_posted = False
        if self._run is None:
            return
        events = self._run.view.events(self._seen)
        if not events:
            return
        self._seen = events[-1].seq
        log = self.query_one(EventLog)
        screen = self.query_one(TerminalScreen)
        for event in events:
            log.add(event)
            payload = event.payload
            if isinstance(payload, ScreenShown):
                screen.screen_id = payload.screen.value
                screen.title, screen.lines = payload.title, payload.lines

    def on_receipt_printed(self, message: ReceiptPrinted) -> None:
        self.query_one(PaperRoll).add_receipt(message.text, message.receipt, message.profile)

    def on_playback_changed(self, _: PlaybackChanged) -> None:
        self._show_steps()

    def on_playback_finished(self, _: PlaybackFinished) -> None:
        self.on_bus_changed(BusChanged())
        self._show_steps()

    @property
    def step_lines(self) -> list[str]:
        """Each step as shown: its mark (✓ ✗ ▶ or blank), line and description."""
        return [f"{s.mark} {s.line:>3} {s.text}" for s in self.playback.steps]

    def _show_steps(self) -> None:
        text = Text()
        for state, line in zip(self.playback.steps, self.step_lines, strict=True):
            text.append(line + "\n", style=_STYLE[state.status])
            if state.failure:
                text.append(f"      {state.failure}\n", style="red")
        self.query_one("#steps", Static).update(text)
        # Text, not markup: "[paused]" and a scenario named "... [x]" are shown as they are.
        self.query_one("#play-status", Static).update(Text(self.status_line))

    @property
    def status_line(self) -> str:
        if self.result is not None:
            verdict = "PASS" if self.result.passed else "FAIL"
            return f"{verdict} · q quits · {self.scenario.name}"
        pace = "paused" if self.playback.paused else f"{self.playback.delay:g} s/step"
        return f"[{pace}] {self.scenario.name}"

    # -- actions -----------------------------------------------------------------------------

    def action_pause(self) -> None:
        self.playback.toggle_pause()

    def action_step(self) -> None:
        self.playback.step()

    def action_faster(self) -> None:
        self.playback.faster()

    def action_slower(self) -> None:
        self.playback.slower()
