"""The ISO 8583 host's limits (docs/reliability.md): idle and slow connections
are closed, a connection limit holds, and running out of file descriptors costs
one line of log -- never a traceback per connection, never the next purchase.

Real sockets on loopback throughout; ``possim gateway serve`` runs as a real
child process with a lowered RLIMIT_NOFILE for the descriptor tests.
"""

from __future__ import annotations

import contextlib
import socket
import time
from pathlib import Path

import pytest
from gateway_helpers import (
    TIMEOUT,
    close_all,
    closed_by_peer,
    connect,
    exchange,
    frame,
    limit_lines,
    magstripe_purchase,
    read_reply,
    running,
    wait_for_event,
)

from simulator import cli
from simulator.cli import gateway
from simulator.errors import GatewayError
from simulator.events import Problem
from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway import listener
from simulator.gateway.problems import LimitReached
from simulator.gateway.server import ConnectionIdle

SHORT = 0.5  # seconds: the timeouts under test, short so the tests are quick
SIGN_ON = {"t": "0800", "7": "0115103000", "11": "000001", "70": "001"}


def purchase_works(address: tuple[str, int], stan: str) -> None:
    reply = exchange(address, magstripe_purchase(stan))
    assert (reply["t"], reply["11"], reply["39"]) == ("0210", stan, "00")


RETRY_AFTER = 0.05  # seconds a terminal waits before it connects again


def purchase_eventually(address: tuple[str, int], stan: str) -> None:
    """A purchase, retried while the connection is refused (closed before a reply)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            purchase_works(address, stan)
            return
        except ConnectionError:
            if time.monotonic() > deadline:
                raise
        time.sleep(RETRY_AFTER)  # a terminal's pause, not a wait for the host


# -- timeouts ------------------------------------------------------------------------


def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout(
    tmp_path: Path,
) -> None:
    with running(tmp_path, idle_timeout=SHORT) as (gateway, bus):
        address = gateway.server.address
        with connect(address) as silent:
            assert closed_by_peer(silent)
        closed = wait_for_event(bus, lambda e: isinstance(e.payload, ConnectionIdle))
        assert "no frame for 0.5 s; connection closed" in closed.summary
        # After a purchase the connection is idle again, and closed again.
        with connect(address) as terminal:
            terminal.sendall(frame(magstripe_purchase("000001")))
            assert read_reply(terminal)["39"] == "00"
            assert closed_by_peer(terminal)
        assert not bus.of(Problem)


def test_a_frame_trickling_in_is_closed_at_the_request_timeout(tmp_path: Path) -> None:
    message = frame(magstripe_purchase("000001"))
    with running(tmp_path, request_timeout=SHORT) as (gateway, bus):
        with connect(gateway.server.address, timeout=SHORT / 5) as slow:
            # One byte per fifth of the timeout: every byte in time, the frame not.
            closed = False
            for byte in message:
                try:
                    slow.sendall(bytes([byte]))
                except OSError:  # reset: closed already
                    closed = True
                    break
                if closed_by_peer(slow):
                    closed = True
                    break
            assert closed, "the whole frame went through, byte by byte"
        error = wait_for_event(bus, lambda e: isinstance(e.payload, Problem))
        assert "frame incomplete after 0.5 s from its first byte" in error.summary
        purchase_works(gateway.server.address, "000002")


def test_a_frame_announcing_more_than_max_frame_is_refused(tmp_path: Path) -> None:
    with running(tmp_path, max_frame=256) as (gateway, bus):
        with connect(gateway.server.address) as sock:
            sock.sendall(b"\x01\x01" + b"0" * 257)
            assert closed_by_peer(sock)
        error = wait_for_event(bus, lambda e: isinstance(e.payload, Problem))
        assert "announces 257 bytes, more than the 256 allowed" in error.summary
        purchase_works(gateway.server.address, "000001")


# -- the connection limit -------------------------------------------------------------


def test_at_the_limit_idle_connections_make_room_for_new_ones(tmp_path: Path) -> None:
    sockets: list[socket.socket] = []
    with running(tmp_path, max_connections=4) as (gateway, bus):
        address = gateway.server.address
        try:
            sockets.extend(connect(address) for _ in range(4))
            # Each newcomer takes the place of the connection idle longest.
            sockets.extend(connect(address) for _ in range(20))
            for oldest in sockets[:20]:
                assert closed_by_peer(oldest)
            # A terminal connecting now still gets its purchase through.
            purchase_works(address, "000001")
            assert gateway.server.open_connections <= 4
        finally:
            close_all(sockets)
        (line,) = limit_lines(bus)
        assert "4 connections open (the limit): closing the longest-idle" in line
        assert not bus.of(Problem)


def test_at_the_limit_with_every_connection_busy_new_ones_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(listener, "QUIET_AFTER", SHORT)
    sockets: list[socket.socket] = []
    with running(tmp_path, max_connections=2, request_timeout=60) as (gateway, bus):
        address = gateway.server.address
        try:
            for stan in ("000001", "000002"):
                # A sign-on, then the first byte of the next frame in the same write:
                # once the 0810 is here, the host has that byte too (its loop does not
                # pause between answering and reading on), so the connection is busy
                # inside a frame and may not be closed for another.
                sock = connect(address)
                sock.sendall(frame(SIGN_ON | {"11": stan}) + b"\x00")
                assert read_reply(sock)["39"] == "00"
                sockets.append(sock)
            refused = [connect(address) for _ in range(21)]
            try:
                assert all(closed_by_peer(sock) for sock in refused)
            finally:
                close_all(refused)
            (line,) = limit_lines(bus)
            assert "2 connections open (the limit): refusing new connections" in line
        finally:
            close_all(sockets)
        summary = wait_for_event(
            bus, lambda e: isinstance(e.payload, LimitReached) and "back to normal" in e.summary
        )
        assert "0 idle connection(s) closed for new ones and 21 new connection(s) refused" in (
            summary.summary
        )
        purchase_works(address, "000003")
        assert len(limit_lines(bus)) == 2


# -- gateway serve, out of file descriptors -------------------------------------------

OPEN_FILES = 256  # the child's ulimit -n: small, so the test opens few sockets itself
IDLE_CONNECTIONS = 400  # more than OPEN_FILES


def open_idle(port: int, count: int) -> list[socket.socket]:
    """``count`` connections that send nothing (some may be refused: that is fine)."""
    sockets = []
    for _ in range(count):
        with contextlib.suppress(OSError):  # the backlog is full: a refusal too
            sockets.append(connect(("127.0.0.1", port), timeout=TIMEOUT))
    return sockets


def gateway_serve(tmp_path: Path, *options: str) -> GatewayProcess:
    return GatewayProcess(
        tmp_path / "gateway.sqlite", *options, cwd=tmp_path, open_files=OPEN_FILES
    )


def test_gateway_serve_with_few_open_files_serves_through_idle_connections(
    tmp_path: Path,
) -> None:
    """The issue's case: more idle connections than ulimit -n allows. The default
    connection limit fits the descriptors, so idle connections make room for the
    purchase; the log holds one line about it, not a traceback per connection."""
    idle: list[socket.socket] = []
    with gateway_serve(tmp_path) as gateway:
        try:
            idle = open_idle(gateway.port, IDLE_CONNECTIONS)
            purchase_works(("127.0.0.1", gateway.port), "000001")
            gateway.wait_for_line("connections open (the limit)")
        finally:
            close_all(idle)
        purchase_works(("127.0.0.1", gateway.port), "000002")
    output = "\n".join(gateway.output)
    assert "Traceback" not in output and "Too many open files" not in output
    assert len(output) < 4096, output[:4096]


def test_gateway_serve_out_of_file_descriptors_refuses_with_one_line(tmp_path: Path) -> None:
    """A connection limit above what ulimit -n allows: accept() fails with EMFILE.
    Pending connections are refused at once, one line says so, and once the load
    goes away the next purchase goes through."""
    idle: list[socket.socket] = []
    with gateway_serve(tmp_path, "--max-connections", "2000") as gateway:
        try:
            idle = open_idle(gateway.port, IDLE_CONNECTIONS)
            gateway.wait_for_line("out of file descriptors")
            with connect(("127.0.0.1", gateway.port)) as refused:
                assert closed_by_peer(refused)
        finally:
            close_all(idle)
        # The host frees a descriptor once it has seen its connection close: a
        # terminal refused meanwhile tries again, as real ones do.
        purchase_eventually(("127.0.0.1", gateway.port), "000001")
    output = "\n".join(gateway.output)
    assert "Traceback" not in output and "Too many open files" not in output
    assert output.count("out of file descriptors") == 1
    assert len(output) < 4096, output[:4096]


# -- the limits gateway serve picks -----------------------------------------------------


@pytest.mark.parametrize(
    ("open_files", "options", "expected", "warned"),
    [
        (None, [], (512, 256), False),
        (1024, [], (512, 256), False),  # 1024 - 96 reserved leaves room for both
        (256, [], (106, 54), False),  # 160 left: shared 2:1
        (256, ["--qr-max-connections", "10"], (150, 10), False),
        (256, ["--max-connections", "2000"], (2000, 1), True),  # asked for: kept, and said so
    ],
)
def test_gateway_serve_fits_its_connection_limits_to_ulimit_n(
    monkeypatch: pytest.MonkeyPatch,
    open_files: int | None,
    options: list[str],
    expected: tuple[int, int],
    warned: bool,
) -> None:
    monkeypatch.setattr(gateway, "open_files_limit", lambda: open_files)
    limits, warning = gateway.server_limits(
        cli.build_parser("gateway").parse_args(["gateway", "serve", *options])
    )
    assert (limits.max_connections, limits.qr_max_connections) == expected
    assert (warning is not None) == warned
    if warning is not None:
        assert "ulimit -n (256)" in warning


@pytest.mark.parametrize(
    ("open_files", "options", "problem"),
    [
        (64, [], "ulimit -n is 64: possim gateway needs at least 98 open files"),
        (None, ["--max-connections", "0"], "--max-connections must be at least 1"),
        (None, ["--idle-timeout", "0"], "--idle-timeout must be more than 0 seconds"),
    ],
)
def test_gateway_serve_refuses_limits_it_cannot_keep(
    monkeypatch: pytest.MonkeyPatch, open_files: int | None, options: list[str], problem: str
) -> None:
    monkeypatch.setattr(gateway, "open_files_limit", lambda: open_files)
    with pytest.raises(GatewayError, match=problem):
        gateway.server_limits(
            cli.build_parser("gateway").parse_args(["gateway", "serve", *options])
        )
