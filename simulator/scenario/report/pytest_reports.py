"""``--pos-report DIR`` for pytest: the run record and HTML summary of the scenario items run.

Each :class:`~simulator.scenario.pytest_plugin.ScenarioItem` stashes its run.json
record (:data:`records_key`; invalid files under :data:`invalid_key`). Under xdist
each worker sends its records to the controller (``workeroutput``, read in
:func:`pytest_testnodedown`), which writes the one report in collection order.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from simulator.errors import ScenarioError

# What an xdist worker hands the controller in ``workeroutput``: JSON-able (execnet).
WORKER_OUTPUT_KEY = "possim_report"

# A run.json scenario record and the item's place in the collection (the report's order).
Placed = tuple[int, dict[str, Any]]

records_key = pytest.StashKey[list[Placed]]()
invalid_key = pytest.StashKey[list["ScenarioError"]]()
from_workers_key = pytest.StashKey["FromWorkers"]()


def report_root(config: pytest.Config) -> Path | None:
    """``--pos-report``'s folder, absolute (records' paths are relative to it)."""
    chosen: Path | None = config.getoption("pos_report", None)
    return None if chosen is None else chosen.resolve()


class FromWorkers:
    """What the xdist controller received: each worker's records, and workers lost on the way."""

    def __init__(self) -> None:
        self.records: list[Placed] = []
        self.invalid: list[dict[str, Any]] = []
        self.workers: list[str] = []
        self.lost: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object | None) -> None:
    """xdist controller: keep what a worker sent (its session ended) for the one report."""
    received = node.config.stash.get(from_workers_key, None)
    if received is None or report_root(node.config) is None:
        return
    worker = str(node.workerinput["workerid"])
    output = getattr(node, "workeroutput", {}).get(WORKER_OUTPUT_KEY)
    if output is None:  # it crashed: the items it ran are missing from the report
        received.lost.append(worker)
        return
    received.workers.append(worker)
    received.records.extend((int(position), record) for position, record in output["scenarios"])
    received.invalid.extend(output["invalid"])


def pytest_sessionfinish(session: pytest.Session) -> None:
    """``--pos-report DIR``: the run record and HTML summary of the scenario items run.

    An xdist worker writes nothing: it sends its records to the controller,
    which writes one report of every worker's items, in collection order.
    """
    config = session.config
    out_dir = report_root(config)
    if out_dir is None:
        return
    from simulator.scenario.report.run_record import invalid_record

    placed = config.stash.get(records_key, []).copy()
    invalid = [invalid_record(error) for error in config.stash.get(invalid_key, [])]
    workeroutput: dict[str, Any] | None = getattr(config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput[WORKER_OUTPUT_KEY] = {
            "scenarios": [[position, record] for position, record in placed],
            "invalid": invalid,
        }
        return
    run_info: dict[str, Any] = {
        "runner": "pytest",
        "args": " ".join(config.invocation_params.args),
    }
    received = config.stash.get(from_workers_key, None)
    if received is not None and (received.workers or received.lost):
        placed += received.records
        invalid += received.invalid
        run_info["xdist_workers"] = sorted(received.workers)
        if received.lost:
            run_info["xdist_workers_lost"] = sorted(received.lost)
    invalid = _unique(invalid)  # every worker collects every file
    if not (placed or invalid or "xdist_workers_lost" in run_info):
        return
    seed = config.getoption("pos_seed", None)
    if seed is not None:
        run_info["seed"] = str(seed)
    from simulator.scenario.report import write_reports_from_records

    placed.sort(key=lambda pair: pair[0])  # workers finish in any order; collection order is one
    scenarios = [record for _, record in placed]
    write_reports_from_records(scenarios, out_dir, run_info, invalid=invalid)


def _unique(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    kept: list[dict[str, Any]] = []
    for entry in entries:
        key = (entry["file"], entry["line"], entry["error"])
        if key not in seen:
            seen.add(key)
            kept.append(entry)
    return kept
