"""The pyserial scanner driver against the virtual scanner on a real pty (and socket://)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.clock import RealClock
from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.printer import Printer
from drivers.registry import DeviceContext, DeviceRegistry, open_device
from drivers.scanner import Scanner
from drivers.serial_scanner import (
    ScannerProfile,
    ScannerProfileError,
    SerialScanner,
    available_profiles,
)
from simulator.devices.scanner_pty import PtyScanner

TIMEOUT = 5.0
CODE = "134567890123456789"  # a WeChat Pay customer code


@pytest.fixture
def pty() -> Iterator[PtyScanner]:
    with PtyScanner(ScannerProfile.load("generic_cdc")) as device:
        yield device


def _open(url: str) -> SerialScanner:
    scanner = open_device(Scanner, url)
    assert isinstance(scanner, SerialScanner)
    return scanner


@pytest.fixture
def scanner(pty: PtyScanner) -> Iterator[SerialScanner]:
    device = _open(pty.url)
    assert pty.wait_host_open(TIMEOUT)
    yield device
    device.close()


def _error_kinds(scanner: SerialScanner) -> list[str]:
    """Error kinds reported so far (a later good code proves earlier frames were seen)."""
    return [error.kind for error in scanner.take_errors()]


def test_a_scan_is_one_code(pty: PtyScanner, scanner: SerialScanner) -> None:
    assert pty.scan(CODE)
    assert scanner.read_code(TIMEOUT) == CODE
    assert scanner.take_scan() is None
    assert scanner.take_errors() == []


def test_a_code_split_over_writes(pty: PtyScanner, scanner: SerialScanner) -> None:
    pty.scan_split(CODE, 7)
    pty.write(b"28")  # a frame's start, then the rest later
    pty.write(b"1234567890123456\r")
    assert scanner.read_code(TIMEOUT) == CODE
    assert scanner.read_code(TIMEOUT) == "281234567890123456"


def test_a_doubled_scan_gives_two_codes(pty: PtyScanner, scanner: SerialScanner) -> None:
    pty.scan(CODE)
    pty.scan(CODE)
    assert scanner.read_code(TIMEOUT) == CODE
    assert scanner.read_code(TIMEOUT) == CODE


def test_take_scan_returns_one_code_at_a_time(pty: PtyScanner, scanner: SerialScanner) -> None:
    pty.scan("A1")
    pty.scan("B2")
    pty.scan("END")
    assert scanner.read_code(TIMEOUT) == "A1"
    # read_code returned A1, so B2 and END may still be on the way: wait for END.
    assert scanner.read_code(TIMEOUT) == "B2"
    assert scanner.read_code(TIMEOUT) == "END"
    assert scanner.take_scan() is None


def test_garbage_is_skipped_and_reported(pty: PtyScanner, scanner: SerialScanner) -> None:
    pty.garbage(b"\xff\xfe\x80\r")  # not UTF-8
    pty.garbage(b"ab\x07cd\r")  # a control character
    pty.garbage(b"\r\r\n\r")  # empty lines: ignored silently
    pty.garbage(b"9" * 600 + b"\r")  # over max_length (512), no suffix in reach
    pty.garbage(b"7" * 400 + b"\r")  # long but within the limit
    pty.scan(CODE)
    assert scanner.read_code(TIMEOUT) == "7" * 400
    assert scanner.read_code(TIMEOUT) == CODE
    assert _error_kinds(scanner) == ["not_text", "not_printable", "too_long"]


def test_a_scan_before_the_port_is_open_is_lost(pty: PtyScanner) -> None:
    assert not pty.scan("EARLY")
    assert pty.lost == ["EARLY"]
    scanner = _open(pty.url)
    try:
        assert pty.wait_host_open(TIMEOUT)
        assert pty.scan(CODE)
        assert scanner.read_code(TIMEOUT) == CODE
        assert scanner.take_scan() is None
    finally:
        scanner.close()


def test_read_code_times_out_with_none(scanner: SerialScanner) -> None:
    assert scanner.read_code(0.05) is None


@pytest.mark.parametrize(
    ("suffix", "wire"),
    [("CR", b"\r"), ("LF", b"\n"), ("CRLF", b"\r\n"), ("TAB", b"\t")],
)
def test_suffix_variants(suffix: str, wire: bytes) -> None:
    with PtyScanner(ScannerProfile(name="t", suffix=suffix, prefix="]Q1")) as pty:
        scanner = _open(pty.url)
        try:
            assert pty.wait_host_open(TIMEOUT)
            assert pty.frame("X1") == b"]Q1X1" + wire
            pty.scan_split("X1", 3)
            pty.garbage(b"NOPREFIX" + wire)
            pty.scan("Y2")
            assert scanner.read_code(TIMEOUT) == "X1"
            assert scanner.read_code(TIMEOUT) == "Y2"
            assert [e.kind for e in scanner.take_errors()] == ["no_prefix"]
        finally:
            scanner.close()


def test_suffix_none_frames_by_idle_gap() -> None:
    with PtyScanner(ScannerProfile(name="t", suffix="none")) as pty:
        scanner = _open(pty.url + "&gap=30")
        try:
            assert pty.wait_host_open(TIMEOUT)
            pty.scan(CODE)
            assert scanner.read_code(TIMEOUT) == CODE
        finally:
            scanner.close()


def test_crlf_sent_to_a_cr_driver_still_reads(pty: PtyScanner, scanner: SerialScanner) -> None:
    pty.write(CODE.encode() + b"\r\n")
    pty.write(b"SECOND\r\n")
    assert scanner.read_code(TIMEOUT) == CODE
    assert scanner.read_code(TIMEOUT) == "SECOND"
    assert scanner.take_errors() == []


def test_socket_url_through_a_loopback_server() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    host, port = server.getsockname()
    accepted: list[socket.socket] = []
    ready = threading.Event()

    def serve() -> None:
        conn, _ = server.accept()
        accepted.append(conn)
        ready.set()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    scanner = _open(f"socket://{host}:{port}?suffix=CRLF&prefix=%02")
    try:
        assert ready.wait(TIMEOUT)
        accepted[0].sendall(b"\x0228123")
        accepted[0].sendall(b"4\r\n\x02X\r\n")
        assert scanner.read_code(TIMEOUT) == "281234"
        assert scanner.read_code(TIMEOUT) == "X"
        accepted[0].close()  # the scanner goes away: a clear error, no crash
        with pytest.raises(DeviceUnavailable):
            while scanner.read_code(TIMEOUT) is not None:
                pass
    finally:
        scanner.close()
        server.close()


def test_socket_refused_is_unavailable() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    server.close()
    with pytest.raises(DeviceUnavailable, match="cannot reach scanner"):
        _open(f"socket://127.0.0.1:{port}")


def test_missing_port_lists_ports() -> None:
    with pytest.raises(DeviceUnavailable, match=r"no serial device /dev/ttyNOPE.*ports present"):
        _open("serial:///dev/ttyNOPE?baud=9600")


def test_permission_denied(pty: PtyScanner, monkeypatch: pytest.MonkeyPatch) -> None:
    # As root every node is accessible: make the driver's access check say no.
    monkeypatch.setattr("drivers.serial_scanner.os.access", lambda path, mode: False)
    with pytest.raises(DeviceUnavailable, match=r"permission denied.*dialout"):
        _open(pty.url)


def test_bad_url_parameters() -> None:
    with pytest.raises(DeviceURLError, match="suffix='CRCR'"):
        _open("serial:///dev/null?suffix=CRCR")
    with pytest.raises(DeviceURLError, match="unknown parameter"):
        _open("serial:///dev/null?bogus=1")


def test_profiles_load() -> None:
    assert {"generic_cdc", "honeywell_serial"} <= set(available_profiles())
    honeywell = ScannerProfile.load("honeywell_serial")
    assert honeywell.suffix_bytes == b"\r\n"
    assert ScannerProfile.load("generic_cdc").suffix == "CR"


def test_profile_error_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nprefix: ''\nsuffix: CRCR\nbaud: 9600\n")
    with pytest.raises(ScannerProfileError) as info:
        ScannerProfile.load(bad)
    assert info.value.line == 3
    assert str(info.value).startswith(f"{bad}:3: field suffix")
    bad.write_text("name: bad\nmax_length: -1\n")
    with pytest.raises(ScannerProfileError, match=r"bad.yaml:2: field max_length"):
        ScannerProfile.load(bad)
    with pytest.raises(ScannerProfileError, match="no scanner profile named 'nope'"):
        _open("serial:///dev/null?profile=nope")


def test_serial_scheme_is_shared_with_printers() -> None:
    registry = DeviceRegistry()
    assert "serial" in registry.schemes(Scanner)
    assert "socket" in registry.schemes(Scanner)
    assert "serial" in registry.schemes(Printer)


class _CountingClock(RealClock):
    def __init__(self) -> None:
        super().__init__()
        self.waits = 0

    def wait_until(self, ready: Callable[[], bool], timeout: float | None) -> bool:
        self.waits += 1
        return super().wait_until(ready, timeout)


def test_waits_go_through_the_context_clock(pty: PtyScanner) -> None:
    clock = _CountingClock()
    scanner = open_device(Scanner, pty.url, DeviceContext(clock=clock))
    try:
        assert pty.wait_host_open(TIMEOUT)
        pty.scan(CODE)
        assert scanner.read_code(TIMEOUT) == CODE
        assert clock.waits >= 1
    finally:
        scanner.close()
