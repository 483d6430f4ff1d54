"""Scenario files: what a QA engineer writes, parsed with file:line errors.

A scenario is a YAML mapping::

    name: Card purchase, approved
    purpose: One line saying what this proves.
    seed: 1                 # optional: randomness (unpredictable numbers, auth codes)
    terminal: default       # optional: firmware_fixtures/terminals/<name>.toml
    variants:               # optional: run once per combination (the pytest plugin)
      card_transport: [sim, pcsc]
    steps:
      - sale: "12.34"
      - expect_screen: present_card
      - insert_card: unionpay_debit
      ...

Each step is a one-key mapping; the keyword picks a step class from
:data:`STEPS` (see :mod:`simulator.scenario.steps`).
"""

from __future__ import annotations

import abc
import difflib
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

import attrs

from simulator.errors import FixtureError, ScenarioError, SimulatorError
from simulator.scenario import yaml_lines
from simulator.scenario.arguments import DURATION
from simulator.scenario.yaml_lines import LineDict, LineList
from simulator.terminal.config import TerminalConfig

if TYPE_CHECKING:
    from simulator.clock import VirtualClock
    from simulator.devices.card_image import CardImage
    from simulator.events import Event
    from simulator.gateway.backoffice.service import BackofficeDay
    from simulator.hands import Hands
    from simulator.terminal.cashier_app import SaleResult
    from simulator.terminal.terminal import SaleHandle
    from simulator.view import Seen, ShopView

DEFAULT_WITHIN = 120.0  # virtual seconds an expectation may wait
_TOP_LEVEL = {"name", "purpose", "seed", "terminal", "steps", "variants"}


@attrs.frozen
class Where:
    """The file and line a value came from, for error messages."""

    path: Path
    line: int

    def error(self, problem: str) -> ScenarioError:
        return ScenarioError(self.path, problem, self.line)


class Step(abc.ABC):
    keyword: ClassVar[str]
    # Actions change the world and then let it settle; expectations wait for it.
    is_action: ClassVar[bool]
    help: ClassVar[str]
    example: ClassVar[str]
    # JSON Schema (draft 2020-12) of the step's value: docs/scenario.schema.json is built
    # from these (simulator/scenario/schema.py), so editors can check a file as it is typed.
    schema: ClassVar[dict[str, Any]]

    line: int

    @classmethod
    @abc.abstractmethod
    def parse(cls, value: Any, where: Where) -> Step: ...

    @abc.abstractmethod
    def run(self, ctx: StepContext) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """How the step reads in a transcript: never a PIN."""


class ExpectationFailed(SimulatorError):
    """A step failed: what was expected, and the transcript around it."""

    def __init__(self, step: Step | None, message: str, excerpt: list[str]) -> None:
        self.step = step
        self.message = message
        self.excerpt = excerpt
        where = f"line {step.line}: {step.describe()}: " if step is not None else ""
        super().__init__(where + message)


R = TypeVar("R", bound="Seen")


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


STEPS: dict[str, type[Step]] = {}
S = TypeVar("S", bound=type[Step])

# Schema fragments the step classes share (see Step.schema).
# Every duration argument (wait, within, delay): simulator/scenario/arguments.py.
DURATION_SCHEMA: dict[str, Any] = DURATION.schema()
NO_ARGUMENTS_SCHEMA: dict[str, Any] = {
    "description": "Takes no arguments: write the keyword alone, e.g. `- remove_card:`.",
    "anyOf": [{"type": "null"}, {"const": True}, {"type": "object", "maxProperties": 0}],
}
TEXT_SCHEMA: dict[str, Any] = {"type": ["string", "number"]}
AMOUNT_SCHEMA: dict[str, Any] = {
    "description": 'Yuan with up to two decimals, quoted: "12.34".',
    "type": ["string", "number"],
    "pattern": r"^\s*\d+(\.\d{1,2})?\s*$",
}

NOW_SCHEMA: dict[str, Any] = {
    "type": "boolean",
    "default": False,
    "description": "check at once, as things stand in the middle of the payment, "
    "instead of once it has ended",
}


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``": did you mean 'x'?"`` for the closest of ``choices``, or ``""``."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f": did you mean {close[0]!r}?" if close else ""


def step(keyword: str) -> Callable[[S], S]:
    def register(cls: S) -> S:
        if keyword in STEPS:
            raise RuntimeError(f"step {keyword!r} is registered twice")
        cls.keyword = keyword
        STEPS[keyword] = cls
        return cls

    return register


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


def parse_duration(value: Any, where: Where, what: str) -> float:
    """Seconds of a duration argument, within its bounds (see DURATION_SCHEMA)."""
    return DURATION.parse(value, where, what)


def expect_no_arguments(value: Any, where: Where, keyword: str) -> None:
    """For steps written ``keyword:`` alone."""
    if value not in (None, {}, True):
        raise where.error(f"{keyword}: takes no arguments")


def parse_now(value: Mapping[str, Any], where: Where, keyword: str) -> bool:
    """An expectation's ``now:`` (see NOW_SCHEMA); it cannot go with a ``within:``."""
    now = value.get("now", False)
    if not isinstance(now, bool):
        raise where.error(f"{keyword}.now: expected true or false, got {now!r}")
    if now and "within" in value:
        raise where.error(
            f"{keyword}: now: true checks at once, so within: cannot apply; drop one of them"
        )
    return now


def expect_mapping(value: Any, where: Where, what: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"{what}: expected a mapping with keys {sorted(allowed)}, got {value!r}")
    unknown = sorted(str(key) for key in set(value) - allowed)
    if unknown:
        hint = did_you_mean(unknown[0], allowed)
        raise where.error(
            f"{what}: unknown key {unknown[0]!r}{hint or f'; expected one of {sorted(allowed)}'}"
        )
    return value


def load_scenario(path: Path) -> Scenario:
    """The scenario in ``path``; its first problem as a :class:`ScenarioError`."""
    scenario, problems = check_scenario(path)
    if problems:
        raise problems[0]
    assert scenario is not None
    return scenario


def check_scenario(path: Path) -> tuple[Scenario | None, list[ScenarioError]]:
    """Parse ``path`` and collect every problem (each step is checked even after a bad one):
    the scenario, or None and the problems in the order found."""
    # Importing the steps registers them.
    from simulator.scenario import steps as _steps  # noqa: F401

    try:
        document = yaml_lines.load(path)
    except ScenarioError as exc:
        return None, [exc]
    if not isinstance(document, LineDict):
        return None, [ScenarioError(path, "expected a mapping with name, purpose and steps", 1)]
    problems: list[ScenarioError] = []
    for key in sorted(set(document) - _TOP_LEVEL, key=str):
        hint = did_you_mean(key, _TOP_LEVEL) or f": expected one of {sorted(_TOP_LEVEL)}"
        problems.append(ScenarioError(path, f"unknown key {key!r}{hint}", document.line_of(key)))
    for required in ("name", "steps"):
        if required not in document:
            problems.append(ScenarioError(path, f"missing {required!r}", document.line))
    raw_steps = document.get("steps")
    if "steps" in document and (not isinstance(raw_steps, LineList) or not raw_steps):
        problems.append(
            ScenarioError(path, "steps: expected a non-empty list", document.line_of("steps"))
        )
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        problem = f"seed: expected an integer, got {seed!r}"
        problems.append(ScenarioError(path, problem, document.line_of("seed")))
    terminal = document.get("terminal", "default")
    if not isinstance(terminal, str):
        problem = f"terminal: expected the name or path of a configuration, got {terminal!r}"
        problems.append(ScenarioError(path, problem, document.line_of("terminal")))
        terminal = "default"
    try:
        TerminalConfig.load(terminal)
    except FixtureError as exc:
        problems.append(ScenarioError(path, f"terminal: {exc}", document.line_of("terminal")))
    steps: list[Step] = []
    if isinstance(raw_steps, LineList):
        for raw, line in zip(raw_steps, raw_steps.item_lines, strict=True):
            try:
                steps.append(_parse_step(path, raw, line))
            except ScenarioError as exc:
                problems.append(exc)
    try:
        variants = _parse_variants(path, document)
    except ScenarioError as exc:
        problems.append(exc)
    if problems:
        return None, problems
    return Scenario(
        path=path,
        name=str(document["name"]),
        purpose=str(document.get("purpose", "")),
        seed=seed,
        terminal=terminal,
        steps=tuple(steps),
        variants=variants,
    ), []


def variant_axes() -> dict[str, tuple[str, ...]]:
    """What ``variants:`` may vary: run_scenario's transport keywords and their values."""
    from simulator.devices.transports import TRANSPORT_AXES

    return dict(TRANSPORT_AXES)


def _parse_variants(path: Path, document: LineDict) -> dict[str, tuple[str, ...]]:
    if "variants" not in document:
        return {}
    raw = document["variants"]
    line = document.line_of("variants")
    axes = variant_axes()
    if not isinstance(raw, LineDict) or not raw:
        raise ScenarioError(
            path,
            f"variants: expected a mapping of {' / '.join(axes)} to lists of values, "
            "e.g. {card_transport: [sim, pcsc]}",
            line,
        )
    variants: dict[str, tuple[str, ...]] = {}
    for axis, values in raw.items():
        where = raw.line_of(axis)
        known = axes.get(axis)
        if known is None:
            raise ScenarioError(
                path, f"variants: unknown axis {axis!r}: expected one of {sorted(axes)}", where
            )
        items = values if isinstance(values, list) else [values]
        chosen = tuple(str(value) for value in items)
        for index, value in enumerate(chosen):
            if value not in known:
                at = values.line_of(index) if isinstance(values, LineList) else where
                raise ScenarioError(
                    path,
                    f"variants.{axis}: unknown value {value!r}: expected one of {list(known)}",
                    at,
                )
        if not chosen or len(set(chosen)) != len(chosen):
            raise ScenarioError(
                path, f"variants.{axis}: expected a non-empty list without repeats", where
            )
        variants[axis] = chosen
    return variants


def _parse_step(path: Path, raw: Any, line: int) -> Step:
    where = Where(path, line)
    if not isinstance(raw, Mapping) or len(raw) != 1:
        raise where.error(
            f"a step is a one-key mapping like '- insert_card: unionpay_debit'; "
            f"expected one of: {', '.join(sorted(STEPS))}"
        )
    ((keyword, value),) = raw.items()
    step_class = STEPS.get(keyword)
    if step_class is None:
        hint = did_you_mean(keyword, STEPS) or f": expected one of {', '.join(sorted(STEPS))}"
        raise where.error(f"unknown step {keyword!r}{hint}")
    parsed = step_class.parse(value, where)
    parsed.line = line
    return parsed


def discover(paths: list[Path]) -> list[Path]:
    """Scenario files under each path (files as given, folders searched)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            found.append(path)
        else:
            raise ScenarioError(path, "no such file or folder")
    return found
