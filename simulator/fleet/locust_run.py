"""``possim fleet`` on Locust: the plan's terminals as Locust users in one headless child.

:func:`run_fleet_on_locust` writes a one-line locustfile (``FleetTerminal``,
:mod:`simulator.loadtest.user`), runs ``python -m locust --headless`` with one
user per terminal (terminal ids ``--tid-prefix`` + number, the plan's card,
amount, think time, timeout and MAC key) each doing ``--transactions``
purchases, and builds the fleet's :class:`~.report.FleetReport` from the
records every request left (:mod:`simulator.loadtest.record`): the response
code, RRN and auth code, or why there was none, and the latency. Locust and
gevent stay in the child; Ctrl-C here ends the child first.

The asyncio engine (:mod:`.wire`) stays: ``possim bench gateway`` runs it as the
baseline beside its Locust phase.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from simulator.fleet.errors import FleetError
from simulator.fleet.plan import FleetPlan, terminal_ids
from simulator.fleet.report import FleetReport, Outcome
from simulator.loadtest.errors import LoadTestError
from simulator.loadtest.record import read_records

LOCUSTFILE = "from possim.locust import FleetTerminal\n\n__all__ = ['FleetTerminal']\n"
STOP_GRACE = 30.0  # seconds a child asked to stop (SIGTERM) has before it is killed


def run_fleet_on_locust(plan: FleetPlan) -> FleetReport:
    if plan.terminals < 1 or plan.transactions < 1:
        raise FleetError("a fleet needs at least one terminal and one transaction")
    first, *_ = terminal_ids(1, plan.tid_prefix)
    last = first[: len(plan.tid_prefix)] + "9" * (8 - len(plan.tid_prefix))
    terminal_ids(plan.terminals, plan.tid_prefix)  # refuses a prefix too long for the count
    endpoint = plan.endpoint
    query = [f"spec={endpoint.spec}", f"header={endpoint.header}"]
    if endpoint.tpdu:
        query.append(f"tpdu={endpoint.tpdu.hex().upper()}")
    if endpoint.mac:
        query.append(f"mac={endpoint.mac}")
    host = f"iso8583://{endpoint.host}:{endpoint.port}?{'&'.join(query)}"
    with tempfile.TemporaryDirectory(prefix="possim-fleet-") as name:
        folder = Path(name)
        (folder / "locustfile.py").write_text(LOCUSTFILE, encoding="utf-8")
        options = [
            *("-f", "locustfile.py", "--headless", "--only-summary", "--loglevel", "WARNING"),
            *("-u", str(plan.terminals), "-r", str(plan.terminals), "--host", host),
            *("--possim-tids", f"{first}-{last}", "--possim-mid", plan.merchant_id),
            *("--possim-card", str(plan.card.source or plan.card.name)),
            *("--possim-amount-fen", str(plan.amount_fen)),
            *("--possim-transactions", str(plan.transactions)),
            *("--possim-think", str(plan.think), "--possim-timeout", str(plan.timeout)),
            *("--possim-seed", str(plan.seed), "--possim-record", "records"),
        ]
        if plan.mac_key is not None:
            key_file = folder / "mac.key"
            key_file.touch(mode=0o600)
            key_file.write_text(plan.mac_key.hex().upper(), encoding="ascii")
            options += ["--possim-mac-key-file", str(key_file)]
        started = time.time()
        status, log = _run(folder, options, deadline=plan.timeout * (plan.transactions + 2) + 300)
        if status != 0 and not (folder / "records").is_dir():
            raise FleetError(f"Locust exited with status {status}: {log}")
        try:
            records = (
                list(read_records(folder / "records")) if (folder / "records").is_dir() else []
            )
        except LoadTestError as exc:
            raise FleetError(str(exc)) from None
    outcomes = tuple(_outcome(record) for record in records if record.get("mti") == "0200")
    ends = [float(str(record["at"])) for record in records if "at" in record]
    begins = [float(str(record["at"])) - float(str(record.get("seconds", 0))) for record in records]
    seconds = (max(ends) - min(begins)) if ends else time.time() - started
    return FleetReport(plan, outcomes, seconds)


def _outcome(record: dict[str, object]) -> Outcome:
    tid, stan, transmission = (str(record[key]) for key in ("tid", "stan", "transmission"))
    if "rc" not in record:
        return Outcome(tid, stan, transmission, None, 0.0, problem=str(record.get("error", "")))
    return Outcome(
        tid,
        stan,
        transmission,
        str(record["rc"]),
        float(str(record.get("seconds", 0))),
        rrn=str(record.get("rrn", "")),
        auth_code=str(record.get("auth", "")),
    )


def _run(folder: Path, options: list[str], deadline: float) -> tuple[int, str]:
    log_path = folder / "locust.log"
    with log_path.open("w", encoding="utf-8") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "locust", *options],
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        status = child.wait(deadline)
    except subprocess.TimeoutExpired:
        _stop(child)
        raise FleetError(f"the fleet's Locust run outlived {deadline:g} s") from None
    except BaseException:  # Ctrl-C: the child ends first, then the interruption goes on
        _stop(child)
        raise
    text = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return status, " | ".join(text[-3:])


def _stop(child: subprocess.Popen[bytes]) -> None:
    child.terminate()
    try:
        child.wait(STOP_GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
