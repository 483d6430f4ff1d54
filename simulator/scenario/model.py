"""What a scenario is, as types: :class:`Scenario`, its steps (:class:`Action` |
:class:`Expectation`), where each came from (:class:`Where`), and what a step sees
of a run (:class:`StepContext`, :class:`RunState`).

A scenario is a YAML mapping (read by :mod:`simulator.scenario.loader`)::

    name: Card purchase, approved
    purpose: One line saying what this proves.
    seed: 1                 # optional: randomness (unpredictable numbers, auth codes)
    terminal: default       # optional: firmware_fixtures/terminals/<name>.toml
    variants:               # optional: run once per combination (the pytest plugin)
      card_transport: [sim, pcsc]
    unsupported:            # optional: vendors lacking an operation used, and their refusal
      wangpos: REQ_ERR_NO_SERVICE
    steps:
      - sale: "12.34"
      - expect_screen: present_card
      - insert_card: unionpay_debit
      ...

Each step is a one-key mapping; the keyword picks a step class from
:data:`simulator.scenario.steps.STEPS`, whose declared arguments
(:mod:`simulator.scenario.args`) read the value.
"""

from __future__ import annotations

import abc
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import attrs

from simulator.errors import ScenarioError, SimulatorError
from simulator.events import SUMMARY_ONLY, EventPayload

if TYPE_CHECKING:
    from simulator.clock import VirtualClock
    from simulator.devices.card_image import CardImage
    from simulator.events import Envelope, Event
    from simulator.gateway.backoffice.service import BackofficeDay
    from simulator.hands import Hands
    from simulator.terminal.cashier_app import SaleResult
    from simulator.terminal.terminal import SaleHandle
    from simulator.view import ShopView

DEFAULT_WITHIN = 120.0  # virtual seconds an expectation may wait


@attrs.frozen
class Where:
    """The file and line a value came from, for error messages."""

    path: Path
    line: int

    def error(self, problem: str) -> ScenarioError:
        return ScenarioError(self.path, problem, self.line)


class Constraint(abc.ABC):
    """A rule on which keys of a step's mapping are given: its JSON Schema and the
    problem the parser reports (see :mod:`simulator.scenario.args`)."""

    @abc.abstractmethod
    def schema(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def problem(self, given: Mapping[Any, Any]) -> str | None: ...


@attrs.frozen
class Step(abc.ABC):
    """One step of a scenario: its arguments are attrs fields declared with
    :func:`simulator.scenario.args.arg`; what it does is :meth:`run`."""

    keyword: ClassVar[str]
    # Actions change the world and then let it settle; expectations wait for it.
    is_action: ClassVar[bool]
    help: ClassVar[str]
    example: ClassVar[str]
    # The argument a value that is no mapping fills (`sale: "12.34"`), if any.
    shorthand: ClassVar[str | None] = None
    # Whether the arguments may be written as a mapping (False: the shorthand only).
    mapping: ClassVar[bool] = True
    # Whether the keyword may stand alone, every argument at its default.
    alone: ClassVar[bool] = False
    # Rules on which keys a mapping gives (schema and parser both).
    constraints: ClassVar[tuple[Constraint, ...]] = ()
    # Why the step needs the built-in gateway's internals (its ledger, its magic
    # amounts, faults injected into it, its own record of what it saw); "" when any
    # acquirer host will do. Against another host (`possim run --host`) a scenario
    # with such a step is skipped with this reason.
    needs_builtin_gateway: ClassVar[str] = ""

    # Where the step is (its file's line; a test's line for the pos fixture), and
    # the arguments in the order they were written.
    line: int = attrs.field(default=0, kw_only=True, eq=False)
    written: tuple[str, ...] = attrs.field(default=(), kw_only=True, eq=False, repr=False)

    def builtin_gateway_need(self) -> str:
        """Why this step, with its arguments, needs the built-in gateway ("": it does not)."""
        return self.needs_builtin_gateway

    def check(self) -> str | None:
        """Why these arguments together can never pass (or never fail), if so: what
        ``possim check`` says beyond each argument's own rules."""
        return None

    @abc.abstractmethod
    def run(self, ctx: StepContext) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """How the step reads in a transcript: never a PIN."""


class Action(Step):
    """Changes the shop through the hands; the runner lets the shop settle after it."""

    is_action = True


class Expectation(Step):
    """Reads the shop through the view, waiting on the virtual clock where it must."""

    is_action = False

    def check(self) -> str | None:
        if getattr(self, "now", False) and "within" in self.written:
            return (
                f"{self.keyword}: now: true checks at once, so within: cannot apply; "
                "drop one of them"
            )
        return None


class ExpectationFailed(SimulatorError):
    """A step failed: what was expected, and the transcript around it."""

    def __init__(self, step: Step | None, message: str, excerpt: list[str]) -> None:
        self.step = step
        self.message = message
        self.excerpt = excerpt
        where = f"line {step.line}: {step.describe()}: " if step is not None else ""
        super().__init__(where + message)


R = TypeVar("R", bound="Envelope[Any]")


@attrs.frozen
class StepStarted(EventPayload):
    """The runner starts a step (published by :mod:`simulator.scenario.runner`; here so
    that the reports, which the runner imports, can read it too)."""

    source: ClassVar[str] = "scenario"
    kind: ClassVar[str] = "step"

    keyword: str
    line: int
    description: str = attrs.field(metadata=SUMMARY_ONLY)  # Step.describe()

    def summary(self) -> str:
        return f"line {self.line}: {self.description}"

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StepStarted | None:
        """The step a ``transcript.jsonl`` record starts, if it is a step's record."""
        if record.get("source") != cls.source or record.get("kind") != cls.kind:
            return None
        detail = record["detail"]
        prefix = f"line {detail['line']}: "
        summary = str(record["summary"])
        description = summary[len(prefix) :] if summary.startswith(prefix) else summary
        return cls(str(detail["keyword"]), int(detail["line"]), description)


@attrs.define
class RunState:
    """What the steps of one run remember between them."""

    # The operation the cashier started last (sale, void, refund, batch close).
    sale: SaleHandle | None = None
    # How the latest `sale:` step paid: what `void`/`refund` of `order: last` mean.
    last_sale_method: str | None = None
    # The card inserted or swiped last: whose PIN `enter_pin: card` types.
    card: CardImage | None = None
    # Cursors: the seq of the last screen / application an expectation matched.
    screens_seen: int = 0
    applications_seen: int = 0
    intents_seen: int = 0  # the seq of the last Intent expect_intent took
    # How many receipts / utterances earlier expectations covered (`new:` forms).
    receipts_checked: int = 0
    speech_checked: int = 0
    # The last `reconcile:` step's result, for the back-office expectations.
    reconciliation: BackofficeDay | None = None


class StepContext(Protocol):
    """What a step sees of a run: it acts through ``hands``, reads through ``view``,
    remembers in ``state`` and fails through ``fail``; it never holds the shop.
    :class:`~simulator.scenario.runner.ScenarioRun` implements it for ``possim
    run``, the pytest plugin and the ``pos`` fixture alike."""

    @property
    def hands(self) -> Hands: ...

    @property
    def view(self) -> ShopView: ...

    @property
    def clock(self) -> VirtualClock: ...

    @property
    def state(self) -> RunState: ...

    def fail(
        self, step: Step | None, message: str, focus: Iterable[Event] = ()
    ) -> ExpectationFailed:
        """The failure of ``step`` (raise it), with the transcript's latest events and
        ``focus``, the events the message is about."""

    def finished_sale(self, step: Step, within: float) -> SaleResult:
        """Wait up to ``within`` virtual seconds for the current operation's result."""

    def operation_ended(self, step: Step, *, now: bool, within: float = ...) -> None:
        """Wait for the current operation to end (if any) -- unless ``now``."""

    def settle_background(self) -> None:
        """Let the gateway's background work due soon (notifies) happen first."""

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
        """The first record of ``stream`` after cursor ``after`` that ``matches``,
        waiting up to ``within``; else a failure listing the ``name`` records since."""

    def expect_latest(
        self, step: Step, latest: R | None, matches: Callable[[R], bool], *, what: str, name: str
    ) -> R:
        """``latest`` (the screen shown now ...) must match, at once."""


@attrs.frozen
class Scenario:
    path: Path
    name: str
    purpose: str
    seed: int
    terminal: str
    steps: tuple[Step, ...]
    # Axis (a run_scenario transport keyword) -> the values to run it with, in file order.
    variants: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    # Vendor -> the code its contract refuses an operation of this scenario with
    # (possim run --vendor V: the run ends, passed, at that refusal).
    unsupported: Mapping[str, str] = attrs.field(factory=dict)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem)

    def variant_combinations(self) -> list[dict[str, str]]:
        """Every combination of the variants (their cross product); ``[{}]`` when none."""
        axes = list(self.variants)
        return [
            dict(zip(axes, values, strict=True))
            for values in itertools.product(*(self.variants[axis] for axis in axes))
        ]


__all__ = [
    "DEFAULT_WITHIN",
    "Action",
    "Constraint",
    "Expectation",
    "ExpectationFailed",
    "RunState",
    "Scenario",
    "Step",
    "StepContext",
    "StepStarted",
    "Where",
]
