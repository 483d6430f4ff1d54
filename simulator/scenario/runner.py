"""Runs scenarios headless and reports what happened.

Each scenario gets a fresh :class:`~simulator.simulation.Simulation` (virtual
clock, event bus, simulated devices, built-in gateway) in its own folder of
artifacts: the JSONL transcript, the receipts (text and PNG), the speech, the
per-device transcripts, the journal and the ledger (docs/reports.md;
:mod:`simulator.scenario.report.artifacts`). Every step starts on a settled
simulation and actions settle it again afterwards; expectation steps wait on
the virtual clock. A failure says what was expected and shows the transcript
around it.
"""

from __future__ import annotations

import json
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Protocol

import attrs

from drivers.traffic.trace import TraceError
from simulator.devices.card_image import CardImage
from simulator.devices.card_reader import SimCardReader
from simulator.devices.card_slot import CardSlot
from simulator.devices.pin_pad import VirtualPinPad
from simulator.errors import SimulatorError
from simulator.events import Event, JsonlTranscript
from simulator.scenario.model import DEFAULT_WITHIN, Scenario, Step
from simulator.scenario.report.artifacts import PrinterTap, write_scenario_artifacts
from simulator.simulation import Simulation
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import TerminalConfig
from simulator.terminal.terminal import SaleHandle

TRANSCRIPT_CONTEXT = 25  # event lines shown around a failure
END_OF_SCENARIO_WITHIN = 600.0  # virtual seconds for a sale still running at the end
# Virtual seconds ahead an action that starts background work (a replayed notify)
# looks for work due: what is due within it is done before the next step.
BACKGROUND_HORIZON = 60.0


class ExpectationFailed(SimulatorError):
    def __init__(self, step: Step | None, message: str, excerpt: list[str]) -> None:
        self.step = step
        self.message = message
        self.excerpt = excerpt
        where = f"line {step.line}: {step.describe()}: " if step is not None else ""
        super().__init__(where + message)


@attrs.frozen
class ScenarioResult:
    scenario: Scenario
    passed: bool
    failure: ExpectationFailed | None
    seconds: float
    events: int
    artifacts: Path
    # The seed the run used (the scenario's, or the override) and what it ran
    # on: terminal, device URLs, transports (see _setup). Reports show both.
    seed: int | None = None
    setup: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def used_seed(self) -> int:
        return self.scenario.seed if self.seed is None else self.seed

    @property
    def failure_location(self) -> str:
        """``file:line`` of the failing step (the file alone when no step failed)."""
        if self.failure is None:
            return ""
        if self.failure.step is None:
            return str(self.scenario.path)
        return f"{self.scenario.path}:{self.failure.step.line}"

    @property
    def failure_text(self) -> str:
        if self.failure is None:
            return ""
        lines = [f"{self.failure_location}: {self.failure}", "transcript (most recent last):"]
        lines.extend(f"  {line}" for line in self.failure.excerpt)
        return "\n".join(lines)


class ScenarioRun:
    """The state a scenario's steps act on and check."""

    def __init__(self, scenario: Scenario, sim: Simulation) -> None:
        self.scenario = scenario
        self.sim = sim
        self.sale: SaleHandle | None = None
        # How the latest `sale:` step paid: what `void`/`refund` of `order: last` mean.
        self.last_sale_method: str | None = None
        # How many receipts / utterances earlier expectations covered (`new:` forms).
        self.receipts_checked = 0
        self.speech_checked = 0
        self.card: CardImage | None = None
        self._cursors: dict[str, int] = {}

    # -- hardware side ------------------------------------------------------------

    def sim_card_reader(self, step: Step) -> SimCardReader:
        reader = self.sim.world.card_reader
        if reader is None:
            raise self.fail(step, "the card reader is not simulated (sim://): cannot act on it")
        return reader

    def sim_pin_pad(self, step: Step) -> VirtualPinPad:
        pad = self.sim.world.pin_pad
        if pad is None:
            raise self.fail(step, "the PIN pad is not simulated (sim://): cannot press its keys")
        return pad

    def card_slot(self, step: Step) -> CardSlot:
        """Where the cardholder puts cards: the in-process reader or a vpcd slot."""
        slot = self.sim.world.card_slot
        if slot is None:
            raise self.fail(
                step, "the card reader is not simulated (sim:// or --card-transport pcsc)"
            )
        return slot

    def insert_card(self, step: Step, image: CardImage) -> None:
        slot = self.card_slot(step)
        self.card = image
        slot.insert(self.sim.world.card(image))

    # -- what happened --------------------------------------------------------------

    def screen_text(self) -> str:
        screen = self.sim.terminal.display.screen
        return f"{screen.id.value}: {screen.text()}"

    def receipts(self) -> list[str]:
        port = self.sim.world.printer_port
        if port is not None:  # partial prints torn off at a paper refill are no receipts
            return [receipt.text for receipt in port.receipts()]
        printer = self.sim.world.printer
        if printer is not None:
            return [receipt.text for receipt in printer.receipts]
        return [
            str(e.detail.get("text", "")) for e in self.sim.bus.of(source="printer", kind="print")
        ]

    def receipt_kind(self, text: str) -> str | None:
        """What a printed receipt records (RECEIPT_KINDS), told by the template whose
        fixed wording it carries; None: printed from none of the terminal's templates."""
        best: tuple[int, str | None] = (0, None)
        for kind, templates in self.sim.terminal.receipt_templates.items():
            for template in templates:
                score = template.recognise(text)
                if score > best[0]:
                    best = (score, kind)
        return best[1]

    def operation_ended(self, step: Step, *, now: bool, within: float = DEFAULT_WITHIN) -> None:
        """Wait for the current operation (sale, void, refund, settlement) to end --
        unless ``now``: the expectation looks at the world as it is, mid-payment."""
        if not now and self.sale is not None:
            self.finished_sale(step, within)

    def settle_background(self, horizon: float = BACKGROUND_HORIZON) -> None:
        """Let the gateway's background work (notifies, their retries) due within
        ``horizon`` virtual seconds happen, so the next step sees its effect."""
        notifier = getattr(self.sim.gateway, "notifier", None)
        if notifier is None:
            return
        until = self.sim.clock.monotonic() + horizon
        self.sim.clock.wait_until(lambda: not notifier.work_due(until), horizon)

    def finished_sale(self, step: Step, within: float) -> SaleResult:
        if self.sale is None:
            raise self.fail(step, "no sale was started (add a `sale:` step first)")
        try:
            result = self.sale.wait(within)
        except SimulatorError as exc:
            raise self.fail(step, str(exc)) from None
        if result is None:
            raise self.fail(
                step, f"the sale did not finish within {within:g} s; screen: {self.screen_text()}"
            )
        return result

    def expect_event(
        self, stream: str, matches: Callable[[Event], bool], step: Step, within: float, what: str
    ) -> Event:
        """Wait for the next event of ``stream`` kind that ``matches``, after the cursor."""
        start = self._cursors.get(stream, 0)
        found: list[Event] = []

        def seen() -> bool:
            for event in self.sim.bus.since(start):
                if event.kind == stream and matches(event):
                    found.append(event)
                    return True
            return False

        if not self.sim.clock.wait_until(seen, within):
            others = [e.summary for e in self.sim.bus.since(start) if e.kind == stream]
            raise self.fail(
                step,
                f"expected {what} within {within:g} s; {stream} events since the last match: "
                + ("; ".join(others) if others else "none"),
            )
        self._cursors[stream] = found[0].seq
        return found[0]

    def expect_latest_event(
        self, stream: str, matches: Callable[[Event], bool], step: Step, what: str
    ) -> Event:
        """The latest event of ``stream`` kind (the screen shown now, ...) must match;
        later expectations of the stream look after it."""
        latest = next((e for e in reversed(self.sim.bus.events) if e.kind == stream), None)
        if latest is None or not matches(latest):
            shown = latest.summary if latest is not None else "none yet"
            raise self.fail(step, f"expected {what} now; the latest {stream} is {shown}")
        self._cursors[stream] = latest.seq
        return latest

    def fail(
        self, step: Step | None, message: str, focus: Iterable[Event] = ()
    ) -> ExpectationFailed:
        events = self.sim.bus.events
        excerpt = [event.line() for event in events[-TRANSCRIPT_CONTEXT:]]
        focus_lines = [event.line() for event in focus]
        if focus_lines:
            excerpt = ["(relevant events)", *focus_lines, "(latest events)", *excerpt[-10:]]
        return ExpectationFailed(step, message, excerpt)


class StepObserver(Protocol):
    """Watches a run step by step (the TUI's playback, a progress display).

    Called on the runner's thread, between steps, while the simulation is
    settled; ``before_step`` may block (a paused playback) -- the runner holds
    no clock time while it waits.
    """

    def before_step(self, run: ScenarioRun, step: Step) -> None: ...

    def after_step(
        self, run: ScenarioRun, step: Step, failure: ExpectationFailed | None
    ) -> None: ...


def run_scenario(
    scenario: Scenario,
    out_dir: Path,
    *,
    seed: int | None = None,
    card_transport: str = "sim",
    printer_transport: str | None = None,
    scanner_transport: str | None = None,
    speaker: str | None = None,
    wav_dir: Path | None = None,
    observer: StepObserver | None = None,
) -> ScenarioResult:
    artifacts = out_dir / scenario.slug
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    config = TerminalConfig.load(scenario.terminal)
    started = time.perf_counter()
    transcript = JsonlTranscript.open(artifacts / "transcript.jsonl")
    failure: ExpectationFailed | None = None
    used_seed = scenario.seed if seed is None else seed
    with Simulation(
        config,
        artifacts,
        seed=used_seed,
        card_transport=card_transport,
        printer_transport=printer_transport,
        scanner_transport=scanner_transport,
        speaker=speaker,
        wav_dir=wav_dir,
    ) as sim:
        sim.bus.subscribe(transcript)
        printer_tap = PrinterTap.attach(sim)
        setup = _setup(
            sim,
            card_transport=card_transport,
            printer_transport=printer_transport,
            scanner_transport=scanner_transport,
            speaker=speaker,
        )
        run = ScenarioRun(scenario, sim)
        with sim.clock.actor():
            try:
                for step in scenario.steps:
                    # Every step starts on a quiet simulation, so neither its
                    # transcript line nor an action can race the terminal's next move
                    # (expectations match the event history, not just the present).
                    sim.clock.settle()
                    if observer is not None:
                        observer.before_step(run, step)
                    sim.bus.publish(
                        "scenario",
                        "step",
                        f"line {step.line}: {step.describe()}",
                        keyword=step.keyword,
                        line=step.line,
                    )
                    try:
                        step.run(run)
                        if step.is_action:
                            sim.clock.settle()
                    except ExpectationFailed as exc:
                        if observer is not None:
                            observer.after_step(run, step, exc)
                        raise
                    if observer is not None:
                        observer.after_step(run, step, None)
                if run.sale is not None and run.sale.wait(END_OF_SCENARIO_WITHIN) is None:
                    raise run.fail(
                        None,
                        "the terminal was still busy when the scenario ended: " + run.screen_text(),
                    )
            except ExpectationFailed as exc:
                failure = exc
            except (SimulatorError, TraceError) as exc:  # TraceError: a replay's traffic
                failure = run.fail(None, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a bug in possim: report it with its traceback
                failure = run.fail(None, f"internal error: {type(exc).__name__}: {exc}")
                failure.excerpt.extend(traceback.format_exc().splitlines())
        write_scenario_artifacts(run, artifacts, printer_tap)
    transcript.close()
    seconds = time.perf_counter() - started
    result = ScenarioResult(
        scenario, failure is None, failure, seconds, len(sim.bus), artifacts, used_seed, setup
    )
    (artifacts / "result.json").write_text(
        json.dumps(
            {
                "scenario": str(scenario.path),
                "name": scenario.name,
                "passed": result.passed,
                "failure": result.failure_text or None,
                "events": result.events,
                "seed": used_seed,
                "setup": dict(setup),
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    return result


def _setup(
    sim: Simulation,
    *,
    card_transport: str,
    printer_transport: str | None,
    scanner_transport: str | None,
    speaker: str | None,
) -> dict[str, str]:
    """What the scenario ran on, and the transports to give a rerun (None: the config's)."""
    config = sim.terminal.config
    setup = {
        "terminal_id": config.terminal_id,
        "merchant_id": config.merchant_id,
        **{f"device.{name}": url for name, url in attrs.asdict(config.devices).items()},
        "card_transport": card_transport,
    }
    for name, value in (
        ("printer_transport", printer_transport),
        ("scanner_transport", scanner_transport),
        ("speaker", speaker),
    ):
        if value is not None:
            setup[name] = value
    return setup
