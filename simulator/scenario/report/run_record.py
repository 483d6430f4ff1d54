"""``run.json``: the machine-readable record of a whole ``possim run``.

Built from the results and each scenario's artifacts folder (the JSONL
transcript the runner wrote), so the step loop is not duplicated here: the
steps are the transcript's :class:`~simulator.scenario.model.StepStarted`
events, marked passed, failed (the step the failure names) or not run. Events are copied as the
bus published them -- already redacted (see :mod:`simulator.events`).
Paths are relative to the folder holding ``run.json``.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ScenarioError
from simulator.scenario.model import StepStarted
from simulator.scenario.report.artifacts import receipt_png_name
from simulator.scenario.report.rerun import label_runs, labels, rerun_command
from simulator.terminal.tracing import Said

if TYPE_CHECKING:
    from simulator.scenario.runner import ScenarioResult

FORMAT = "possim-run/1"
# Libraries whose version changes what a run does on the wire.
_VERSIONED = ("possim", "python-escpos", "pyiso8583", "pyemv", "Pillow")


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def relative(path: Path, root: Path) -> str:
    """``path`` as a link from ``root`` (forward slashes, for HTML and JSON alike)."""
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def load_events(artifacts: Path) -> list[dict[str, Any]]:
    transcript = artifacts / "transcript.jsonl"
    if not transcript.exists():
        return []
    with transcript.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def steps_of(result: ScenarioResult, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every step with what became of it, from the transcript's step events."""
    started: dict[int, tuple[StepStarted, float]] = {}
    for event in events:
        begun = StepStarted.from_record(event)
        if begun is not None:
            started[begun.line] = (begun, event["at"])
    failed_line = (
        result.failure.step.line
        if result.failure is not None and result.failure.step is not None
        else None
    )
    steps: list[dict[str, Any]] = []
    for step in result.scenario.steps:
        found = started.get(step.line)
        if found is None:
            outcome, at, description = "not run", None, step.describe()
        else:
            outcome = "failed" if step.line == failed_line else "passed"
            at, description = found[1], found[0].description
        steps.append(
            {
                "line": step.line,
                "keyword": step.keyword,
                "description": description,
                "result": outcome,
                "at": at,
            }
        )
    return steps


def scenario_record(result: ScenarioResult, label: str, root: Path) -> dict[str, Any]:
    events = load_events(result.artifacts)
    receipts = sorted(result.artifacts.glob("receipt-*.png"))
    return {
        "file": str(result.scenario.path),
        "name": result.scenario.name,
        "label": label,
        "purpose": result.scenario.purpose,
        "terminal": result.scenario.terminal,
        "seed": result.used_seed,
        "result": "skipped" if result.skipped else "passed" if result.passed else "failed",
        "skipped": result.skipped or None,
        "failure": result.failure_text or None,
        "failure_location": result.failure_location or None,
        "rerun": None if result.passed else rerun_command(result),
        "seconds": round(result.seconds, 3),
        "setup": dict(result.setup),
        "artifacts": relative(result.artifacts, root),
        "receipts": [
            relative(result.artifacts / receipt_png_name(index), root)
            for index in range(1, len(receipts) + 1)
        ],
        "speech": [said.text for said in map(Said.from_record, events) if said is not None],
        "steps": steps_of(result, events),
        "events": events,
    }


def invalid_record(error: ScenarioError) -> dict[str, Any]:
    """``run.json``'s entry for a scenario file that did not parse."""
    return {"file": str(error.path), "line": error.line, "error": str(error)}


def run_record(
    results: Sequence[ScenarioResult],
    root: Path,
    run_info: Mapping[str, Any],
    invalid: Sequence[ScenarioError] = (),
) -> dict[str, Any]:
    return assemble_run_record(
        [
            scenario_record(result, label, root)
            for result, label in zip(results, labels(results), strict=True)
        ],
        run_info,
        [invalid_record(error) for error in invalid],
        seconds=sum(result.seconds for result in results),
    )


def relabelled(scenarios: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Scenario records gathered one by one (e.g. from xdist workers), labelled as a run."""
    named = label_runs([(s["file"], s["name"], s["seed"]) for s in scenarios])
    return [{**scenario, "label": label} for scenario, label in zip(scenarios, named, strict=True)]


def assemble_run_record(
    scenarios: Sequence[Mapping[str, Any]],
    run_info: Mapping[str, Any],
    invalid: Sequence[Mapping[str, Any]] = (),
    *,
    seconds: float | None = None,
) -> dict[str, Any]:
    """The whole record around per-scenario records (:func:`scenario_record`'s, as JSON)."""
    passed = sum(scenario["result"] == "passed" for scenario in scenarios)
    skipped = sum(scenario["result"] == "skipped" for scenario in scenarios)
    if seconds is None:
        seconds = sum(scenario["seconds"] for scenario in scenarios)
    return {
        "format": FORMAT,
        "run": {
            **run_info,
            "versions": {**versions(), **run_info.get("versions", {})},
            "totals": {
                "scenarios": len(scenarios),
                "passed": passed,
                "skipped": skipped,
                "failed": len(scenarios) - passed - skipped,
                "invalid": len(invalid),
                "seconds": round(seconds, 3),
            },
        },
        "invalid": [dict(item) for item in invalid],
        "scenarios": [dict(scenario) for scenario in scenarios],
    }


def write_run_record(record: Mapping[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
