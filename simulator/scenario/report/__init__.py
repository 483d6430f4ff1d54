"""Reports of a scenario run: ``run.json``, ``index.html`` and JUnit XML.

:func:`write_reports` is the one entry point: ``possim run`` calls it and so
can the pytest plugin. Per-scenario artifacts (receipt PNGs, per-device
transcripts) are written by the runner itself, through
:mod:`simulator.scenario.report.artifacts`; the formats are in docs/reports.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.errors import ScenarioError
from simulator.scenario.report.html import write_index
from simulator.scenario.report.rerun import rerun_command
from simulator.scenario.report.run_record import (
    assemble_run_record,
    relabelled,
    run_record,
    versions,
    write_run_record,
)

if TYPE_CHECKING:
    from simulator.scenario.runner import ScenarioResult

__all__ = ["rerun_command", "versions", "write_reports", "write_reports_from_records"]


def write_reports(
    results: Sequence[ScenarioResult],
    out_dir: Path,
    run_info: Mapping[str, Any] | None = None,
    *,
    invalid: Sequence[ScenarioError] = (),
    junit: Path | None = None,
) -> None:
    """``out_dir/run.json`` and ``out_dir/index.html``; JUnit XML too when ``junit`` is given.

    ``run_info`` is the run's own record (seed, options ...; optional), copied into
    ``run.json``'s ``run`` object and the JUnit testsuite's properties;
    ``invalid`` are the scenario files that did not parse.
    """
    # Imported here: junit imports the report package's modules.
    from simulator.scenario.report.junit import write_junit

    run_info = run_info or {}
    record = run_record(results, out_dir, run_info, invalid)
    write_run_record(record, out_dir / "run.json")
    write_index(record, out_dir)
    if junit is not None:
        write_junit(results, invalid, junit, run_info=run_info)


def write_reports_from_records(
    scenarios: Sequence[Mapping[str, Any]],
    out_dir: Path,
    run_info: Mapping[str, Any] | None = None,
    *,
    invalid: Sequence[Mapping[str, Any]] = (),
) -> None:
    """``out_dir/run.json`` and ``out_dir/index.html`` from serialised records.

    ``scenarios`` are ``run.json`` scenario records (as
    :func:`~simulator.scenario.report.run_record.scenario_record` makes them, with
    paths relative to ``out_dir``), in run order; their labels are made again
    for the whole run. ``invalid`` are ``run.json`` ``invalid`` entries. The
    pytest plugin writes the one report of an xdist run with this, from the
    records its workers sent.
    """
    record = assemble_run_record(relabelled(scenarios), run_info or {}, invalid)
    write_run_record(record, out_dir / "run.json")
    write_index(record, out_dir)
