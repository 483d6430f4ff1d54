"""Resource bounds the ESC/POS fuzz tests assert for every input, not only "no crash".

Per input: the Python memory its handling allocates at the peak (tracemalloc)
and the CPU time it takes (``time.process_time``: other processes on a busy
machine do not inflate it) stay under a generous budget that grows with the
input; the printer never waits for more bytes than its largest command
(:func:`simulator.devices.printer.limits.largest_command`), and once the
incomplete command is dropped it answers ``DLE EOT`` again.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.limits import largest_command

MEMORY_BASE = 32 * 1024 * 1024  # one stored 2400 x 2400 graphic at 2x is ~3 MB of it
MEMORY_PER_BYTE = 4 * 1024
CPU_BASE_SECONDS = 5.0  # each input normally takes milliseconds
CPU_PER_BYTE_SECONDS = 0.005


@contextmanager
def bounded(input_size: int) -> Iterator[None]:
    """Assert the block's peak traced memory and CPU time are within the budget."""
    tracemalloc.start()
    started = time.process_time()
    try:
        yield
        cpu = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak <= MEMORY_BASE + MEMORY_PER_BYTE * input_size, f"{peak} bytes at the peak"
    assert cpu <= CPU_BASE_SECONDS + CPU_PER_BYTE_SECONDS * input_size, f"{cpu:.2f} s of CPU"


def assert_still_answers(printer: VirtualPrinter) -> None:
    """The wait is bounded, and with the incomplete command dropped DLE EOT 1 is answered."""
    assert printer.awaiting <= largest_command(printer.profile)
    printer.discard_incomplete("fuzz input ended")
    while printer.read_reply(4096):
        pass
    printer.feed(b"\x10\x04\x01")
    assert printer.read_reply() == bytes([printer.status_byte(1)])
