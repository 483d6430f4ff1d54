"""What a captured ESC/POS byte stream prints: its receipts, its problems, its paper.

A stream from a real POS app, a ``Dummy`` printer or a TCP 9100 capture goes
through the virtual printer's interpreter with nothing dropped but the
diagnostics past the first :data:`MAX_PROBLEMS_LISTED` (counted); every cut
receipt -- and what is left on the paper after the last cut -- comes out as
text, and as one 1-bit picture with a dashed cut line between receipts
(``possim render``, the ``escpos-hostile`` benchmark).
"""

from __future__ import annotations

import attrs
from PIL import Image

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.diagnostics import EscposDiagnostic
from simulator.devices.printer.paper import RenderedReceipt
from simulator.devices.printer.render.png import PaperRenderer
from simulator.devices.printer.retention import Retention

CUT_GAP_DOTS = 16
MAX_PROBLEMS_LISTED = 1000


def interpret(
    data: bytes, profile: PrinterProfile, max_problems: int = MAX_PROBLEMS_LISTED
) -> tuple[list[RenderedReceipt], list[str], int]:
    """The receipts a stream prints (the uncut rest last), its first problems and their count.

    Everything the stream prints is kept (its size bounds the paper); of its
    problems, the first ``max_problems`` (the diagnostics hook counts the rest).
    """
    printer = VirtualPrinter(profile, attrs.evolve(Retention.unbounded(), diagnostics=0))
    problems: list[str] = []
    total = 0

    def note(diagnostic: EscposDiagnostic) -> None:
        nonlocal total
        total += 1
        if len(problems) < max_problems:
            problems.append(diagnostic.message)

    printer.on_diagnostic.append(note)
    printer.feed(data)
    if printer.awaiting:
        total += 1
        problems.append(
            f"offset {len(data)}: the stream ends inside a command "
            f"({printer.awaiting} more byte(s) expected); the command was not run"
        )
    receipts = list(printer.receipts)
    rest = printer.tear_off()
    if rest is not None:
        receipts.append(rest)
    return receipts, problems, total


def cut_line(columns: int, cut: str) -> str:
    label = " cut " if cut != "partial" else " partial cut "
    side = max(2, (columns - len(label)) // 2)
    return "-" * side + label + "-" * side


def render_text(receipts: list[RenderedReceipt], profile: PrinterProfile) -> str:
    parts: list[str] = []
    for receipt in receipts:
        parts.append(receipt.text)
        if receipt.cut != "none":
            parts.append(cut_line(profile.chars_per_line, receipt.cut))
    return "\n".join(parts)


def render_paper(
    receipts: list[RenderedReceipt], renderer: PaperRenderer, max_height: int | None = None
) -> tuple[Image.Image, bool]:
    """Every receipt, one under the other, a dashed line where the paper was cut.

    At most ``max_height`` dots of paper are drawn; the flag says whether all was.
    """
    images: list[Image.Image] = []
    room = max_height
    complete = True
    for receipt in receipts:
        image, drawn = renderer.render_within(receipt, room)
        if drawn:
            images.append(image)
        if drawn < len(receipt.lines):
            complete = False
            break
        if room is not None:
            room -= image.height + CUT_GAP_DOTS
    width = renderer.geometry.width
    if not images:
        return Image.new("1", (width, 1), 255), complete
    height = sum(image.height for image in images) + CUT_GAP_DOTS * len(images)
    paper = Image.new("1", (width, height), 255)
    y = 0
    for image, receipt in zip(images, receipts[: len(images)], strict=True):
        paper.paste(image, (0, y))
        y += image.height
        if receipt.cut != "none":
            middle = y + CUT_GAP_DOTS // 2
            for x in range(0, width, 8):
                paper.paste(0, (x, middle, min(width, x + 4), middle + 1))
        y += CUT_GAP_DOTS
    return paper, complete
