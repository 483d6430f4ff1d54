"""The event bus keeps everything in a simulation and a bounded window in a server.

A simulation's bus keeps every event (scenarios read the whole history); a
long-running ``possim gateway serve`` keeps the last ``--keep-events`` while
its subscribers still see every event. The gateway test drives 20,000
authorisations through the real TCP server and counts what the last 16,000 of
them leave behind: the events kept and every object the collector tracks.
"""

from __future__ import annotations

import gc
import random
import socket
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from drivers.clock import RealClock
from simulator.cli import main
from simulator.cli.gateway import DEFAULT_KEEP_EVENTS
from simulator.clock import VirtualClock
from simulator.errors import SimulatorError
from simulator.events import Envelope, Event, EventBus, EventPayload, EventsDropped
from simulator.gateway.builtin import BuiltinGateway
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec

PAN = "6214830027183655"
TRACK2 = f"{PAN}=30122011234567800000"
CODEC = Iso8583Codec(Iso8583Spec.load())
FRAMING = Framing()
WARM_UP = 4_000  # fills the window several times over before measuring
MEASURED = 16_000
TERMINALS = 4
WINDOW = 50  # requests in flight per connection
# Kept, 16,000 authorisations' events (2 each, 3 tracked objects apiece with
# their decoded fields, measured) would be ~100,000 more objects and 32,000 more
# events; with the window what is left is noise (asyncio handles, caches, and
# whatever other tests' daemon threads in this worker process allocate meanwhile:
# 2,251 seen once under CI). Half an object per purchase (8,000) still catches
# any leak of one object per authorisation twice over.
FLAT_OBJECTS = MEASURED // 2


@attrs.frozen
class Tick(EventPayload):
    source: ClassVar[str] = "test"
    kind: ClassVar[str] = "tick"

    n: int

    def summary(self) -> str:
        return f"tick {self.n}"


def publish(bus: EventBus, count: int) -> list[Event]:
    return [bus.publish(Tick(n)) for n in range(count)]


def test_simulation_bus_keeps_every_event() -> None:
    bus = EventBus(VirtualClock())
    published = publish(bus, 5000)
    assert bus.keep_last is None
    assert bus.events == published
    assert len(bus) == 5000
    assert bus.since(0) == published
    assert bus.since(4998) == published[4998:]
    assert bus.of(Tick)[123] == published[123]


def test_bounded_bus_keeps_a_window_and_subscribers_see_everything() -> None:
    bus = EventBus(VirtualClock(), keep_last=100)
    seen: list[Event] = []
    bus.subscribe(seen.append)
    published = publish(bus, 1000)
    assert seen == published
    assert bus.events == published[-100:]
    assert [e.seq for e in bus.events] == list(range(901, 1001))
    assert len(bus) == 1000  # the seq of the newest event, as on an unbounded bus
    assert bus.since(900) == published[900:]  # every event after 900 is still kept
    assert bus.since(990) == published[990:]
    assert bus.since(1000) == []
    assert bus.of(Tick) == published[-100:]


def test_bounded_bus_refuses_a_since_that_fell_out_of_the_window() -> None:
    bus = EventBus(VirtualClock(), keep_last=100)
    publish(bus, 1000)
    with pytest.raises(EventsDropped, match=r"events 1\.\.900 are gone.*last 100 events"):
        bus.since(0)
    with pytest.raises(EventsDropped, match=r"events 900\.\.900 are gone"):
        bus.since(899)


def test_bounded_bus_needs_a_window() -> None:
    with pytest.raises(SimulatorError, match="must keep at least 1 event, not 0"):
        EventBus(VirtualClock(), keep_last=0)


def purchase(terminal: int, number: int) -> bytes:
    request = {
        "t": "0200",
        "2": PAN,
        "3": "000000",
        "4": f"{(1 + number % 50) * 100:012d}",  # whole yuan: no magic amount
        "7": "1125120000",
        "11": f"{number + 1:06d}",
        "12": "120000",
        "13": "1125",
        "22": "021",
        "25": "00",
        "35": TRACK2,
        "41": f"RET{terminal:05d}",
        "42": "898310048990001",
        "49": "156",
    }
    return FRAMING.frame(CODEC.encode(request))


def authorise(connections: list[socket.socket], first: int, count: int) -> None:
    """``count`` purchases per connection, ``WINDOW`` at a time, every one approved."""
    for start in range(first, first + count, WINDOW):
        numbers = range(start, min(start + WINDOW, first + count))
        for terminal, sock in enumerate(connections):
            sock.sendall(b"".join(purchase(terminal, n) for n in numbers))
        for sock in connections:
            for _ in numbers:
                body = FRAMING.read_frame(sock)
                assert body is not None, "the gateway hung up"
                reply = CODEC.decode(FRAMING.split(body)[1])
                assert (reply["t"], reply["39"]) == ("0210", "00")


def test_gateway_memory_stays_flat_over_20000_authorisations(tmp_path: Path) -> None:
    clock = RealClock()
    bus = EventBus(clock, keep_last=DEFAULT_KEEP_EVENTS)  # as `possim gateway serve` builds it
    delivered = 0

    def count(_: Event) -> None:
        nonlocal delivered
        delivered += 1

    bus.subscribe(count)
    gateway = BuiltinGateway(
        tmp_path / "ledger.sqlite", clock=clock, bus=bus, rng=random.Random(7), simulation=False
    )
    host, port = gateway.start()
    connections = [socket.create_connection((host, port), timeout=30) for _ in range(TERMINALS)]
    try:
        authorise(connections, 0, WARM_UP // TERMINALS)
        events_before, objects_before = retained()
        authorise(connections, WARM_UP // TERMINALS, MEASURED // TERMINALS)
        events_after, objects_after = retained()
    finally:
        for sock in connections:
            sock.close()
        gateway.stop()
    total = WARM_UP + MEASURED
    assert delivered == len(bus) >= 2 * total  # an event in and one out per purchase
    assert len(bus.events) == DEFAULT_KEEP_EVENTS
    assert bus.events[-1].seq == len(bus)
    # Other tests in the same process may leave their own events alive: what
    # matters is that this gateway's do not accumulate.
    assert events_after == events_before >= DEFAULT_KEEP_EVENTS
    grown = objects_after - objects_before
    assert grown < FLAT_OBJECTS, f"{grown} more objects after {MEASURED} purchases"


def retained() -> tuple[int, int]:
    """Events alive, and objects the collector tracks, after a full collection."""
    gc.collect()
    objects = gc.get_objects()
    return sum(isinstance(o, Envelope) for o in objects), len(objects)


def test_gateway_serve_refuses_an_empty_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ledger = tmp_path / "ledger.sqlite"
    assert main(["gateway", "serve", "--keep-events", "0", "--ledger", str(ledger)]) == 2
    assert "--keep-events must be at least 1" in capsys.readouterr().err
    assert not ledger.exists()
