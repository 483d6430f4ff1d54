"""The virtual printer and ``possim render`` on hostile input: speed that grows with size only.

Issue 13's cases, measured in process:

- one line without a newline, 1, 4 and 10 MB, interpreted (``possim render``'s
  first step): seconds per MB should not grow with the size (it was quadratic:
  4 MB took 27 s, 10 MB more than 240 s);
- random bytes (seeded), MB per CPU second, and the diagnostics per second
  they cause -- what ``printer serve`` sustains against garbage;
- a 202 KB file of repeated graphics prints rendered to PNG (it took 1.85 GB
  and minutes; now bounded by ``--max-length-mm``), seconds and peak RSS of the
  process so far.

Budget: >= 2 MB/s for long lines at every size, >= 0.5 MB of random bytes per CPU second.
"""

from __future__ import annotations

import argparse
import random
import resource
import time

from simulator.bench import Measurement

LINE_BUDGET = 2.0
RANDOM_BUDGET = 0.5
MB = 1024 * 1024


def run(options: argparse.Namespace) -> Measurement:
    from drivers.printer.profile import PrinterProfile
    from simulator.devices.printer import VirtualPrinter
    from simulator.devices.printer.capture import interpret, render_paper
    from simulator.devices.printer.render.png import PaperRenderer
    from simulator.devices.printer.retention import Retention

    profile = PrinterProfile.load("generic_58mm")
    details: dict[str, str] = {}

    rates = []
    for size in (1, 4, 10):
        line = (b"possim renders long lines in linear time. " * (size * MB // 42 + 1))[: size * MB]
        printer = VirtualPrinter(profile, Retention.unbounded())
        started = time.perf_counter()
        printer.feed(line)
        seconds = time.perf_counter() - started
        rates.append(size / seconds)
        details[f"line of {size} MB"] = f"{seconds:.2f} s, {size / seconds:.1f} MB/s"
    line_rate = min(rates)
    details["long lines"] = (
        f"slowest {line_rate:.1f} MB/s (budget >= {LINE_BUDGET:g}: "
        f"{'OK' if line_rate >= LINE_BUDGET else 'UNDER'})"
    )

    size = (options.count or 4) * MB
    garbage = random.Random(options.seed).randbytes(size)
    printer = VirtualPrinter(profile)
    started, cpu_started = time.perf_counter(), time.process_time()
    for offset in range(0, size, 4096):  # as a TCP server reads it
        printer.feed(garbage[offset : offset + 4096])
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started  # what other processes' load does not inflate
    random_rate = size / MB / cpu
    diagnostics = printer.dropped["diagnostics"] + len(printer.diagnostics)
    details["random bytes"] = (
        f"{size // MB} MB in {seconds:.2f} s ({cpu:.2f} s CPU): {random_rate:.2f} MB/s of CPU, "
        f"{diagnostics / cpu:.0f} diagnostics/s (budget >= {RANDOM_BUDGET:g} MB/s: "
        f"{'OK' if random_rate >= RANDOM_BUDGET else 'UNDER'})"
    )

    width, height = 384, 240
    body = bytes([48, 112, 48, 1, 1, 49]) + width.to_bytes(2, "little")
    body += height.to_bytes(2, "little") + b"\xaa" * (width // 8 * height)
    graphics = bytearray(b"\x1d(L" + len(body).to_bytes(2, "little") + body)
    while len(graphics) < 202 * 1024:
        graphics += b"\x1d(L\x02\x00\x30\x32"
    started = time.perf_counter()
    receipts, _, _ = interpret(bytes(graphics) + b"\x1dV\x00", profile)
    paper, _ = render_paper(receipts, PaperRenderer(profile), round(12_000 * profile.dpi / 25.4))
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    details["repeated graphics"] = (
        f"202 KB to a {paper.height}-dot PNG in {seconds:.2f} s; peak RSS so far {peak_mb:.0f} MB"
    )
    return Measurement(figure=line_rate, unit="MB/s for the slowest long line", details=details)
