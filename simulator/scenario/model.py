"""Scenario files: what a QA engineer writes, parsed with file:line errors.

A scenario is a YAML mapping::

    name: Card purchase, approved
    purpose: One line saying what this proves.
    seed: 1                 # optional: randomness (unpredictable numbers, auth codes)
    terminal: default       # optional: firmware_fixtures/terminals/<name>.toml
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
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import attrs

from simulator.errors import FixtureError, ScenarioError
from simulator.scenario import yaml_lines
from simulator.scenario.yaml_lines import LineDict, LineList
from simulator.terminal.config import TerminalConfig

if TYPE_CHECKING:
    from simulator.scenario.runner import ScenarioRun

DEFAULT_WITHIN = 120.0  # virtual seconds an expectation may wait
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_TOP_LEVEL = {"name", "purpose", "seed", "terminal", "steps"}


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

    line: int

    @classmethod
    @abc.abstractmethod
    def parse(cls, value: Any, where: Where) -> Step: ...

    @abc.abstractmethod
    def run(self, run: ScenarioRun) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str:
        """How the step reads in a transcript: never a PIN."""


STEPS: dict[str, type[Step]] = {}
S = TypeVar("S", bound=type[Step])


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

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", self.path.stem)


def parse_duration(value: Any, where: Where, what: str) -> float:
    if isinstance(value, bool):
        raise where.error(f"{what}: expected a duration like 30s, 500ms or 2m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION_RE.match(str(value))
        if match is None:
            raise where.error(f"{what}: expected a duration like 30s, 500ms or 2m, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds < 0:
        raise where.error(f"{what}: a duration cannot be negative")
    return seconds


def expect_no_arguments(value: Any, where: Where, keyword: str) -> None:
    """For steps written ``keyword:`` alone."""
    if value not in (None, {}, True):
        raise where.error(f"{keyword}: takes no arguments")


def expect_mapping(value: Any, where: Where, what: str, allowed: set[str]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"{what}: expected a mapping with keys {sorted(allowed)}, got {value!r}")
    unknown = set(value) - allowed
    if unknown:
        raise where.error(f"{what}: unknown key(s) {sorted(unknown)}; expected {sorted(allowed)}")
    return value


def load_scenario(path: Path) -> Scenario:
    # Importing the steps registers them.
    from simulator.scenario import steps as _steps  # noqa: F401

    document = yaml_lines.load(path)
    if not isinstance(document, LineDict):
        raise ScenarioError(path, "expected a mapping with name, purpose and steps", 1)
    unknown = set(document) - _TOP_LEVEL
    if unknown:
        key = sorted(unknown)[0]
        raise ScenarioError(
            path,
            f"unknown key {key!r}: expected one of {sorted(_TOP_LEVEL)}",
            document.line_of(key),
        )
    for required in ("name", "steps"):
        if required not in document:
            raise ScenarioError(path, f"missing {required!r}", document.line)
    raw_steps = document["steps"]
    if not isinstance(raw_steps, LineList) or not raw_steps:
        raise ScenarioError(path, "steps: expected a non-empty list", document.line_of("steps"))
    seed = document.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ScenarioError(
            path, f"seed: expected an integer, got {seed!r}", document.line_of("seed")
        )
    terminal = str(document.get("terminal", "default"))
    try:
        TerminalConfig.load(terminal)
    except FixtureError as exc:
        raise ScenarioError(path, f"terminal: {exc}", document.line_of("terminal")) from None
    steps = tuple(
        _parse_step(path, raw, line)
        for raw, line in zip(raw_steps, raw_steps.item_lines, strict=True)
    )
    return Scenario(
        path=path,
        name=str(document["name"]),
        purpose=str(document.get("purpose", "")),
        seed=seed,
        terminal=terminal,
        steps=steps,
    )


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
        raise where.error(f"unknown step {keyword!r}: expected one of {', '.join(sorted(STEPS))}")
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
