"""Scenario files into :class:`~simulator.scenario.model.Scenario` values: YAML with
line numbers, every problem a one-line ``file:line`` error.

:func:`check_scenario` collects every problem of a file (``possim check``);
:func:`load_scenario` raises the first (``possim run``). Each step's value is
read by its class's declared arguments (:func:`simulator.scenario.args.parse`),
the same declarations the JSON Schema and the reference page come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers.errors import did_you_mean
from simulator.devices.transports import TRANSPORT_AXES
from simulator.errors import FixtureError, ScenarioError
from simulator.scenario import args, yaml_lines
from simulator.scenario.model import Scenario, Step, Where
from simulator.scenario.steps import STEPS
from simulator.scenario.yaml_lines import LineDict, LineList
from simulator.terminal.config import TerminalConfig
from simulator.terminal.vendor_names import VENDORS

_TOP_LEVEL = {"name", "purpose", "seed", "terminal", "steps", "variants", "unsupported"}


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
    terminal = _beside(path, terminal)
    try:
        config = TerminalConfig.load(terminal)
    except FixtureError as exc:
        problems.append(ScenarioError(path, f"terminal: {exc}", document.line_of("terminal")))
    else:  # its device URLs, checked against each scheme's declared parameters
        where = config.source or terminal
        for device in config.devices.problems():
            problem = f"terminal: {where}: {device}"
            problems.append(ScenarioError(path, problem, document.line_of("terminal")))
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
    try:
        unsupported = _parse_unsupported(path, document)
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
        unsupported=unsupported,
    ), []


def _beside(scenario: Path, terminal: str) -> str:
    """A relative ``terminal: x.toml`` is found beside the scenario first (then where possim runs).

    So a project's scenarios name its terminal the same way whatever folder
    ``possim run`` or pytest is started from.
    """
    candidate = scenario.parent / terminal
    if terminal.endswith(".toml") and not Path(terminal).is_absolute() and candidate.is_file():
        return str(candidate)
    return terminal


def variant_axes() -> dict[str, tuple[str, ...]]:
    """What ``variants:`` may vary: run_scenario's transport keywords and the
    terminal's vendor (its acquiring-app contract), and their values."""
    return {**TRANSPORT_AXES, "vendor": VENDORS}


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


def _parse_unsupported(path: Path, document: LineDict) -> dict[str, str]:
    """``unsupported: {vendor: its refusal code}``: the vendors whose contract lacks an
    operation the scenario uses (docs/vendors/)."""
    if "unsupported" not in document:
        return {}
    raw = document["unsupported"]
    line = document.line_of("unsupported")
    if not isinstance(raw, LineDict) or not raw:
        raise ScenarioError(
            path,
            "unsupported: expected a mapping of vendor to its refusal code, "
            "e.g. {wangpos: REQ_ERR_NO_SERVICE}",
            line,
        )
    found: dict[str, str] = {}
    for vendor, code in raw.items():
        where = raw.line_of(vendor)
        if vendor not in VENDORS:
            hint = did_you_mean(str(vendor), VENDORS) or f"; expected one of {list(VENDORS)}"
            raise ScenarioError(path, f"unsupported: unknown vendor {vendor!r}{hint}", where)
        if code is None or isinstance(code, (LineDict, LineList)):
            raise ScenarioError(
                path, f"unsupported.{vendor}: expected the vendor's refusal code", where
            )
        found[str(vendor)] = str(code)
    return found


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
    return args.parse(step_class, value, where)


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
