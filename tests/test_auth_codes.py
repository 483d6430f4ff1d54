"""Auth codes (DE38): never re-issued by a ledger, unpredictable on a real host.

A real host never hands out the same approval code again after a restart, and
nobody can guess the next one (a void names its sale by RRN and auth code).
``possim gateway serve`` draws them from the OS's random source and skips any
code its ledger already holds; simulations keep a seeded generator, so their
transcripts repeat run after run.
"""

from __future__ import annotations

import random
from pathlib import Path

from test_gateway_host import DE7, exchange, make_host, purchase

from drivers.clock import RealClock
from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.ledger import Ledger
from simulator.gateway.magic import MagicAmounts
from simulator.wire.iso8583 import Iso8583Codec, Iso8583Spec

SALES = 20
START_TIMEOUT = 60.0


def approve(host: AcquirerHost, first_stan: int, count: int = SALES) -> list[str]:
    codes = []
    for number in range(first_stan, first_stan + count):
        reply = host.handle(purchase(10000 + 100 * number, f"{number:06d}"))
        assert reply is not None and reply["39"] == "00"
        codes.append(reply["38"])
    return codes


def served_codes(gateway: GatewayProcess, first_stan: int) -> list[str]:
    port = gateway.start(START_TIMEOUT)
    try:
        codes = []
        for number in range(first_stan, first_stan + SALES):
            reply = exchange(("127.0.0.1", port), purchase(10000 + 100 * number, f"{number:06d}"))
            assert reply["39"] == "00"
            codes.append(reply["38"])
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    return codes


def test_a_restarted_gateway_does_not_reissue_auth_codes(tmp_path: Path) -> None:
    ledger = tmp_path / "gateway.sqlite"
    before = served_codes(GatewayProcess(ledger, cwd=tmp_path), 1)
    after = served_codes(GatewayProcess(ledger, cwd=tmp_path), SALES + 1)
    assert len(set(before + after)) == 2 * SALES, (before, after)
    with Ledger(ledger, RealClock()) as stored:
        assert sorted(e.auth_code for e in stored.transactions()) == sorted(before + after)


def test_two_real_hosts_do_not_share_a_sequence(tmp_path: Path) -> None:
    """Without --seed the codes come from the OS: another host draws others."""
    one = served_codes(GatewayProcess(tmp_path / "one.sqlite", cwd=tmp_path), 1)
    two = served_codes(GatewayProcess(tmp_path / "two.sqlite", cwd=tmp_path), 1)
    assert one != two


def test_a_seeded_host_repeats_its_codes_on_a_fresh_ledger_only(tmp_path: Path) -> None:
    # Simulations: the same seed on a new ledger gives the same codes (transcripts repeat).
    assert approve(make_host(RealClock(), seed=5), 1) == approve(make_host(RealClock(), seed=5), 1)
    # The same seed again on a ledger that holds them: none of them comes back.
    path = tmp_path / "gateway.sqlite"
    first = make_host(RealClock(), path, seed=5)
    issued = approve(first, 1)
    first.ledger.close()
    restarted = make_host(RealClock(), path, seed=5)
    again = approve(restarted, SALES + 1)
    assert not set(issued) & set(again)
    restarted.ledger.close()


def test_a_crowded_ledger_still_approves(tmp_path: Path) -> None:
    """Every draw collides: the sale is approved with a repeated code, not refused."""
    first = make_host(RealClock())
    taken = approve(first, 1, count=1)[0]
    # A second host on the same ledger whose every draw is that code.
    host = AcquirerHost(
        first.ledger,
        IssuerDirectory.load(),
        MagicAmounts.load(),
        RealClock(),
        _Always(int(taken)),
        Iso8583Codec(Iso8583Spec.load()),
    )
    reply = host.handle(purchase(20000, "000002"))
    assert reply is not None and (reply["39"], reply["38"]) == ("00", taken)
    assert host.ledger.find("POS00001", "000002", DE7) is not None


class _Always(random.Random):
    def __init__(self, value: int) -> None:
        super().__init__(0)
        self._value = value

    def randrange(self, *args: object, **kwargs: object) -> int:  # type: ignore[override]
        return self._value
