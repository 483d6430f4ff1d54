"""What a long-running virtual printer keeps is capped, with counts of what was dropped.

Issue 13: 500 jobs of stray control bytes took ``printer serve`` from 68 MB to
1.36 GB (every diagnostic kept), and raster jobs were kept forever. Memory must
stay flat however many jobs come.
"""

from __future__ import annotations

import gc
import tracemalloc

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.retention import MIB, Retained, Retention

P58 = PrinterProfile.load("generic_58mm")
STRAY = bytes([0x01, 0x02, 0x03, 0x05, 0x06, 0x08]) * 50  # 300 ignored control bytes
RASTER = b"\x1dv0\x00\x30\x00\x64\x00" + b"\xaa" * (48 * 100)  # 384 x 100 dots


def job(number: int) -> bytes:
    return STRAY + RASTER + f"job {number}\n".encode() + b"\x1dV\x00"


def test_retained_keeps_the_newest_and_counts_the_rest() -> None:
    kept: Retained[int] = Retained(3)
    kept.extend(range(10))
    assert kept == [7, 8, 9] and kept.dropped == 7
    heavy: Retained[bytes] = Retained(None, max_weight=10, weigh=len)
    for size in (4, 4, 4, 20, 1):
        heavy.append(b"x" * size)
    assert [len(item) for item in heavy] == [1] and heavy.dropped == 4
    assert heavy.weight == 1
    nothing: Retained[int] = Retained(0)
    nothing.append(1)
    assert nothing == [] and nothing.dropped == 1


def test_defaults_bound_everything_the_printer_keeps() -> None:
    keep = VirtualPrinter(P58).retention
    assert None not in (
        keep.receipts,
        keep.receipt_bytes,
        keep.diagnostics,
        keep.unprinted,
        keep.paper_lines,
        keep.paper_bytes,
        keep.replies,
    )


def _traced_after(port: PrinterPort, jobs: range) -> int:
    connection = port.open_connection("test")
    for number in jobs:
        port.feed(job(number), connection)
    port.close_connection(connection)
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def test_memory_stays_flat_over_many_jobs_of_stray_bytes_and_rasters() -> None:
    keep = Retention(receipts=20, receipt_bytes=1 * MIB, diagnostics=50, unprinted=50)
    printer = VirtualPrinter(P58, keep)
    port = PrinterPort(printer)
    tracemalloc.start()
    try:
        after_warmup = _traced_after(port, range(40))
        after_many = _traced_after(port, range(40, 160))
    finally:
        tracemalloc.stop()
    # 120 more jobs, each ~5 KB of raster and 300 diagnostics: kept, that is >20 MB.
    assert after_many - after_warmup < 512 * 1024
    assert len(printer.receipts) == 20 and printer.receipts[-1].lines[-1].text == "job 159"
    assert len(printer.diagnostics) == len(printer.errors) == 50
    dropped = printer.dropped
    assert dropped["receipts"] == 160 - 20
    assert dropped["diagnostics"] == 160 * len(STRAY) - 50


def test_receipts_are_kept_within_their_byte_budget() -> None:
    printer = VirtualPrinter(P58, Retention(receipt_bytes=64 * 1024))
    for number in range(30):
        printer.feed(job(number))
    assert printer.receipts.weight <= 64 * 1024
    assert 0 < len(printer.receipts) < 30
    assert printer.dropped["receipts"] == 30 - len(printer.receipts)
    assert printer.receipts[-1].lines[-1].text == "job 29"


def test_paper_since_the_last_cut_is_capped() -> None:
    printer = VirtualPrinter(P58)
    cap = printer.retention.paper_lines
    assert cap is not None
    printer.feed(b"".join(b"line %d\n" % n for n in range(3 * cap)))
    assert len(printer.pending_lines) <= cap
    assert printer.pending_lines[-1].text == f"line {3 * cap - 1}"
    assert printer.dropped["paper_lines"] == 3 * cap - len(printer.pending_lines)
    (diagnostic,) = printer.diagnostics  # told once, counted after
    assert diagnostic.command == "paper" and "not kept" in diagnostic.problem
    printer.feed(b"\x1dV\x00")
    assert printer.receipts[-1].lines[-1].text == f"line {3 * cap - 1}"


def test_status_replies_a_host_never_reads_are_capped() -> None:
    printer = VirtualPrinter(P58)
    cap = printer.retention.replies
    assert cap is not None
    printer.feed(b"\x10\x04\x01" * (cap + 500))
    assert len(printer.read_reply(10 * cap)) == cap
    assert printer.dropped["replies"] == 500
    printer.feed(b"\x10\x04\x01")
    assert printer.read_reply() == b"\x12"  # read, the queue takes replies again
