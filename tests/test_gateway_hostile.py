"""``possim gateway serve`` under hostile clients, then business as usual.

Random and crafted input on both ports for ``HOSTILE_SECONDS``
(:class:`simulator.gateway.hostile.HostileClients`: garbage and mutated ISO
8583 frames, frames never read back, HTTP that does not parse, deep JSON,
oversized and compressed bodies, idle connections past the connection limit,
connections stalled inside a frame or request). Then, with the idle and stalled
connections still open, a normal card purchase and a normal QR micropay and
order query must be answered (and nothing the attack sent was answered 5xx),
each within ``ANSWER_BOUND`` seconds -- a bound
generous enough for a loaded machine; they usually take milliseconds -- and the
gateway's resident memory must not have grown by more than ``RSS_GROWTH_MIB``.
A longer run of the same: ``possim bench hostile``.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

from gateway_helpers import exchange, magstripe_purchase
from qr_helpers import WECHAT, Client

from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway.hostile import HostileClients

HOSTILE_SECONDS = 6.0
ANSWER_BOUND = 10.0  # seconds for one purchase, micropay or query after the attack
RSS_GROWTH_MIB = 64.0  # the gateway's resident memory, after the attack vs before


def timed(call: object, *args: object) -> tuple[object, float]:
    started = time.monotonic()
    result = call(*args)  # type: ignore[operator]
    return result, time.monotonic() - started


def business_as_usual(gateway: GatewayProcess, n: int) -> None:
    reply, seconds = timed(exchange, ("127.0.0.1", gateway.port), magstripe_purchase(f"{n:06d}"))
    assert (reply["t"], reply["39"]) == ("0210", "00"), reply  # type: ignore[index]
    assert seconds < ANSWER_BOUND
    client = Client(gateway.qr_url)
    (status, answer), seconds = timed(client.micropay, f"OK{n}", 100, WECHAT)  # type: ignore[misc]
    assert (status, answer["result"]) == (200, "SUCCESS"), answer
    assert seconds < ANSWER_BOUND
    (status, answer), seconds = timed(client.query, f"OK{n}")  # type: ignore[misc]
    assert (status, answer["trade_state"]) == (200, "SUCCESS"), answer
    assert seconds < ANSWER_BOUND


def test_hostile_clients_then_a_purchase_and_a_qr_payment(tmp_path: Path) -> None:
    gateway = GatewayProcess(tmp_path / "gateway.sqlite", cwd=tmp_path)
    gateway.start()
    try:
        business_as_usual(gateway, 1)  # everything loaded and warm before measuring
        before = gateway.usage().rss_mib
        qr = urlsplit(gateway.qr_url)
        assert qr.hostname is not None and qr.port is not None
        clients = HostileClients(("127.0.0.1", gateway.port), (qr.hostname, qr.port), seed=1)
        try:
            report = clients.run(HOSTILE_SECONDS)
            business_as_usual(gateway, 2)  # the idle and stalled connections still open
            during = gateway.usage().rss_mib
        finally:
            clients.close()
        business_as_usual(gateway, 3)
        after = gateway.usage().rss_mib
        print(f"RSS {before:.1f} -> {during:.1f} -> {after:.1f} MiB; {report}")
        assert max(during, after) - before < RSS_GROWTH_MIB
        assert sum(report.attacks.values()) > 100  # the attack did run
        assert not report.server_errors, report.server_errors  # bad input is never a 5xx
    finally:
        status = gateway.stop()
    assert status == 0
    output = "\n".join(gateway.output)
    assert "Traceback" not in output
