"""``possim render FILE``: show what a captured ESC/POS byte stream prints.

The stream (from a real POS app, a ``Dummy`` printer, a TCP 9100 capture ...)
goes through the virtual printer's interpreter; every cut receipt -- and what
is left on the paper after the last cut -- is rendered to text (stdout, or
``--text OUT.txt``) and, with ``--png OUT.png``, to one 1-bit PNG at the
profile's dot width, receipts one under another with a dashed cut line between
them. Unknown or malformed commands are skipped by their known length and
listed on stderr; they do not stop the rendering.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image

from drivers.printer_profile import PrinterProfile, PrinterProfileError
from simulator.devices.escpos.render_png import PaperRenderer
from simulator.devices.paper import RenderedReceipt
from simulator.devices.printer import VirtualPrinter

CUT_GAP_DOTS = 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render", help="render a captured ESC/POS byte stream to text and PNG"
    )
    parser.add_argument("file", type=Path, help="raw ESC/POS bytes, as sent to a printer")
    parser.add_argument("--text", type=Path, help="write the text here (default: stdout)")
    parser.add_argument("--png", type=Path, help="write a PNG of the paper here")
    parser.add_argument(
        "--profile",
        default="generic_58mm",
        help="printer profile: a name in firmware_fixtures/printers/ or a path "
        "(default: %(default)s)",
    )
    parser.set_defaults(handler=render_command)


def render_command(args: argparse.Namespace) -> int:
    try:
        data = Path(args.file).read_bytes()
    except FileNotFoundError:
        return _fail(f"{args.file}: no such file")
    except IsADirectoryError:
        return _fail(f"{args.file}: is a directory, not a captured byte stream")
    except OSError as exc:
        return _fail(f"{args.file}: cannot read: {exc.strerror or exc}")
    try:
        profile = PrinterProfile.load(args.profile)
    except PrinterProfileError as exc:
        return _fail(str(exc))

    receipts, problems = interpret(data, profile)
    if problems:
        print(f"possim render: {len(problems)} problem(s) in {args.file}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
    if not receipts:
        print(f"possim render: {args.file}: nothing printed", file=sys.stderr)

    text = render_text(receipts, profile)
    try:
        if args.text is not None:
            Path(args.text).write_text(text + "\n", encoding="utf-8")
        else:
            sys.stdout.write(text + "\n" if text else "")
        if args.png is not None:
            renderer = PaperRenderer(profile)
            render_paper(receipts, renderer).save(args.png, format="PNG")
            for problem in renderer.problems:
                print(f"possim render: drawn as a box: {problem}", file=sys.stderr)
    except OSError as exc:
        return _fail(f"cannot write: {exc}")
    return 0


def interpret(data: bytes, profile: PrinterProfile) -> tuple[list[RenderedReceipt], list[str]]:
    """The receipts a stream prints (the uncut rest last) and the interpreter's reports."""
    printer = VirtualPrinter(profile)
    printer.feed(data)
    problems = list(printer.errors)
    if printer.awaiting:
        problems.append(
            f"offset {len(data)}: the stream ends inside a command "
            f"({printer.awaiting} more byte(s) expected); the command was not run"
        )
    receipts = list(printer.receipts)
    rest = printer.tear_off()
    if rest is not None:
        receipts.append(rest)
    return receipts, problems


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


def render_paper(receipts: list[RenderedReceipt], renderer: PaperRenderer) -> Image.Image:
    """Every receipt, one under the other, a dashed line where the paper was cut."""
    images = [renderer.render(receipt) for receipt in receipts]
    width = renderer.geometry.width
    if not images:
        return Image.new("1", (width, 1), 255)
    height = sum(image.height for image in images) + CUT_GAP_DOTS * len(images)
    paper = Image.new("1", (width, height), 255)
    y = 0
    for image, receipt in zip(images, receipts, strict=True):
        paper.paste(image, (0, y))
        y += image.height
        if receipt.cut != "none":
            middle = y + CUT_GAP_DOTS // 2
            for x in range(0, width, 8):
                paper.paste(0, (x, middle, min(width, x + 4), middle + 1))
        y += CUT_GAP_DOTS
    return paper


def _fail(message: str) -> int:
    print(f"possim render: {message}", file=sys.stderr)
    return 2
