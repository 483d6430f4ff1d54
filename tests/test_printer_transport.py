"""The printer driver over python-escpos's transports, and the virtual printer on each.

Every transport -- the user-space pyusb backend, a pty, TCP, in process --
carries the same bytes to the same virtual printer: receipts render
identically, status replies come back, absent devices give clear errors and
the listeners survive garbage and abrupt disconnects.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
import usb.core
from escpos.printer import Network, Serial, Usb

from drivers.clock import RealClock
from drivers.errors import DeviceUnavailable, DeviceURLError, PrinterError
from drivers.printer import (
    Align,
    Barcode,
    Cut,
    Feed,
    PrintDocument,
    Printer,
    QrCode,
    TextLine,
)
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.printer.transports import open_file_printer, open_usb_printer
from drivers.registry import DeviceContext, open_device, registry
from drivers.url import DeviceURL
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.link import PRINTER_TRANSPORTS, open_virtual_printer
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.transports.pty import PtyPrinter
from simulator.devices.printer.transports.tcp import TcpPrinter
from simulator.devices.printer.transports.usb import VirtualUsbPrinterBackend
from simulator.devices.world import SimulatedWorld

P58 = PrinterProfile.load("generic_58mm")
DLE_EOT = b"\x10\x04"

RECEIPT = PrintDocument(
    title="sale receipt (merchant copy)",
    items=(
        TextLine("POS签购单", Align.CENTER, bold=True, double_width=True, double_height=True),
        TextLine("商户存根 MERCHANT COPY", Align.CENTER),
        TextLine("-" * 32),
        TextLine("商户名称：测试商户"),
        TextLine("金额 AMOUNT: RMB 12.34", bold=True, double_height=True),
        TextLine("Café ￥12.34", Align.RIGHT),
        QrCode("https://qr.example/pay?o=1&amt=12.34"),
        Barcode("20260115000001"),
        Feed(3),
        Cut(),
    ),
)


@pytest.fixture
def world() -> Iterator[SimulatedWorld]:
    world = SimulatedWorld(RealClock())
    yield world
    world.close()


def open_on(world: SimulatedWorld, transport: str) -> EscposPrinter:
    return open_virtual_printer(
        world, DeviceContext(simulation=world), profile_name="generic_58mm", transport=transport
    )


@pytest.fixture(params=PRINTER_TRANSPORTS)
def transport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_every_transport_renders_the_receipt_as_in_process(
    world: SimulatedWorld, transport: str
) -> None:
    reference_world = SimulatedWorld(RealClock())
    reference = open_on(reference_world, "sim")
    reference.print_document(RECEIPT)
    assert reference_world.printer is not None
    expected = reference_world.printer.receipts[0].text

    printer = open_on(world, transport)
    try:
        printer.print_document(RECEIPT)
        assert printer.status_known
    finally:
        printer.close()
    assert world.printer is not None
    assert world.printer.errors == []
    assert [r.text for r in world.printer.receipts] == [expected]
    assert "POS签购单" in expected and "[QR: https://qr.example/pay?o=1&amt=12.34]" in expected


@pytest.mark.parametrize(
    ("fault", "problem"),
    [
        ("paper_end", "printer out of paper"),
        ("cover_open", "printer cover open"),
        ("offline", "printer offline"),
    ],
)
def test_status_over_each_transport(
    world: SimulatedWorld, transport: str, fault: str, problem: str
) -> None:
    printer = open_on(world, transport)
    port = world.printer_port
    assert port is not None
    try:
        assert printer.status().ready
        port.inject(**{fault: True})
        assert printer.status().problem() == problem
        assert printer.status_known
        with pytest.raises(PrinterError, match=problem):
            printer.print_document(RECEIPT)
        port.inject(**{fault: False})
        assert printer.status().ready
    finally:
        printer.close()


def test_raw_status_bytes_match_the_printer_over_each_transport(
    world: SimulatedWorld, transport: str
) -> None:
    printer = open_on(world, transport)
    virtual, port = world.printer, world.printer_port
    assert virtual is not None and port is not None
    device = printer.device
    try:
        port.inject(paper_end=True)
        for n in (1, 2, 3, 4):
            assert bytes(device.query_status(DLE_EOT + bytes([n]))) == bytes(
                [virtual.status_byte(n)]
            )
        # GS r 1: paper sensor, bits 0-1 near end and 2-3 paper end.
        assert bytes(device.query_status(b"\x1dr\x01")) == b"\x0f"
    finally:
        printer.close()


def test_the_unchanged_python_escpos_usb_class_prints_to_the_backend() -> None:
    virtual = VirtualPrinter(P58)
    backend = VirtualUsbPrinterBackend(PrinterPort(virtual))
    usb_printer = Usb(0x0416, 0x5011, usb_args={"backend": backend}, profile="default")
    usb_printer.open()
    usb_printer.set(align="center", bold=True)
    usb_printer.text("hello usb\n")
    usb_printer.cut()
    assert bytes(usb_printer.query_status(DLE_EOT + b"\x01")) == b"\x12"
    assert "hello usb" in virtual.receipts[0].text
    usb_printer.close()


def test_the_usb_backend_describes_a_printer_class_device() -> None:
    virtual = VirtualPrinter(P58)
    backend = VirtualUsbPrinterBackend(PrinterPort(virtual))
    device = usb.core.find(backend=backend, idVendor=0x0416, idProduct=0x5011)
    assert device is not None
    interface = device[0][(0, 0)]
    assert (interface.bInterfaceClass, interface.bInterfaceProtocol) == (7, 2)
    addresses = sorted(ep.bEndpointAddress for ep in interface)
    assert addresses == [0x01, 0x82]
    assert device.product == "possim virtual receipt printer"
    device_id = bytes(device.ctrl_transfer(0xA1, 0, 0, 0, 256))
    (length,) = struct.unpack(">H", device_id[:2])
    assert length == len(device_id) and b"CMD:ESC/POS;" in device_id
    virtual.faults.paper_out = True
    port_status = bytes(device.ctrl_transfer(0xA1, 1, 0, 0, 1))[0]
    assert port_status & 0x20 and not port_status & 0x08  # paper empty, error


def test_a_usb_read_with_nothing_queued_times_out() -> None:
    backend = VirtualUsbPrinterBackend(PrinterPort(VirtualPrinter(P58)))
    usb_printer = Usb(0x0416, 0x5011, usb_args={"backend": backend}, profile="default")
    usb_printer.open()
    with pytest.raises(usb.core.USBTimeoutError):
        usb_printer._read()


def test_an_unplugged_usb_printer_fails_clearly_and_comes_back() -> None:
    world = SimulatedWorld(RealClock())
    printer = open_on(world, "usb")
    backend = world.usb_backend
    assert isinstance(backend, VirtualUsbPrinterBackend)
    backend.unplug()
    with pytest.raises(PrinterError, match="No such device"):
        printer.print_document(RECEIPT)
    backend.plug_in()
    printer.print_document(RECEIPT)
    assert world.printer is not None and len(world.printer.receipts) == 1


# -- errors a user can act on -----------------------------------------------------------


def test_usb_without_the_device_lists_what_is_there() -> None:
    backend = VirtualUsbPrinterBackend(PrinterPort(VirtualPrinter(P58)))
    url = DeviceURL.parse("usb://04b8:0202")
    with pytest.raises(DeviceUnavailable, match=r"no USB device 04b8:0202.*present: 0416:5011"):
        open_usb_printer(url, DeviceContext(), backend=backend)


def test_usb_url_needs_hex_ids() -> None:
    with pytest.raises(DeviceURLError, match="usb://VID:PID"):
        open_device(Printer, "usb://epson")


def test_serial_path_missing(tmp_path: Path) -> None:
    with pytest.raises(DeviceUnavailable, match=r"no serial device .*/ttyNOPE"):
        open_device(Printer, f"serial://{tmp_path}/ttyNOPE?baud=9600")


def test_tcp_connection_refused() -> None:
    with socket.socket() as probe:  # a port nobody listens on: bound, never listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(DeviceUnavailable, match=r"connection refused by 127\.0\.0\.1"):
            open_device(Printer, f"tcp://127.0.0.1:{port}?timeout=2")


def test_file_device_missing_is_not_created() -> None:
    with pytest.raises(DeviceUnavailable, match="no printer device /dev/usb/lp9"):
        open_device(Printer, "file:///dev/usb/lp9")
    assert not os.path.exists("/dev/usb/lp9")


def test_unknown_url_parameter_is_refused() -> None:
    with pytest.raises(DeviceURLError, match="unknown parameter"):
        open_device(Printer, "tcp://127.0.0.1:9100?baud=9600")


def test_the_four_schemes_are_registered_by_entry_points() -> None:
    assert {"usb", "serial", "tcp", "file"} <= set(registry.schemes(Printer))


def test_file_printer_writes_the_job_and_says_it_cannot_read(tmp_path: Path) -> None:
    capture = tmp_path / "job.bin"
    printer = open_file_printer(DeviceURL.parse(f"file://{capture}"), DeviceContext())
    status = printer.status()
    assert status.ready and not printer.status_known
    assert "no status" in printer.name
    printer.print_document(RECEIPT)
    printer.close()
    replay = VirtualPrinter(P58)
    replay.feed(capture.read_bytes())
    reference_world = SimulatedWorld(RealClock())
    open_on(reference_world, "sim").print_document(RECEIPT)
    assert reference_world.printer is not None
    assert [r.text for r in replay.receipts] == [reference_world.printer.receipts[0].text]


# -- listeners survive garbage and disconnects ---------------------------------------------


# Unknown commands, bad parameters and every byte value; it leaves the
# interpreter between commands (a command cut short would wait for its bytes,
# as a real printer's does, and swallow the next job).
GARBAGE = b"\x1b\x00\xff\x1d(k\xff\xff\x31" + bytes(range(256))


def test_garbage_leaves_the_interpreter_between_commands() -> None:
    virtual = VirtualPrinter(P58)
    virtual.feed(GARBAGE)
    assert virtual.awaiting == 0 and virtual.errors


def _status_over_tcp(server: TcpPrinter) -> bytes:
    with socket.create_connection((server.host, server.tcp_port), timeout=5) as client:
        client.sendall(b"\x10\x04\x01")
        return client.recv(16)


def test_tcp_listener_survives_garbage_and_resets() -> None:
    virtual = VirtualPrinter(P58)
    with TcpPrinter(PrinterPort(virtual)) as server:
        assert server.host == "127.0.0.1"
        with socket.create_connection((server.host, server.tcp_port), timeout=5) as client:
            client.sendall(GARBAGE)
        # A reset in the middle of a job (SO_LINGER 0 sends RST on close).
        client = socket.create_connection((server.host, server.tcp_port), timeout=5)
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sendall(b"\x1b@half a line of a job that never")
        client.close()
        # The next job starts with ESC @ (which drops the half line); it is served.
        network = Network(server.host, server.tcp_port, timeout=5, profile="default")
        network.open()
        network._raw(b"\x1b@")
        network.text("after the storm\n")
        network.cut()
        assert bytes(network.query_status(DLE_EOT + b"\x01")) == b"\x12"
        network.close()
        assert _status_over_tcp(server) == b"\x12"
        assert server.connections == 4
    assert any("after the storm" in r.text for r in virtual.receipts)


def test_tcp_listener_serves_one_client_at_a_time() -> None:
    virtual = VirtualPrinter(P58)
    with TcpPrinter(PrinterPort(virtual)) as server:
        first = socket.create_connection((server.host, server.tcp_port), timeout=5)
        first.sendall(b"\x10\x04\x01")
        assert first.recv(16) == b"\x12"
        second = socket.create_connection((server.host, server.tcp_port), timeout=5)
        second.sendall(b"\x10\x04\x04")
        first.sendall(b"\x10\x04\x02")
        assert first.recv(16) == b"\x12"  # the second's query waits its turn
        first.close()
        assert second.recv(16) == b"\x12"
        second.close()


def test_pty_survives_garbage_and_reopening() -> None:
    virtual = VirtualPrinter(P58)
    with PtyPrinter(PrinterPort(virtual)) as pty:
        port = Serial(devfile=pty.path, baudrate=9600, timeout=5, profile="default")
        port.open()
        port._raw(GARBAGE)
        port.close()
        again = open_device(Printer, f"{pty.url}?baud=115200")
        again.print_document(PrintDocument("test", (TextLine("still here"), Cut())))
        assert again.status().ready and again.status_known
        again.close()
    assert any("still here" in r.text for r in virtual.receipts)
    assert virtual.errors  # the garbage was reported, not fatal


def test_printer_servers_stop_cleanly() -> None:
    port = PrinterPort(VirtualPrinter(P58))
    server = TcpPrinter(port)
    pty = PtyPrinter(port)
    server.close()
    pty.close()
    server.close()  # idempotent
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.tcp_port), timeout=2)


@pytest.mark.parametrize("transport", ["pty", "tcp"])
def test_the_world_owns_the_printer_server(transport: str) -> None:
    """A closed driver leaves the printer reachable (the terminal may open it again);
    closing the world stops the server."""
    world = SimulatedWorld(RealClock())
    try:
        open_on(world, transport).close()
        server = world.printer_server
        assert isinstance(server, (PtyPrinter, TcpPrinter))
        url = f"{server.url}?profile=generic_58mm"
        again = open_device(Printer, url)
        again.print_document(RECEIPT)
        again.close()
        assert world.printer is not None and len(world.printer.receipts) == 1
    finally:
        world.close()
    with pytest.raises(DeviceUnavailable):
        open_device(Printer, url)


# -- the purchase scenario over each transport -------------------------------------------


@pytest.mark.parametrize("transport", ["usb", "pty", "tcp"])
def test_card_purchase_over_each_transport(transport: str, tmp_path: Path) -> None:
    from simulator.scenario.loader import load_scenario
    from simulator.scenario.runner import run_scenario

    library = Path(__file__).resolve().parent.parent / "scenarios"
    scenario = load_scenario(library / "card_purchase.yaml")
    reference = run_scenario(scenario, tmp_path / "sim")
    result = run_scenario(scenario, tmp_path / transport, printer_transport=transport)
    assert result.passed, result.failure_text
    receipts = (result.artifacts / "receipts.txt").read_text(encoding="utf-8")
    assert receipts == (reference.artifacts / "receipts.txt").read_text(encoding="utf-8")


def test_terminal_config_selects_the_transport(tmp_path: Path) -> None:
    import attrs

    from simulator.shop import Shop
    from simulator.terminal.config import TerminalConfig

    config = TerminalConfig.load()
    devices = attrs.evolve(config.devices, printer="sim://?profile=generic_58mm&transport=tcp")
    with Shop(attrs.evolve(config, devices=devices), tmp_path) as sim:
        assert isinstance(sim.world.printer_server, TcpPrinter)
        assert sim.world.printer_server.host == "127.0.0.1"


def test_a_printer_transport_needs_the_virtual_printer(tmp_path: Path) -> None:
    import attrs

    from simulator.errors import ConfigError
    from simulator.shop import with_printer_transport
    from simulator.terminal.config import TerminalConfig

    config = TerminalConfig.load()
    assert "transport=usb" in with_printer_transport(config, "usb").devices.printer
    real = attrs.evolve(config, devices=attrs.evolve(config.devices, printer="usb://0416:5011"))
    with pytest.raises(ConfigError, match="virtual printer"):
        with_printer_transport(real, "tcp")
    with pytest.raises(ConfigError, match="unknown printer transport"):
        with_printer_transport(config, "bluetooth")


# -- possim printer serve / status / test ------------------------------------------------


def test_possim_printer_serve_prints_what_a_network_client_sends(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    out = tmp_path / "receipts"
    server = subprocess.Popen(
        [sys.executable, "-m", "simulator.cli", "printer", "serve", "--tcp", "0", "--out", out],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert "listening on tcp://127.0.0.1:" in first, first
        url = first.split("listening on ")[1].strip()
        printer = open_device(Printer, url)
        printer.print_document(RECEIPT)  # its status check after the job orders the replies
        printer.close()
    finally:
        server.send_signal(signal.SIGTERM)
        stdout, stderr = server.communicate(timeout=30)
    assert server.returncode == 0, stderr
    assert "POS签购单" in stdout and "1 receipt(s) printed" in stdout
    assert "POS签购单" in (out / "receipt-0001.txt").read_text(encoding="utf-8")


def test_possim_printer_status_and_test_commands(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import main

    virtual = VirtualPrinter(P58)
    with TcpPrinter(PrinterPort(virtual)) as server:
        assert main(["printer", "test", server.url]) == 0
        assert main(["printer", "status", server.url]) == 0
        virtual.faults.paper_out = True
        assert main(["printer", "status", server.url]) == 1
    output = capsys.readouterr().out
    assert "test receipt printed" in output and "printer out of paper" in output
    assert "测试小票" in virtual.receipts[0].text
    assert main(["printer", "status", "tcp://127.0.0.1:1"]) == 2
    assert "connection refused" in capsys.readouterr().err


def test_printers_without_dle_eot_4_are_asked_gs_r_1() -> None:
    from simulator.devices.printer.inprocess import PortEscpos

    class NoEot4(PortEscpos):  # type: ignore[misc]
        """A printer that ignores DLE EOT 4 but answers GS r 1."""

        def _raw(self, msg: bytes) -> None:
            if bytes(msg) != DLE_EOT + b"\x04":
                super()._raw(msg)

    virtual = VirtualPrinter(P58)
    device = NoEot4(PrinterPort(virtual))
    printer = EscposPrinter(device, profile=P58)
    assert printer.status().ready and printer.status_known
    virtual.faults.paper_near_end = True
    assert printer.status().paper_near_end
    virtual.faults.paper_out = True
    assert printer.status().problem() == "printer out of paper"
