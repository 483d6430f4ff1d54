"""Every command that declares a length is bounded by what the modelled printer accepts.

Over the limit the command is cancelled and what follows is processed as
normal data (Epson TM-J2000 specification, ESC &: "When the value of y, c1,
c2, or x is out of the range, this command is canceled, and the following data
is processed as normal data"), so the printer keeps answering ``DLE EOT``.
The limits themselves are in simulator/devices/printer/limits.py with their
sources.
"""

from __future__ import annotations

import io
import socket

import pytest
from PIL import Image

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter, limits
from simulator.devices.printer.diagnostics import EscposDiagnostic
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.transports.tcp import TcpPrinter

P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")
DLE_EOT_1 = b"\x10\x04\x01"
AFTER = DLE_EOT_1 + b"after\n\x1dV\x00"


def printed_texts(printer: VirtualPrinter) -> list[str]:
    return [line.text for receipt in printer.receipts for line in receipt.lines]


def nv_image(x: int, y: int) -> bytes:
    return x.to_bytes(2, "little") + y.to_bytes(2, "little")


# Headers declaring more than the printer model accepts.
OVER_THE_LIMIT = {
    # FS q: 7 bytes declaring 34 GB (issue 13); x <= 1023 and y <= 288 bytes (TM-T81 spec).
    "FS q 34 GB": ("FS q", b"\x1cq\x01\xff\xff\xff\xff"),
    "FS q x 1024": ("FS q", b"\x1cq\x01" + nv_image(1024, 1)),
    "FS q y 289": ("FS q", b"\x1cq\x01" + nv_image(1, 289)),
    # The whole NV graphics area is 256 KB: the second image no longer fits.
    "FS q 256 KB": (
        "FS q",
        b"\x1cq\x02" + nv_image(1023, 32) + bytes(1023 * 32 * 8) + nv_image(1, 40),
    ),
    # GS *: 1 <= y <= 48 and x * y <= 1536 (TM-T88III spec).
    "GS * y 49": ("GS *", b"\x1d*\x01\x31"),
    "GS * 48 x 48": ("GS *", b"\x1d*\x30\x30"),
    # ESC &: x up to the character's 12 dots (font A 12 x 24).
    "ESC & x 200": ("ESC &", b"\x1b&\x03AA\xc8"),
    # GS D: a BMP larger than the 256 KB graphics area.
    "GS D 2 GB BMP": ("GS D", b"\x1dD\x30\x43\x30\x20\x20\x01\x31BM\x00\x00\x00\x80"),
    # Limits the interpreter already had: GS v 0 y <= 4095, GS 8 L, GS ( k QR store.
    "GS v 0 y 65535": ("GS v 0", b"\x1dv0\x00\x01\x00\xff\xff"),
    "GS 8 L 4 GB": ("GS 8 L", b"\x1d8L\xff\xff\xff\xff"),
    "GS ( k 65535": ("GS ( k", b"\x1d(k\xff\xff"),
}


@pytest.mark.parametrize("name", sorted(OVER_THE_LIMIT))
def test_a_size_over_the_models_limit_is_cancelled_and_status_still_answered(name: str) -> None:
    printer = VirtualPrinter(P58)
    command, header = OVER_THE_LIMIT[name]
    printer.feed(header + AFTER)
    assert printer.awaiting == 0
    assert printer.read_reply() == b"\x12"
    assert "after" in printed_texts(printer)
    assert [d.command for d in printer.diagnostics][:1] == [command]


def test_the_printer_never_waits_for_more_than_its_largest_command() -> None:
    # The largest each command may declare (within the limits): none waits for more.
    for profile in (P58, P80):
        largest = limits.largest_command(profile)
        for header in (
            b"\x1dv0\x03\xff\x00\xff\x0f",  # GS v 0, 255 x 4095, quadruple
            b"\x1d(L\xff\xff",
            b"\x1cq\x01" + nv_image(1023, 32),
            b"\x1dD\x30\x43\x30\x20\x20\x01\x31BM\x00\x00\x04\x00",  # a 256 KB BMP
            b"\x1d8L" + (limits.graphics_limit(profile)).to_bytes(4, "little"),
        ):
            printer = VirtualPrinter(profile)
            printer.feed(header)
            assert 0 < printer.awaiting <= largest, header


def _bmp(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("1", (width, height), 1).save(out, format="BMP")
    return out.getvalue()


def test_a_bmp_graphics_definition_is_skipped_whole() -> None:
    # GS D m fn a kc1 kc2 b c d1...dk (fn 67: NV graphics); d is a Windows BMP file.
    bmp = _bmp(64, 32)
    printer = VirtualPrinter(P58)
    printer.feed(b"\x1dD\x30\x43\x30\x20\x20\x01\x31" + bmp + b"after\n\x1dV\x00")
    assert printed_texts(printer) == ["after"]  # not the BMP's bytes as text
    assert [(d.offset, d.command) for d in printer.diagnostics] == [(0, "GS D")]
    assert "not simulated" in printer.diagnostics[0].problem


def test_esc_star_stripes_past_the_line_width_are_ignored() -> None:
    # ZJiang ZJ-58 manual, ESC *: "If the bit-image data input exceeds the number of
    # dots to be printed on a line, the excess data is ignored."
    stripe = b"\x1b*\x21" + (100).to_bytes(2, "little") + b"\xff" * 300
    printer = VirtualPrinter(P58)
    printer.feed(stripe * 10 + b"\n\x1dV\x00")
    (image,) = [line for line in printer.receipts[0].lines if line.kind.value == "image"]
    assert image.width_dots == P58.dots_per_line


def test_a_long_esc_star_image_is_kept_in_pieces_of_bounded_height() -> None:
    stripe = b"\x1b*\x21" + (8).to_bytes(2, "little") + b"\xff" * 24 + b"\n"
    printer = VirtualPrinter(P58)
    printer.feed(b"\x1b3\x18" + stripe * 200 + b"\x1dV\x00")
    images = [line for line in printer.receipts[0].lines if line.kind.value == "image"]
    assert sum(image.height_dots for image in images) == 200 * 24
    assert max(image.height_dots for image in images) <= 2048


def test_a_command_left_incomplete_is_discarded_on_request() -> None:
    printer = VirtualPrinter(P58)
    printer.feed(b"ok\n\x1dv0\x00\x30\x00\x64\x00" + bytes(100))  # needs 4800 bytes
    assert printer.awaiting == 4800 - 100
    assert printer.discard_incomplete("host gone") == 108
    assert printer.awaiting == 0
    (diagnostic,) = printer.diagnostics
    assert (diagnostic.offset, diagnostic.command) == (3, "GS v")
    assert "host gone inside the command; its 108 byte(s) discarded" in diagnostic.problem
    printer.feed(DLE_EOT_1)
    assert printer.read_reply() == b"\x12"


def test_a_connection_closing_mid_command_does_not_swallow_the_next_ones_status() -> None:
    port = PrinterPort(VirtualPrinter(P58))
    with TcpPrinter(port) as server:
        with socket.create_connection((server.host, server.tcp_port), timeout=10) as first:
            # A valid raster header (48 x 100 bytes) whose data never comes.
            first.sendall(b"\x1dv0\x00\x30\x00\x64\x00" + bytes(10))
        with socket.create_connection((server.host, server.tcp_port), timeout=10) as second:
            second.sendall(DLE_EOT_1)
            assert second.recv(16) == b"\x12"
    (diagnostic,) = port.printer.diagnostics
    assert (diagnostic.offset, diagnostic.command) == (0, "GS v")
    assert diagnostic.problem == "connection closed inside the command; its 18 byte(s) discarded"


def test_problems_are_located_in_each_connections_own_stream() -> None:
    port = PrinterPort(VirtualPrinter(P58))
    located: list[tuple[int, int]] = []

    def locate(diagnostic: EscposDiagnostic) -> None:
        assert diagnostic.offset is not None
        where = port.locate(diagnostic.offset)
        assert where is not None
        located.append((where.connection.id, where.offset))

    port.printer.on_diagnostic.append(locate)
    one, two = port.open_connection("one"), port.open_connection("two")
    port.feed(b"first job\n" * 100, one)
    port.close_connection(one)
    port.feed(b"abc\x1b\x99", two)  # ESC 0x99 at offset 3 of connection 2's stream
    port.feed(b"d\x1d", two)
    port.feed(b"\x99", two)  # GS 0x99 across two reads, at offset 6
    assert located == [(2, 3), (2, 6)]
    assert [d.offset for d in port.printer.diagnostics] == [1003, 1006]
