"""Runs scenarios headless and reports what happened.

Each scenario gets a fresh :class:`~simulator.shop.Shop` (virtual
clock, event bus, simulated devices, built-in gateway) in its own folder of
artifacts: the JSONL transcript, the receipts (text and PNG), the speech, the
per-device transcripts, the journal and the ledger (docs/reports.md;
:mod:`simulator.scenario.report.artifacts`). Every step starts on a settled
simulation and actions settle it again afterwards; expectation steps wait on
the virtual clock. A failure says what was expected and shows the transcript
around it.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import time
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import attrs

from drivers.traffic.trace import TraceError
from simulator.clock import VirtualClock
from simulator.errors import SimulatorError
from simulator.events import Event, JsonlTranscript
from simulator.hands import Hands, HandsError, NotSimulated
from simulator.scenario.model import (
    DEFAULT_WITHIN,
    ExpectationFailed,
    R,
    RunState,
    Scenario,
    Step,
    StepStarted,
)
from simulator.scenario.report.artifacts import PrinterTap, write_scenario_artifacts
from simulator.shop import Shop
from simulator.terminal.cashier_app import IntentRefused, SaleResult
from simulator.terminal.config import HostEndpoint, TerminalConfig
from simulator.view import ShopView, ViewError

TRANSCRIPT_CONTEXT = 25  # event lines shown around a failure
END_OF_SCENARIO_WITHIN = 600.0  # virtual seconds for a sale still running at the end
# Virtual seconds ahead an action that starts background work (a replayed notify)
# looks for work due: what is due within it is done before the next step.
BACKGROUND_HORIZON = 60.0


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
    # Not run, and why (a step needs the built-in gateway; the host is another).
    skipped: str = ""

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
    """One run of a scenario: the :class:`~simulator.scenario.model.StepContext` its
    steps act on and check (the runner's, the pytest plugin's, the ``pos`` fixture's)."""

    def __init__(self, scenario: Scenario, shop: Shop) -> None:
        self.scenario = scenario
        self.shop = shop
        self.state = RunState()

    @property
    def hands(self) -> Hands:
        return self.shop.hands

    @property
    def view(self) -> ShopView:
        return self.shop.view

    @property
    def clock(self) -> VirtualClock:
        return self.shop.clock

    def run_step(self, step: Step) -> None:
        """Run ``step`` on the settled shop, settling it again after an action; a
        person's action the shop cannot carry out fails the step."""
        try:
            step.run(self)
        except (NotSimulated, HandsError, ViewError) as exc:
            raise self.fail(step, str(exc)) from None
        if step.is_action:
            self.clock.settle()

    # -- waiting ----------------------------------------------------------------------

    def operation_ended(self, step: Step, *, now: bool, within: float = DEFAULT_WITHIN) -> None:
        """Wait for the current operation (sale, void, refund, settlement) to end --
        unless ``now``: the expectation looks at the world as it is, mid-payment."""
        if not now and self.state.sale is not None:
            self.finished_sale(step, within)

    def settle_background(self) -> None:
        """Let the gateway's background work (notifies, their retries) due within
        :data:`BACKGROUND_HORIZON` virtual seconds happen, so the next step sees its
        effect."""
        horizon = BACKGROUND_HORIZON
        until = self.clock.monotonic() + horizon
        self.clock.wait_until(lambda: not self.view.background_work_due(until), horizon)

    def finished_sale(self, step: Step, within: float) -> SaleResult:
        sale = self.state.sale
        if sale is None:
            raise self.fail(step, "no sale was started (add a `sale:` step first)")
        try:
            result = sale.wait(within)
        except SimulatorError as exc:
            raise self.fail(step, str(exc)) from None
        if result is None:
            raise self.fail(
                step,
                f"the sale did not finish within {within:g} s; screen: {self.view.screen_text()}",
            )
        return result

    def expect_next(
        self,
        step: Step,
        stream: Callable[[int], Sequence[R]],
        matches: Callable[[R], bool],
        *,
        after: int,
        within: float,
        what: str,
        name: str,
    ) -> R:
        found = self.view.first(stream, matches, after=after, within=within)
        if found is None:
            others = [record.summary for record in stream(after)]
            raise self.fail(
                step,
                f"expected {what} within {within:g} s; {name} events since the last match: "
                + ("; ".join(others) if others else "none"),
            )
        return found

    def expect_latest(
        self, step: Step, latest: R | None, matches: Callable[[R], bool], *, what: str, name: str
    ) -> R:
        if latest is None or not matches(latest):
            shown = latest.summary if latest is not None else "none yet"
            raise self.fail(step, f"expected {what} now; the latest {name} is {shown}")
        return latest

    def fail(
        self, step: Step | None, message: str, focus: Iterable[Event] = ()
    ) -> ExpectationFailed:
        events = self.shop.bus.events
        excerpt = [event.line() for event in events[-TRANSCRIPT_CONTEXT:]]
        focus_lines = [event.line() for event in focus]
        if focus_lines:
            excerpt = ["(relevant events)", *focus_lines, "(latest events)", *excerpt[-10:]]
        return ExpectationFailed(step, message, excerpt)


class _ExpectedRefusal:
    """A scenario's ``unsupported:`` entry for the vendor it runs with: the run ends,
    passed, when the cashier app is refused with that code -- and fails if it never is."""

    def __init__(self, scenario: Scenario, vendor: str, shop: Shop) -> None:
        self.vendor = vendor
        self.code = scenario.unsupported.get(vendor)
        self._bus = shop.bus
        self._done = False

    def reached(self, run: ScenarioRun) -> bool:
        if self.code is None:
            return False
        refused = self._bus.of(IntentRefused)
        if not refused:
            return False
        got = refused[0].payload
        if got.code != self.code:
            raise run.fail(
                None, f"expected {self.vendor} to refuse with {self.code}, it said: {got.reason}"
            )
        self._done = True
        return True

    def check_reached(self, run: ScenarioRun) -> None:
        if self.code is not None and not self._done and not self.reached(run):
            raise run.fail(
                None,
                f"unsupported: expected {self.vendor} to refuse with {self.code}; "
                "every operation was accepted (remove the entry)",
            )


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
    vendor: str | None = None,
    host: HostEndpoint | None = None,
    serve_port: int | None = None,
) -> ScenarioResult:
    """Run ``scenario``; its artifacts go to ``out_dir/<slug>``.

    ``serve_port``: the shop runs on the real clock and is served on this loopback port
    as ``possim serve`` serves it, for an outside cashier app (``expect_intent``).

    ``host``: card payments go to this acquirer host instead of the built-in one, on
    the real clock; a scenario with a step that needs the built-in gateway
    (:meth:`~simulator.scenario.model.Step.builtin_gateway_need`) is skipped, the
    result saying why.
    """
    artifacts = out_dir / scenario.slug
    if artifacts.exists():
        shutil.rmtree(artifacts)
    artifacts.mkdir(parents=True)
    if host is not None:
        skipped = builtin_gateway_need(scenario)
        if skipped:
            result = ScenarioResult(scenario, True, None, 0.0, 0, artifacts, seed, skipped=skipped)
            _write_result(result, artifacts)
            return result
    config = TerminalConfig.load(scenario.terminal)
    if vendor is not None:  # the `vendor` axis: the same shop with another acquiring app
        config = attrs.evolve(config, vendor=vendor)
    started = time.perf_counter()
    transcript = JsonlTranscript.open(artifacts / "transcript.jsonl")
    failure: ExpectationFailed | None = None
    used_seed = scenario.seed if seed is None else seed
    with (
        Shop(
            config,
            artifacts,
            seed=used_seed,
            card_transport=card_transport,
            printer_transport=printer_transport,
            scanner_transport=scanner_transport,
            speaker=speaker,
            wav_dir=wav_dir,
            real_clock=host is not None or serve_port is not None,
            card_host=host,
        ) as shop,
        _served(shop, serve_port),
    ):
        shop.bus.subscribe(transcript)
        printer_tap = PrinterTap.attach(shop)
        setup = _setup(
            shop,
            card_transport=card_transport,
            printer_transport=printer_transport,
            scanner_transport=scanner_transport,
            speaker=speaker,
        )
        if vendor is not None:  # an override (the config's otherwise): a rerun repeats it
            setup["vendor"] = vendor
        run = ScenarioRun(scenario, shop)
        with shop.clock.actor():
            try:
                refusal = _ExpectedRefusal(scenario, config.vendor, shop)
                for step in scenario.steps:
                    if refusal.reached(run):
                        break
                    # Every step starts on a quiet simulation, so neither its
                    # transcript line nor an action can race the terminal's next move
                    # (expectations match the event history, not just the present).
                    shop.clock.settle()
                    if observer is not None:
                        observer.before_step(run, step)
                    shop.bus.publish(StepStarted(step.keyword, step.line, step.describe()))
                    try:
                        run.run_step(step)
                    except ExpectationFailed as exc:
                        if observer is not None:
                            observer.after_step(run, step, exc)
                        raise
                    if observer is not None:
                        observer.after_step(run, step, None)
                refusal.check_reached(run)
                sale = run.state.sale
                if sale is not None and sale.wait(END_OF_SCENARIO_WITHIN) is None:
                    raise run.fail(
                        None,
                        "the terminal was still busy when the scenario ended: "
                        + run.view.screen_text(),
                    )
            except ExpectationFailed as exc:
                failure = exc
            except (SimulatorError, TraceError) as exc:  # TraceError: a replay's traffic
                failure = run.fail(None, f"{type(exc).__name__}: {exc}")
            except Exception as exc:  # a bug in possim: report it with its traceback
                failure = run.fail(None, f"internal error: {type(exc).__name__}: {exc}")
                failure.excerpt.extend(traceback.format_exc().splitlines())
        write_scenario_artifacts(shop.view, artifacts, printer_tap)
    transcript.close()
    seconds = time.perf_counter() - started
    if host is not None:
        setup["card_host"] = host_url(host)
    if serve_port is not None:
        setup["serve_port"] = str(serve_port)
    result = ScenarioResult(
        scenario, failure is None, failure, seconds, len(shop.bus), artifacts, used_seed, setup
    )
    _write_result(result, artifacts)
    return result


@contextlib.contextmanager
def _served(shop: Shop, port: int | None) -> Iterator[None]:
    """The shop's API on loopback ``port`` while the scenario runs (None: not served)."""
    if port is None:
        yield
        return
    from simulator.serve.api import ShopApi
    from simulator.serve.server import ShopHttpServer

    server = ShopHttpServer(ShopApi(shop, token=None, log=lambda line: None), port=port)
    server.start()
    try:
        yield
    finally:
        server.stop()


def host_url(host: HostEndpoint) -> str:
    """``host`` as the ``iso8583://`` URL that names it (for reports and reruns)."""
    params = {"spec": host.spec, "tpdu": host.tpdu.hex(), "header": host.header, "mac": host.mac}
    given = {name: value for name, value in params.items() if value}
    query = "&".join(f"{name}={value}" for name, value in given.items())
    return f"iso8583://{host.host}:{host.port}" + (f"?{query}" if query else "")


def builtin_gateway_need(scenario: Scenario) -> str:
    """Why ``scenario`` needs the built-in gateway: its first step that does, at its line."""
    for step in scenario.steps:
        need = step.builtin_gateway_need()
        if need:
            return f"{scenario.path}:{step.line}: {need}"
    return ""


def _write_result(result: ScenarioResult, artifacts: Path) -> None:
    record = {
        "scenario": str(result.scenario.path),
        "name": result.scenario.name,
        "passed": result.passed,
        "failure": result.failure_text or None,
        "events": result.events,
        "seed": result.used_seed,
        "setup": dict(result.setup),
    }
    if result.skipped:
        record["skipped"] = result.skipped
    (artifacts / "result.json").write_text(
        json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8"
    )


def _setup(
    shop: Shop,
    *,
    card_transport: str,
    printer_transport: str | None,
    scanner_transport: str | None,
    speaker: str | None,
) -> dict[str, str]:
    """What the scenario ran on, and the transports to give a rerun (None: the config's)."""
    config = shop.view.config
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
