"""RealClock.notify() wakes only the waiters whose condition now holds.

Every published event calls ``clock.notify()``; a thread that waits for hours
on something events do not change (the QR notifier's queue) must not be woken
by each of them. The tests count how often the waiting thread itself looks at
its condition: once or twice on the way in (under the clock's lock, so a
notify() cannot slip in between), once more per real wake-up.
"""

from __future__ import annotations

import threading

from drivers.clock import RealClock, poll_until

TIMEOUT = 30.0  # real seconds; only reached if the clock is broken


class Condition:
    """A flag whose ready() counts the calls made from the waiting thread."""

    def __init__(self) -> None:
        self.flag = False
        self.waiter: int | None = None
        self.looks = 0  # ready() calls from the waiting thread
        self.waiting = threading.Event()  # set on the first look

    def ready(self) -> bool:
        if threading.get_ident() == self.waiter:
            self.looks += 1
            self.waiting.set()
        return self.flag


def wait_in_thread(clock: RealClock, condition: Condition) -> tuple[threading.Thread, list[bool]]:
    result: list[bool] = []

    def run() -> None:
        condition.waiter = threading.get_ident()
        result.append(clock.wait_until(condition.ready, TIMEOUT))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert condition.waiting.wait(TIMEOUT)
    return thread, result


def test_notify_leaves_a_waiter_asleep_while_its_condition_is_false() -> None:
    clock = RealClock()
    condition = Condition()
    thread, result = wait_in_thread(clock, condition)
    clock.notify()  # once it has the lock the waiter is asleep
    on_the_way_in = condition.looks
    assert on_the_way_in <= 2
    for _ in range(200):  # events that do not concern the waiter
        clock.notify()
    assert condition.looks == on_the_way_in
    condition.flag = True
    clock.notify()
    thread.join(TIMEOUT)
    assert result == [True]
    assert condition.looks == on_the_way_in + 1


def test_only_the_waiter_whose_condition_holds_is_woken() -> None:
    clock = RealClock()
    first, second = Condition(), Condition()
    first_thread, first_result = wait_in_thread(clock, first)
    second_thread, second_result = wait_in_thread(clock, second)
    clock.notify()
    on_the_way_in = first.looks
    second.flag = True
    clock.notify()
    second_thread.join(TIMEOUT)
    assert second_result == [True]
    assert first.looks == on_the_way_in and first_result == []
    first.flag = True
    clock.notify()
    first_thread.join(TIMEOUT)
    assert first_result == [True]


def test_wait_until_times_out_and_sees_a_condition_already_true() -> None:
    clock = RealClock()
    assert clock.wait_until(lambda: False, 0.01) is False
    assert clock.wait_until(lambda: True, 0) is True
    assert poll_until(clock, lambda: False, 0.02, interval=0.01) is False


def test_a_condition_that_fails_raises_in_the_waiting_thread() -> None:
    clock = RealClock()
    armed = threading.Event()
    calls = 0
    broken = False

    def ready() -> bool:
        nonlocal calls
        calls += 1
        armed.set()
        if broken:
            raise LookupError("broken condition")
        return False

    errors: list[BaseException] = []

    def run() -> None:
        try:
            clock.wait_until(ready, TIMEOUT)
        except LookupError as exc:
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert armed.wait(TIMEOUT)
    clock.notify()  # once it has the lock the waiter is asleep
    broken = True
    clock.notify()  # the notifier does not raise; the waiter is woken to meet it
    thread.join(TIMEOUT)
    assert [str(e) for e in errors] == ["broken condition"]
