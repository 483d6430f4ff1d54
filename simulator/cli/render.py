"""``possim render FILE``: show what a captured ESC/POS byte stream prints.

The stream (from a real POS app, a ``Dummy`` printer, a TCP 9100 capture ...)
goes through the virtual printer's interpreter; every cut receipt -- and what
is left on the paper after the last cut -- is rendered to text (stdout, or
``--text OUT.txt``) and, with ``--png OUT.png``, to one 1-bit PNG at the
profile's dot width, receipts one under another with a dashed cut line between
them (:mod:`simulator.devices.printer.capture`). Unknown or malformed commands
are skipped by their known length and listed on stderr (the first
:data:`~simulator.devices.printer.capture.MAX_PROBLEMS_LISTED`, then a count);
they do not stop the rendering.

Time and memory grow with the file, never faster. The PNG is the first
``--max-length-mm`` of paper (12 m by default: a stream can print kilometres
of images in a few kilobytes, and image viewers -- Pillow among them -- refuse
pictures of more than ~90 million dots); the text is always complete.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drivers.printer.profile import PrinterProfile, PrinterProfileError
from simulator.devices.printer.capture import interpret, render_paper, render_text
from simulator.devices.printer.render.png import PaperRenderer

DEFAULT_MAX_LENGTH_MM = 12_000
MM_PER_INCH = 25.4


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
    parser.add_argument(
        "--max-length-mm",
        type=int,
        default=DEFAULT_MAX_LENGTH_MM,
        metavar="MM",
        help="draw at most this much paper in the PNG (default %(default)s mm)",
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

    if args.max_length_mm < 1:
        return _fail(f"--max-length-mm {args.max_length_mm}: expected 1 or more (mm of paper)")
    receipts, problems, total = interpret(data, profile)
    if problems:
        print(f"possim render: {total} problem(s) in {args.file}:", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        if total > len(problems):
            print(f"  ... and {total - len(problems)} more", file=sys.stderr)
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
            max_height = round(args.max_length_mm * profile.dpi / MM_PER_INCH)
            paper, complete = render_paper(receipts, renderer, max_height)
            paper.save(args.png, format="PNG")
            if not complete:
                print(
                    f"possim render: the paper is longer than {args.max_length_mm} mm; "
                    f"{args.png} shows its first {args.max_length_mm} mm (the text is "
                    "complete; --max-length-mm draws more)",
                    file=sys.stderr,
                )
            for problem in renderer.problems:
                print(f"possim render: drawn as a box: {problem}", file=sys.stderr)
    except OSError as exc:
        return _fail(f"cannot write: {exc}")
    return 0


def _fail(message: str) -> int:
    print(f"possim render: {message}", file=sys.stderr)
    return 2
