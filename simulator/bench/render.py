"""Receipts interpreted and rendered per second: to text, and to PNG.

A typical receipt is the terminal's purchase receipt (merchant copy of
firmware_fixtures/receipts/sale.yaml with its signature block, a CODE128 order
number and an e-receipt QR code) as EscposPrinter sends it through
python-escpos. Each iteration is the whole path a viewer takes: a fresh
VirtualPrinter interprets the bytes, then the cut receipt is rendered -- to
text (``RenderedReceipt.text``) or to PNG bytes (Pillow, 384 dots wide). Glyph
masks are cached per font and profile, as in a long-running simulator; each
PNG iteration renders a QR code with different data, so no symbol cache helps.

Budget (issue 4): >= 200 receipts/s to text, >= 20 receipts/s to PNG.
"""

from __future__ import annotations

import argparse
import time

from simulator.bench import BenchmarkFailed, Measurement

DEFAULT_COUNT = 500
TEXT_BUDGET = 200.0
PNG_BUDGET = 20.0
WARMUP = 5


def run(options: argparse.Namespace) -> Measurement:
    from drivers.printer.profile import PrinterProfile
    from simulator.bench.samples import sale_receipt
    from simulator.devices.printer import VirtualPrinter
    from simulator.devices.printer.render.png import PaperRenderer

    count = options.count or DEFAULT_COUNT
    profile = PrinterProfile.load("generic_58mm")
    stream = sale_receipt(profile, qr=True)
    marker = b"202601151030000001"  # the e-receipt QR's order number: varied per PNG
    renderer = PaperRenderer(profile)

    def interpret(data: bytes) -> VirtualPrinter:
        printer = VirtualPrinter(profile)
        printer.feed(data)
        if len(printer.receipts) != 1 or printer.errors:
            raise BenchmarkFailed(f"the benchmark receipt did not print cleanly: {printer.errors}")
        return printer

    for _ in range(WARMUP):
        renderer.png(interpret(stream).receipts[0])

    started = time.perf_counter()
    characters = 0
    for _ in range(count):
        characters += len(interpret(stream).receipts[0].text)
    text_seconds = time.perf_counter() - started

    png_count = max(1, count // 5)
    variants = [stream.replace(marker, f"{index:018d}".encode()) for index in range(png_count)]
    started = time.perf_counter()
    size = 0
    for data in variants:
        size += len(renderer.png(interpret(data).receipts[0]))
    png_seconds = time.perf_counter() - started

    text_rate = count / text_seconds
    png_rate = png_count / png_seconds
    return Measurement(
        figure=png_rate,
        unit="receipts/s to PNG",
        details={
            "receipt": f"{len(stream)} bytes, {characters // count} characters of text",
            "text": f"{text_rate:.0f} receipts/s over {count} (budget >= {TEXT_BUDGET:g}/s: "
            f"{'OK' if text_rate >= TEXT_BUDGET else 'UNDER'})",
            "png": f"{png_rate:.1f} receipts/s over {png_count}, {size // png_count} bytes each "
            f"(budget >= {PNG_BUDGET:g}/s: {'OK' if png_rate >= PNG_BUDGET else 'UNDER'})",
        },
    )
