"""For the gateway's limit and hostile-input tests: the built-in gateway with
chosen limits, and a terminal by hand -- frames built with plain pyiso8583 and
a 2-byte length header, on real sockets."""

from __future__ import annotations

import contextlib
import random
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import iso8583

from drivers.clock import RealClock
from simulator.events import Event, EventBus
from simulator.gateway.builtin import BuiltinGateway, ServerLimits
from simulator.gateway.problems import LimitReached
from simulator.wire.iso8583 import Iso8583Spec

SPEC: dict[str, Any] = dict(Iso8583Spec.load().fields)
TIMEOUT = 30.0  # generous: the machine is shared and loaded


def magstripe_purchase(stan: str, amount_fen: int = 1200) -> dict[str, str]:
    """A swiped purchase: no chip data, approved 00 by the built-in host."""
    return {
        "t": "0200",
        "2": "6214830027183655",
        "3": "000000",
        "4": f"{amount_fen:012d}",
        "7": "0115103000",
        "11": stan,
        "22": "021",
        "41": "POS00001",
        "42": "898440154110001",
        "49": "156",
    }


def frame(fields: dict[str, str]) -> bytes:
    raw, _ = iso8583.encode(dict(fields), SPEC)
    return struct.pack(">H", len(raw)) + bytes(raw)


def connect(address: tuple[str, int], timeout: float = TIMEOUT) -> socket.socket:
    sock = socket.create_connection(address, timeout=timeout)
    sock.settimeout(timeout)
    return sock


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def read_reply(sock: socket.socket) -> dict[str, str]:
    (length,) = struct.unpack(">H", recv_exactly(sock, 2))
    decoded, _ = iso8583.decode(recv_exactly(sock, length), SPEC)
    return dict(decoded)


def exchange(address: tuple[str, int], fields: dict[str, str]) -> dict[str, str]:
    with connect(address) as sock:
        sock.sendall(frame(fields))
        return read_reply(sock)


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the peer closes ``sock`` (EOF or reset) before its timeout."""
    try:
        while sock.recv(4096):
            pass
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False
    return True


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.close()
    socks.clear()


@contextlib.contextmanager
def running(tmp_path: Path, **limits: Any) -> Iterator[tuple[BuiltinGateway, EventBus]]:
    """The built-in gateway on the real clock, with ``ServerLimits(**limits)``."""
    clock = RealClock()
    bus = EventBus(clock)
    gateway = BuiltinGateway(
        tmp_path / "ledger.sqlite",
        clock=clock,
        bus=bus,
        rng=random.Random(0),
        limits=ServerLimits(**limits),
    )
    gateway.start()
    try:
        yield gateway, bus
    finally:
        gateway.stop()


def wait_for_event(bus: EventBus, predicate: Callable[[Event], bool]) -> Event:
    found = threading.Event()
    match: list[Event] = []

    def check(event: Event) -> None:
        if not found.is_set() and predicate(event):
            match.append(event)
            found.set()

    unsubscribe = bus.subscribe(check)
    try:
        for event in bus.events:
            check(event)
        assert found.wait(TIMEOUT), "the gateway never published the awaited event"
    finally:
        unsubscribe()
    return match[0]


def limit_lines(bus: EventBus) -> list[str]:
    return [event.summary for event in bus.of(LimitReached)]
