"""Notifies within bounds (docs/reliability.md): each delivery ends within the
notify timeout whatever the receiver does, a receiver that never finishes
answering holds up no other receiver -- on the real clock (``gateway serve``)
and on the virtual clock (simulations) -- and the pending ones are bounded.

The slow receiver is a real socket server that answers one header byte at a
time for ever: every read of the gateway's gets data in time, the answer never
completes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from qr_helpers import ALIPAY, WECHAT, DripReceiver, Receiver, running_gateway

from drivers.clock import Clock, RealClock
from simulator.clock import VirtualClock
from simulator.events import EventBus
from simulator.gateway.problems import LimitReached
from simulator.gateway.qr.channels import QrChannels
from simulator.gateway.qr.notify import Notifier, NotifyDropped, NotifyFailed

CHANNELS = QrChannels.load()
DELAY = CHANNELS.notify_delay_seconds
TIMEOUT = CHANNELS.notify_timeout_seconds
REAL_WAIT = 60.0  # real seconds to wait for what must happen (a loaded machine)


def failed(bus: EventBus, out_trade_no: str) -> list[str]:
    return [e.summary for e in bus.of(NotifyFailed) if e.payload.out_trade_no == out_trade_no]


def test_a_receiver_that_never_finishes_holds_up_no_other_on_the_real_clock(
    tmp_path: Path,
) -> None:
    clock = RealClock()
    slow, fast = DripReceiver(clock), Receiver(clock)
    try:
        with running_gateway(tmp_path, clock) as (gateway, client):
            bus = gateway.server._bus
            client.micropay("SLOW1", 100, WECHAT, notify_url=slow.url)
            assert clock.wait_until(lambda: slow.count() == 1, REAL_WAIT)
            # The slow receiver has its notify and keeps it; the next merchant's
            # notify still arrives (before: never, the one notifier thread was stuck).
            client.micropay("FAST1", 100, ALIPAY, notify_url=fast.url)
            assert clock.wait_until(lambda: fast.count() == 1, REAL_WAIT)
            # ... and the slow delivery ends at the notify timeout, counted as failed.
            assert clock.wait_until(lambda: bool(failed(bus, "SLOW1")), REAL_WAIT)
            (line,) = failed(bus, "SLOW1")
            assert f"attempt 1 failed (no answer within {TIMEOUT:g} s); retry in 15 s" in line
            assert clock.wait_until(slow.hung_up.is_set, REAL_WAIT)  # the gateway hung up
            assert failed(bus, "FAST1") == []
    finally:
        slow.close()
        fast.close()


def test_a_receiver_that_never_finishes_costs_no_virtual_time(tmp_path: Path) -> None:
    """In a simulation the schedule is virtual: the other receiver's notify comes
    at its virtual time, and the slow one's retry at the documented 15 s after its
    first attempt, however long (in real time) that attempt was held open."""
    clock = VirtualClock()
    slow, fast = DripReceiver(clock), Receiver(clock)
    try:
        with running_gateway(tmp_path, clock) as (gateway, client), clock.actor():
            bus = gateway.server._bus
            client.micropay("SLOW2", 100, WECHAT, notify_url=slow.url)
            client.micropay("FAST2", 100, ALIPAY, notify_url=fast.url)
            t0 = clock.monotonic()
            assert clock.wait_until(lambda: fast.count() == 1 and slow.count() == 2, 3600)
            assert [at - t0 for at, _, _ in fast.received] == [DELAY]
            assert [at - t0 for at in slow.attempts] == [DELAY, DELAY + 15]
            assert len(failed(bus, "SLOW2")) == 1
    finally:
        slow.close()
        fast.close()


@pytest.mark.parametrize("clock", [RealClock(), VirtualClock()], ids=["real", "virtual"])
def test_pending_notifies_are_bounded(clock: Clock) -> None:
    bus = EventBus(clock)
    notifier = Notifier(clock, bus, max_pending=3)
    notifier.start()
    try:
        for n in range(5):
            notifier.send(
                order_id=n,
                out_trade_no=f"Q{n}",
                url="http://127.0.0.1:9/notify",
                body={"n": n},
                key="k",
                schedule=[15],
                delay=3600 + n,  # not due during the test
            )
        assert notifier.pending == 3
        dropped = [e.payload.out_trade_no for e in bus.of(NotifyDropped)]
        assert dropped == ["Q2", "Q3"]  # the latest due of those never tried
        (line,) = [e.summary for e in bus.of(LimitReached)]
        assert line == (
            "notify queue full (3 pending): dropping the notifies retried most often to make room"
        )
    finally:
        notifier.stop()
