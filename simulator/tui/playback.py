"""Playing a scenario visibly: a :class:`~simulator.scenario.runner.StepObserver`
that paces, pauses and single-steps the runner, and records pass/fail per step.

Pure model code (no Textual): ``possim tui --play`` shows it, a test drives it.

The runner calls :meth:`Playback.before_step` on its own thread with the
simulation settled and itself an actor on the virtual clock, so while the
playback holds it there virtual time stands still (a paused scenario sees no
timeout fire). Every other simulation thread is then blocked on the clock, and
the clock's stall detector would take a long pause for a hang
(:class:`~simulator.errors.ClockStalled` after ``stall_timeout`` real seconds
without progress): so while it holds, the playback tells the clock it is alive
every :data:`HEARTBEAT` real seconds (``clock.notify()``, which changes nothing
in the simulation but its progress count).
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

from simulator.errors import SimulatorError
from simulator.scenario.model import ExpectationFailed, Step
from simulator.scenario.runner import ScenarioRun

# Real seconds a step waits before it runs, from fastest to slowest.
DELAYS = (0.0, 0.1, 0.25, 0.5, 1.0, 2.0)
DEFAULT_DELAY = 0.5
HEARTBEAT = 1.0  # real seconds between "still alive" nudges to the clock while holding


class PlaybackAborted(SimulatorError):
    """The person stopped the playback before the scenario ended."""


@attrs.define
class StepState:
    index: int
    line: int
    text: str
    status: str = "pending"  # pending, running, passed, failed
    failure: str = ""

    @property
    def mark(self) -> str:
        return {"pending": " ", "running": "▶", "passed": "✓", "failed": "✗"}[self.status]


Listener = Callable[[], None]


class Playback:
    """Paces a scenario run: ``pause``/``resume``, ``step`` one at a time, ``faster``/``slower``."""

    def __init__(
        self,
        steps: tuple[Step, ...],
        *,
        delay: float = DEFAULT_DELAY,
        paused: bool = False,
        heartbeat: float = HEARTBEAT,
    ) -> None:
        if delay < 0:
            raise ValueError("a step delay cannot be negative")
        self.steps = [StepState(i, s.line, s.describe()) for i, s in enumerate(steps)]
        self._cond = threading.Condition()
        self._delay = delay
        self._paused = paused
        self._step_once = False
        self._aborted = False
        self.stopped = False  # the run ended because of abort(), not on its own
        self._heartbeat = heartbeat
        self.heartbeats = 0
        self.run: ScenarioRun | None = None
        self.on_change: list[Listener] = []
        self.on_started: list[Callable[[ScenarioRun], None]] = []

    # -- controls (any thread) ---------------------------------------------------

    @property
    def delay(self) -> float:
        return self._delay

    @property
    def paused(self) -> bool:
        return self._paused

    def toggle_pause(self) -> None:
        with self._cond:
            self._paused = not self._paused
            self._cond.notify_all()
        self._changed()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()
        self._changed()

    def step(self) -> None:
        """Run the next step, then pause (pauses a running playback first)."""
        with self._cond:
            self._paused = True
            self._step_once = True
            self._cond.notify_all()
        self._changed()

    def faster(self) -> None:
        self._set_delay(max((d for d in DELAYS if d < self._delay), default=DELAYS[0]))

    def slower(self) -> None:
        self._set_delay(min((d for d in DELAYS if d > self._delay), default=DELAYS[-1]))

    def abort(self) -> None:
        """Stop at the next step (the run ends with :class:`PlaybackAborted`)."""
        with self._cond:
            self._aborted = True
            self._cond.notify_all()

    def _set_delay(self, delay: float) -> None:
        with self._cond:
            self._delay = delay
            self._cond.notify_all()
        self._changed()

    # -- StepObserver (the runner's thread) -----------------------------------------

    def before_step(self, run: ScenarioRun, step: Step) -> None:
        if self.run is None:
            self.run = run
            for listener in list(self.on_started):
                listener(run)
        state = self._state_of(step)
        state.status = "running"
        self._changed()
        self._hold(run)

    def after_step(self, run: ScenarioRun, step: Step, failure: ExpectationFailed | None) -> None:
        state = self._state_of(step)
        state.status = "passed" if failure is None else "failed"
        state.failure = "" if failure is None else failure.message
        self._changed()

    def _hold(self, run: ScenarioRun) -> None:
        """Wait for the person (paused), or the step delay; nudge the clock meanwhile."""
        clock = run.clock
        with self._cond:
            waited = 0.0
            while True:
                if self._aborted:
                    self.stopped = True
                    raise PlaybackAborted("the playback was stopped")
                if self._paused and self._step_once:
                    self._step_once = False
                    return
                if not self._paused and waited >= self._delay:
                    return
                wait = self._heartbeat
                if not self._paused:
                    wait = min(wait, self._delay - waited)
                if not self._cond.wait(wait):
                    waited += wait
                    self.heartbeats += 1
                    clock.notify()  # alive: the stall detector must not fire while we hold

    def _state_of(self, step: Step) -> StepState:
        for state in self.steps:
            if state.line == step.line and state.status in ("pending", "running"):
                return state
        raise LookupError(f"step at line {step.line} is not in this playback")

    def _changed(self) -> None:
        for listener in list(self.on_change):
            listener()
