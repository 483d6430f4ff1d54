"""``possim render`` takes time and memory in proportion to the file, never more.

Issue 13: a 4 MB line without a newline took 27 s (10 MB: not done in 240 s) --
the line was re-sliced for every 32 characters printed; a 202 KB file of
repeated graphics prints took 1.85 GB to render to PNG. Each case runs the real
command in a subprocess with a generous deadline and reports its own peak RSS.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from simulator import cli

DEADLINE = 180.0  # seconds; the fixed code needs a few, the quadratic one hours
RSS_BOUND_KB = 600 * 1024
# Run possim in-process in a child and print its own peak RSS (KB) last on stderr.
CHILD = (
    "import resource, sys\n"
    "from simulator.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def possim(*args: str | Path) -> tuple[int, str, int]:
    """Exit code, stderr and peak RSS (KB) of ``possim ARGS`` run in a child process."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=DEADLINE,
    )
    *lines, peak = done.stderr.rstrip("\n").split("\n")
    return done.returncode, "\n".join(lines), int(peak)


def test_a_10_mb_line_without_a_newline_renders_in_linear_time(tmp_path: Path) -> None:
    stream = tmp_path / "one-line.bin"
    size = 10 * 1024 * 1024
    stream.write_bytes((b"possim renders long lines in linear time. " * (size // 42 + 1))[:size])
    text = tmp_path / "out.txt"
    code, err, peak = possim("render", stream, "--text", text)
    assert code == 0, err
    lines = text.read_text(encoding="utf-8").split("\n")
    assert len(lines) >= size // 32  # 32 characters a line on 58 mm paper
    assert lines[0] == "possim renders long lines in lin"
    assert peak < RSS_BOUND_KB


PRINT_GRAPHICS = b"\x1d(L\x02\x00\x30\x32"  # GS ( L fn 50


def graphics_prints(size: int) -> bytes:
    """A 384 x 240 raster stored once (GS ( L fn 112), printed (fn 50) until ``size`` bytes."""
    width, height = 384, 240
    body = bytes([48, 112, 48, 1, 1, 49])
    body += width.to_bytes(2, "little") + height.to_bytes(2, "little")
    body += b"\xaa" * (width // 8 * height)
    stream = bytearray(b"\x1d(L" + len(body).to_bytes(2, "little") + body)
    while len(stream) < size:
        stream += PRINT_GRAPHICS
    return bytes(stream + b"\x1dV\x00")


def test_a_file_of_repeated_graphics_renders_a_bounded_png(tmp_path: Path) -> None:
    stream = tmp_path / "graphics.bin"
    data = graphics_prints(202 * 1024)  # ~28,000 prints: 840 m of paper
    stream.write_bytes(data)
    png, text = tmp_path / "out.png", tmp_path / "out.txt"
    code, err, peak = possim("render", stream, "--png", png, "--text", text)
    assert code == 0, err
    assert peak < RSS_BOUND_KB
    assert f"the paper is longer than 12000 mm; {png} shows its first 12000 mm" in err
    with Image.open(png) as image:
        assert image.width == 384
        assert 12000 / 25.4 * 203 - 240 <= image.height <= 12000 / 25.4 * 203
    prints = data.count(PRINT_GRAPHICS)
    assert text.read_text(encoding="utf-8").count("[IMAGE 384x240]") == prints  # all of it


def test_max_length_draws_more_or_less_paper(tmp_path: Path) -> None:
    stream = tmp_path / "graphics.bin"
    stream.write_bytes(graphics_prints(2 * 1024))
    png = tmp_path / "out.png"
    assert cli.main(["render", str(stream), "--png", str(png), "--max-length-mm", "100"]) == 0
    with Image.open(png) as image:
        assert image.height <= 100 / 25.4 * 203
    assert cli.main(["render", str(stream), "--png", str(png), "--max-length-mm", "0"]) == 2


def test_render_lists_the_first_problems_and_counts_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "stray.bin"
    stream.write_bytes(b"\x01" * 2500 + b"ok\n")
    assert cli.main(["render", str(stream)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"possim render: 2500 problem(s) in {stream}:"
    assert err[1] == "  offset 0: control byte 0x01: not an ESC/POS command; ignored"
    assert err[-1] == "  ... and 1500 more"
    assert len(err) == 1 + 1000 + 1
