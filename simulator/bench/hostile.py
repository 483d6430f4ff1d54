"""Hostile clients on both ports of one gateway for a minute: memory and service.

The gateway is ``possim gateway serve --quiet`` in its own process;
:class:`simulator.gateway.hostile.HostileClients` attacks both ports from this
one for ``--count`` seconds (60 by default): garbage and mutated ISO 8583
frames, HTTP that does not parse, deep JSON, oversized and compressed bodies,
idle connections past the connection limit and connections stalled inside a
frame or request (the long run of tests/test_gateway_hostile.py). Then, with
the idle and stalled connections still open, one card purchase, one QR
micropay and one order query must be answered.

The figure is the growth of the gateway's resident memory over the attack
(budget: under 64 MiB, as the test asserts for its shorter run). Any answer
5xx, or a purchase or payment not answered, fails the benchmark.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

from simulator.bench import Measurement
from simulator.devices import cards
from simulator.fleet.gateway_process import GatewayProcess
from simulator.fleet.plan import FleetPlan
from simulator.fleet.wire import run_fleet
from simulator.gateway.hostile import HostileClients
from simulator.gateway.qr.channels import Merchants
from simulator.terminal.config import HostEndpoint
from simulator.terminal.qr_link import QrLink

DEFAULT_SECONDS = 60
BUDGET_MIB = 64.0
MERCHANT = "898310048990001"
WECHAT_CODE = "134567890123456789"


def run(options: argparse.Namespace) -> Measurement:
    seconds = options.count or DEFAULT_SECONDS
    with tempfile.TemporaryDirectory(prefix="possim-bench-hostile-") as folder:
        gateway = GatewayProcess(Path(folder) / "ledger.sqlite", cwd=Path(folder))
        gateway.start()
        try:
            _business(gateway, "W")  # warm: everything loaded before measuring
            before = gateway.usage()
            qr = urlsplit(gateway.qr_url)
            assert qr.hostname is not None and qr.port is not None
            clients = HostileClients(
                ("127.0.0.1", gateway.port), (qr.hostname, qr.port), seed=options.seed
            )
            try:
                report = clients.run(seconds)
                during = gateway.usage()
                latencies = _business(gateway, "H")
            finally:
                clients.close()
            after = gateway.usage()
        finally:
            status = gateway.stop()
    growth = max(during.rss_mib, after.rss_mib) - before.rss_mib
    details = {
        "attacks": f"{sum(report.attacks.values())} in {seconds} s, "
        f"{report.bytes_sent / 1e6:.0f} MB sent, {report.held} connections held at the end",
        "answered 5xx": dict(report.server_errors) or "none",
        "gateway memory": f"RSS {before.rss_mib:.1f} MiB before, {during.rss_mib:.1f} at the "
        f"end of the attack, {after.rss_mib:.1f} after",
        "gateway CPU": f"{after.cpu_seconds - before.cpu_seconds:.1f} s over the attack",
        "after the attack": ", ".join(f"{name} {ms:.1f} ms" for name, ms in latencies.items()),
        "memory budget": f"growth < {BUDGET_MIB:g} MiB: "
        + ("OK" if growth < BUDGET_MIB else "OVER"),
        "load average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }
    if report.server_errors or status != 0:
        shown = "\n".join(f"  {key}: {value}" for key, value in details.items())
        raise RuntimeError(f"hostile benchmark failed (exit status {status}):\n{shown}")
    return Measurement(figure=growth, unit="MiB RSS growth", details=details)


def _business(gateway: GatewayProcess, tag: str) -> dict[str, float]:
    """One purchase, one micropay, one query; each one's latency in ms."""
    card = cards.load("unionpay_debit")
    plan = FleetPlan(HostEndpoint("127.0.0.1", gateway.port), 1, 1, card, tid_prefix=f"HO{tag}")
    (outcome,) = run_fleet(plan).outcomes
    if outcome.response_code != "00":
        raise RuntimeError(f"purchase after the attack: {outcome.response_code} {outcome.problem}")
    merchant = Merchants.load().get(MERCHANT)
    assert merchant is not None
    link = QrLink(
        gateway.qr_url, merchant_id=MERCHANT, terminal_id="HOSTILE1", api_key=merchant.api_key,
        bus=None,
    )  # fmt: skip
    started = time.monotonic()
    paid = link.micropay(f"HOSTILE{tag}", 100, WECHAT_CODE, "bench")
    paid_ms = (time.monotonic() - started) * 1000
    started = time.monotonic()
    queried = link.query(f"HOSTILE{tag}")
    query_ms = (time.monotonic() - started) * 1000
    if paid.get("result") != "SUCCESS" or queried.get("trade_state") != "SUCCESS":
        raise RuntimeError(f"QR payment after the attack: {paid} / {queried}")
    return {"purchase": outcome.latency * 1000, "micropay": paid_ms, "query": query_ms}
