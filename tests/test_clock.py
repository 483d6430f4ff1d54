from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from drivers.clock import RealClock, poll_until
from simulator.clock import DEFAULT_EPOCH, VirtualClock
from simulator.errors import ClockStalled


def test_lone_wait_jumps_to_its_deadline_instantly() -> None:
    clock = VirtualClock()
    assert clock.wait_until(lambda: False, 30.0) is False
    assert clock.monotonic() == pytest.approx(30.0)
    assert clock.now() == DEFAULT_EPOCH + timedelta(seconds=30)


def test_busy_actor_holds_time_still() -> None:
    clock = VirtualClock(stall_timeout=5)
    release = threading.Event()
    outcome: list[bool] = []

    def waiter() -> None:
        outcome.append(clock.wait_until(release.is_set, 10.0))

    with clock.actor():
        thread = threading.Thread(target=waiter)
        thread.start()
        # While we (an actor) are busy the waiter's deadline cannot be reached.
        clock.settle()
        assert clock.monotonic() == 0.0
        release.set()
        clock.notify()
    thread.join(5)
    assert outcome == [True]
    assert clock.monotonic() == 0.0


def test_work_in_flight_holds_time_until_done() -> None:
    clock = VirtualClock(stall_timeout=5)
    clock.work_begun()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(clock.wait_until(lambda: False, 5.0)))
    thread.start()
    thread.join(0.2)  # only checks it is still blocked, the assertions do not rely on timing
    assert thread.is_alive()
    assert clock.monotonic() == 0.0
    clock.work_done()
    thread.join(5)
    assert result == [False]
    assert clock.monotonic() == pytest.approx(5.0)


def test_earliest_deadline_wins() -> None:
    clock = VirtualClock(stall_timeout=5)
    woke: list[tuple[str, float]] = []
    registered = threading.Barrier(3)

    def sleeper(name: str, seconds: float) -> None:
        with clock.actor():
            registered.wait(5)
            clock.sleep(seconds)
            woke.append((name, clock.monotonic()))

    threads = [
        threading.Thread(target=sleeper, args=(n, s)) for n, s in (("long", 9), ("short", 3))
    ]
    with clock.actor():
        for thread in threads:
            thread.start()
        registered.wait(5)  # both are actors before anyone may go idle
    for thread in threads:
        thread.join(5)
    assert sorted(woke, key=lambda item: item[1]) == [("short", 3.0), ("long", 9.0)]


def test_waiting_forever_with_nobody_else_is_reported() -> None:
    clock = VirtualClock(stall_timeout=0.2)
    with pytest.raises(ClockStalled, match="stalled"):
        clock.wait_until(lambda: False, None)


def test_start_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone"):
        VirtualClock(DEFAULT_EPOCH.replace(tzinfo=None))


def test_poll_until_sees_a_change_nobody_notifies_about() -> None:
    changed = threading.Event()
    clock = RealClock()
    threading.Thread(target=changed.set).start()  # no clock.notify(), like a real reader
    assert poll_until(clock, changed.is_set, timeout=5.0, interval=0.01)


def test_poll_until_gives_up_at_the_timeout_on_virtual_time() -> None:
    clock = VirtualClock()
    assert not poll_until(clock, lambda: False, timeout=30.0)
    assert clock.monotonic() == pytest.approx(30.0)
