"""What one scenario leaves in its artifacts folder, besides the runner's JSONL transcript.

- ``transcript.txt``: every event, one line each;
- ``receipts.txt``: the receipts' text; ``receipt-01.png`` ...: each cut receipt
  drawn dot for dot by the virtual printer's renderer from what its ESC/POS
  interpreter made of the bytes (only when the printer is simulated);
- ``speech.txt`` and ``speech-01.wav`` ... (when WAVs were rendered);
- ``apdu``/``iso8583``/``http``/``escpos`` ``.jsonl`` + ``.txt``: per-device
  transcripts (:mod:`simulator.scenario.report.transcripts`).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drivers.clock import Clock
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.paper import LineKind, RenderedReceipt
from simulator.devices.printer.render.png import png_bytes
from simulator.events import Event
from simulator.scenario.report.transcripts import Record, write_device_transcripts, write_pair
from simulator.terminal.print_queue import PrinterFaulted, PrinterRecovered, Reprinting
from simulator.terminal.tracing import PrintJobSent

if TYPE_CHECKING:
    from simulator.shop import Shop
    from simulator.view import ShopView

# What the terminal's printer side did: jobs sent, faults, recoveries, reprints.
_PRINTER_EVENTS = (PrintJobSent, PrinterFaulted, PrinterRecovered, Reprinting)


def receipt_png_name(index: int) -> str:
    """The PNG of the ``index``-th (1-based) receipt the printer cut."""
    return f"receipt-{index:02d}.png"


class PrinterTap:
    """Where each cut fell in the printer's byte stream, for the job sizes in ``escpos``.

    A receipt hook, so it sees every transport (in process, USB, pty, TCP) the
    same way; the hook runs after the printer has taken in the chunk holding the
    cut, and a job ends with its cut, so the count is the job's last byte.
    """

    def __init__(self, printer: VirtualPrinter, clock: Clock) -> None:
        self._printer = printer
        self._clock = clock
        self.cuts: list[tuple[int, float]] = []  # bytes received so far, virtual time
        printer.on_receipt.append(self._cut)

    @classmethod
    def attach(cls, shop: Shop) -> PrinterTap | None:
        printer = shop.view.virtual_printer
        return None if printer is None else cls(printer, shop.clock)

    def _cut(self, receipt: RenderedReceipt) -> None:
        self.cuts.append((self._printer.bytes_received, self._clock.monotonic()))


def write_scenario_artifacts(view: ShopView, folder: Path, tap: PrinterTap | None) -> None:
    events = view.events()
    (folder / "transcript.txt").write_text(
        "\n".join(event.line() for event in events) + "\n", encoding="utf-8"
    )
    receipts_text = "\n\n".join(receipt.text for receipt in view.receipts())
    (folder / "receipts.txt").write_text(receipts_text + "\n", encoding="utf-8")
    speech = [utterance.payload.text for utterance in view.utterances()]
    (folder / "speech.txt").write_text("\n".join(speech) + "\n", encoding="utf-8")
    for index, wav in enumerate(view.wav_files(), 1):
        # sim://?wav=DIR rendered each utterance: keep a copy beside speech.txt.
        shutil.copyfile(wav, folder / f"speech-{index:02d}.wav")
    receipts = view.cut_receipts()
    printer = view.virtual_printer
    if printer is not None:
        for index, receipt in enumerate(receipts, 1):
            (folder / receipt_png_name(index)).write_bytes(png_bytes(receipt, printer.profile))
    write_device_transcripts(folder, events)
    write_pair(folder, "escpos", escpos_records(view, events, receipts, tap), escpos_line)


def escpos_records(
    view: ShopView,
    events: Sequence[Event],
    receipts: Sequence[RenderedReceipt],
    tap: PrinterTap | None,
) -> list[Record]:
    records: list[Record] = [
        {
            "type": "event",
            "seq": event.seq,
            "at": round(event.at, 6),
            "kind": event.kind,
            "summary": event.summary,
        }
        for event in events
        if isinstance(event.payload, _PRINTER_EVENTS)
    ]
    printer = view.virtual_printer
    if printer is None:  # a real printer: only what the terminal's driver did
        return records
    cuts = tap.cuts if tap is not None else []
    previous = 0
    for index, receipt in enumerate(receipts, 1):
        record: Record = {"type": "receipt", "index": index, "png": receipt_png_name(index)}
        if index <= len(cuts):
            received, at = cuts[index - 1]
            record.update(at=round(at, 6), bytes=received - previous)
            previous = received
        record.update(_receipt_summary(receipt))
        records.append(record)
    port = view.printer_port
    for piece in port.torn_off if port is not None else []:
        records.append({"type": "torn_off", **_receipt_summary(piece)})
    records.extend(
        {
            "type": "diagnostic",
            "offset": diagnostic.offset,
            "command": diagnostic.command,
            "problem": diagnostic.problem,
        }
        for diagnostic in printer.diagnostics
    )
    records.append(
        {
            "type": "totals",
            "bytes_received": printer.bytes_received,
            "receipts": len(receipts),
            # Counted whole: the lists above keep the newest (see printer/retention.py).
            "diagnostics": len(printer.diagnostics) + printer.diagnostics.dropped,
            "unprinted_lines": len(printer.unprinted) + printer.unprinted.dropped,
            "drawer_kicks": printer.drawer_kicks,
            "dropped": printer.dropped,
        }
    )
    return records


def _receipt_summary(receipt: RenderedReceipt) -> dict[str, Any]:
    return {
        "cut": receipt.cut,
        "lines": len(receipt.lines),
        "qr_codes": list(receipt.qr_codes),
        "barcodes": list(receipt.barcodes),
        "images": sum(line.kind is LineKind.IMAGE for line in receipt.lines),
    }


def escpos_line(record: Record) -> str:
    kind = record["type"]
    if kind == "event":
        return f"[{record['at']:9.3f}s] {record['kind']:<10} {record['summary']}"
    if kind in ("receipt", "torn_off"):
        what = f"receipt {record['index']}" if kind == "receipt" else "torn off (partial print)"
        size = f", {record['bytes']} bytes" if "bytes" in record else ""
        codes = json.dumps(record["qr_codes"] + record["barcodes"], ensure_ascii=False)
        stamp = f"[{record['at']:9.3f}s] " if "at" in record else ""
        return (
            f"{stamp}{what}: {record['lines']} lines, cut {record['cut']}{size}, "
            f"{record['images']} image(s), codes {codes}"
        )
    if kind == "diagnostic":
        where = f"offset {record['offset']}: " if record["offset"] is not None else ""
        return f"diagnostic: {where}{record['command']}: {record['problem']}"
    return (
        f"totals: {record['bytes_received']} bytes, {record['receipts']} receipt(s), "
        f"{record['diagnostics']} diagnostic(s), {record['unprinted_lines']} unprinted line(s)"
    )
