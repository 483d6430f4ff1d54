"""500 concurrent simulated terminals against one gateway: latency and losses.

The gateway is ``possim gateway serve --quiet`` in its own process, on a fresh
ledger; the terminals are :mod:`simulator.fleet.wire` (asyncio, one TCP connection
and one terminal id each, magnetic-stripe 0200s) in this process. Two phases:

1. *paced*: every terminal sends a purchase, waits for its 0210, thinks
   0.5-1.5 x ``--think`` seconds (1 by default: 500 terminals offer ~450
   purchases/s, each terminal one a second -- far busier than any real shop)
   and sends the next. Budget (DESIGN.md section 6): p99 authorisation latency
   < 100 ms, nothing lost or duplicated.
2. *saturation*: the same terminals back to back (no think time): the most
   the gateway answers per second; latency there is queueing (Little's law:
   terminals / throughput), reported, not budgeted.

After both, the gateway is stopped and its ledger read: every answered
purchase must be there exactly once with the RRN its terminal received, and
the ledger holds nothing else.

3. *locust*: the same machine, a fresh gateway (``--sim-customers``) and
   possim's Locust users (:mod:`simulator.loadtest`): ``--locust-users``
   terminals (200) doing the realistic mixed load -- chip sales with ARQCs,
   online PINs, swipes, voids, refunds, reversals, batch closes and QR
   payments -- for ``--locust-seconds`` (30), from a Locust master and
   ``--locust-workers`` workers (2; 0: one Locust process), each terminal
   thinking 0.5-1.5 s between transactions. Reported: requests per second
   and p50/p95/p99 per transaction type from Locust's CSV, and the ledger
   check (:mod:`simulator.loadtest.ledger_check`): a loss or a double is a
   failure. ``--locust-users 0`` skips it.

The gateway process's CPU time per purchase and its resident memory after each
phase are reported too (from /proc): memory after saturation no higher than
after the paced phase shows the event window at work (``--keep-events``).
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import tempfile
from pathlib import Path

from drivers.clock import RealClock
from simulator.bench import BenchmarkFailed, Measurement
from simulator.devices import cards
from simulator.fleet.gateway_process import GatewayProcess, ProcessUsage
from simulator.fleet.plan import FleetPlan
from simulator.fleet.report import FleetReport, percentile
from simulator.fleet.wire import run_fleet
from simulator.gateway.ledger import Ledger
from simulator.loadtest.errors import LoadTestError
from simulator.loadtest.ledger_check import check_ledger
from simulator.loadtest.process import RECORDS, run_locust
from simulator.terminal.config import HostEndpoint

DEFAULT_TERMINALS = 500
DEFAULT_PER_TERMINAL = 10
DEFAULT_THINK = 1.0
SATURATION_PER_TERMINAL = 4
BUDGET_P99_MS = 100.0
DEFAULT_LOCUST_USERS = 200
DEFAULT_LOCUST_SECONDS = 30
DEFAULT_LOCUST_WORKERS = 2


def run(options: argparse.Namespace) -> Measurement:
    terminals = getattr(options, "terminals", 0) or DEFAULT_TERMINALS
    think = getattr(options, "think", None)
    think = DEFAULT_THINK if think is None else think
    per_terminal = max(1, (options.count or terminals * DEFAULT_PER_TERMINAL) // terminals)
    card = cards.load("unionpay_debit")
    gc.freeze()  # as possim fleet does: this process's collections are not the gateway's latency
    with tempfile.TemporaryDirectory(prefix="possim-bench-gateway-") as folder:
        ledger = Path(folder) / "ledger.sqlite"
        gateway = GatewayProcess(ledger, cwd=Path(folder))
        port = gateway.start()
        try:
            started = gateway.usage()
            endpoint = HostEndpoint("127.0.0.1", port)
            paced = run_fleet(
                FleetPlan(endpoint, terminals, per_terminal, card, think=think, seed=options.seed)
            )
            after_paced = gateway.usage()
            saturated = run_fleet(
                FleetPlan(
                    endpoint,
                    terminals,
                    SATURATION_PER_TERMINAL,
                    card,
                    tid_prefix="SAT",  # new keys: no retransmission of phase 1's
                    seed=options.seed,
                )
            )
            after_saturation = gateway.usage()
        finally:
            status = gateway.stop()
        if status != 0:
            raise BenchmarkFailed(f"the gateway exited with status {status}: {gateway.output[-5:]}")
        ledger_problems = _ledger_problems(ledger, (paced, saturated))
    p99_ms = percentile(paced.latencies, 0.99) * 1000
    problems = [*_fleet_problems(paced), *_fleet_problems(saturated), *ledger_problems]
    details = {
        "terminals": terminals,
        "paced": f"{paced.sent} purchases, think {think} s, "
        f"{paced.throughput:.0f}/s, p50 {percentile(paced.latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {p99_ms:.1f} ms, max {max(paced.latencies) * 1000:.1f} ms",
        "saturation": f"{saturated.sent} purchases back to back, "
        f"{saturated.throughput:.0f}/s, p50 "
        f"{percentile(saturated.latencies, 0.5) * 1000:.1f} ms, "
        f"p99 {percentile(saturated.latencies, 0.99) * 1000:.1f} ms",
        "lost or duplicated": "none" if not problems else "; ".join(problems),
        "latency budget": f"p99 < {BUDGET_P99_MS:g} ms: "
        + ("OK" if p99_ms < BUDGET_P99_MS else "OVER"),
        "gateway CPU": _cpu_text(
            started, after_paced, after_saturation, paced.sent, saturated.sent
        ),
        "gateway memory": f"RSS {after_paced.rss_mib:.1f} MiB after paced, "
        f"{after_saturation.rss_mib:.1f} MiB after saturation",
        # Latency tails on a shared machine follow its load: say what it was.
        "load average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    details.update(_locust_phase(options))
    if problems:  # losing or doubling a purchase is a failure, not a figure
        shown = "\n".join(f"  {key}: {value}" for key, value in details.items())
        raise BenchmarkFailed(f"gateway benchmark failed:\n{shown}")
    return Measurement(figure=p99_ms, unit="ms p99 authorisation latency", details=details)


def _locust_phase(options: argparse.Namespace) -> dict[str, str]:
    """Phase 3: possim's Locust users against a fresh gateway; its figures by request name."""
    users = getattr(options, "locust_users", None)
    users = DEFAULT_LOCUST_USERS if users is None else users
    if users <= 0:
        return {}
    if importlib.util.find_spec("locust") is None:  # an optional extra (possim[locust])
        return {"locust": "skipped: Locust is not installed (pip install 'possim[locust]')"}
    seconds = getattr(options, "locust_seconds", None) or DEFAULT_LOCUST_SECONDS
    workers = getattr(options, "locust_workers", None)
    workers = DEFAULT_LOCUST_WORKERS if workers is None else workers
    with tempfile.TemporaryDirectory(prefix="possim-bench-locust-") as name:
        folder = Path(name)
        gateway = GatewayProcess(folder / "ledger.sqlite", "--sim-customers", cwd=folder)
        gateway.start(timeout=120)
        started = gateway.usage()
        try:
            stats = run_locust(
                folder,
                [
                    *("-u", str(users), "-r", str(max(1, users // 4)), "-t", f"{seconds}s"),
                    *("--host", f"iso8583://127.0.0.1:{gateway.port}"),
                    *("--possim-qr-url", gateway.qr_url, "--possim-seed", str(options.seed)),
                ],
                workers=workers,
                deadline=seconds + 300,
            )
            used = gateway.usage()
        except LoadTestError as exc:
            raise BenchmarkFailed(f"the Locust phase failed: {exc}") from None
        finally:
            status = gateway.stop()
        if status != 0:
            raise BenchmarkFailed(f"the gateway exited with status {status}: {gateway.output[-5:]}")
        check = check_ledger(gateway.ledger, folder / RECORDS)
    total = next(row for row in stats if row.name == "Aggregated")
    failures = [row for row in stats if row.failures and row.name != "Aggregated"]
    shape = f"1 master + {workers} workers" if workers else "1 process"
    details = {
        "locust": f"{users} terminals for {seconds} s ({shape}), mixed card + QR load: "
        f"{total.requests} requests, {total.per_second:.0f}/s, p50 {total.p50_ms:g} ms, "
        f"p95 {total.p95_ms:g} ms, p99 {total.p99_ms:g} ms; gateway CPU "
        f"{(used.cpu_seconds - started.cpu_seconds) / max(1, total.requests) * 1000:.2f} ms "
        "per request",
        **{
            f"locust {row.kind} {row.name}": f"{row.requests} ({row.per_second:.1f}/s), "
            f"p50 {row.p50_ms:g} ms, p95 {row.p95_ms:g} ms, p99 {row.p99_ms:g} ms"
            for row in stats
            if row.name != "Aggregated"
        },
        "locust ledger check": "; ".join(check.lines()),
    }
    if check.problems or failures:
        shown = "; ".join(
            [*check.problems[:3], *(f"{r.name}: {r.failures} failed" for r in failures)]
        )
        raise BenchmarkFailed(f"the Locust phase lost, doubled or failed requests: {shown}")
    return details


def _cpu_text(
    start: ProcessUsage, paced: ProcessUsage, saturated: ProcessUsage, n_paced: int, n_sat: int
) -> str:
    per_paced = (paced.cpu_seconds - start.cpu_seconds) / max(1, n_paced) * 1000
    per_sat = (saturated.cpu_seconds - paced.cpu_seconds) / max(1, n_sat) * 1000
    return f"{per_paced:.2f} ms per purchase paced, {per_sat:.2f} ms saturated"


def _fleet_problems(report: FleetReport) -> list[str]:
    problems = []
    if report.sent != report.planned:
        problems.append(f"{report.planned - report.sent} purchases never sent")
    if report.lost:
        problems.append(f"{len(report.lost)} lost ({report.lost[0].problem})")
    if report.mismatched:
        problems.append(f"{len(report.mismatched)} mismatched answers")
    if len(report.approved) != report.sent:
        problems.append(f"{report.sent - len(report.approved)} not approved")
    return problems


def _ledger_problems(path: Path, reports: tuple[FleetReport, ...]) -> list[str]:
    with Ledger(path, RealClock()) as ledger:
        rows = ledger.transactions()
    by_key: dict[tuple[str, str, str], list[str | None]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row.rrn)
    problems = []
    answered = [outcome for report in reports for outcome in report.answered]
    for outcome in answered:
        rrns = by_key.get((outcome.tid, outcome.stan, outcome.transmission), [])
        if rrns != [outcome.rrn]:
            problems.append(
                f"{outcome.tid}/{outcome.stan}: ledger RRNs {rrns}, answered {outcome.rrn}"
            )
            break
    if len(rows) != len(answered):
        problems.append(f"ledger holds {len(rows)} purchases, {len(answered)} were answered")
    return problems
