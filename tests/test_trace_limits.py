"""Malformed and tampered traces (docs/replay.md, docs/reliability.md).

Whatever a trace file holds -- binary, one huge line, deep nesting, fields of
the wrong type, an edited line -- ``possim trace show``, ``possim run`` and
``replay://`` report one ``file:line: ...`` TraceFormatError, never a
traceback; and an edit of a sealed line is reported at that line.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from limits_helpers import REPO, bounded, run_possim

from drivers.card_reader import CardReader
from drivers.clock import RealClock
from drivers.registry import DeviceContext, registry
from drivers.scanner import Scanner
from drivers.traffic import replay_scheme
from drivers.traffic.hygiene import Sealer
from drivers.traffic.trace import Trace, TraceFormatError
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario

TRACES = REPO / "firmware_fixtures" / "traces"
CARD_TRACE = TRACES / "card_purchase" / "card_reader.jsonl"
SCANNER_TRACE = TRACES / "qr_wechat" / "scanner.jsonl"
MAX_TRACE_BYTES = 16 * 1024 * 1024  # docs/reliability.md
MAX_LINE_CHARS = 1024 * 1024

Edit = Callable[[list[dict[str, Any]]], None]


@pytest.fixture(autouse=True)
def replay_scheme_registered() -> None:
    replay_scheme.register(registry)


def edited(tmp_path: Path, edit: Edit, source: Path = CARD_TRACE) -> Path:
    """``source`` with its lines (header first, as JSON objects) changed by ``edit``."""
    lines = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines()]
    edit(lines)
    path = tmp_path / source.name
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


def sealed_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "sealed" in line]


def open_replay(kind: type[object], path: Path) -> Any:
    return registry.open(kind, f"replay://{path}", DeviceContext(clock=RealClock()))


def replay_scenario(tmp_path: Path, card_trace: Path) -> Path:
    """The recorded card purchase, replaying ``card_trace`` as its card reader."""
    terminal = (REPO / "firmware_fixtures" / "terminals" / "replay_card_purchase.toml").read_text(
        encoding="utf-8"
    )
    old = "replay://traces/card_purchase/card_reader.jsonl"
    assert old in terminal
    (tmp_path / "terminal.toml").write_text(
        terminal.replace(old, f"replay://{card_trace}"), encoding="utf-8"
    )
    scenario = (TRACES / "card_purchase" / "scenario.yaml").read_text(encoding="utf-8")
    path = tmp_path / "scenario.yaml"
    path.write_text(
        scenario.replace("terminal: replay_card_purchase", f"terminal: {tmp_path}/terminal.toml"),
        encoding="utf-8",
    )
    return path


# -- malformed files --------------------------------------------------------------------


def binary(path: Path) -> int:
    path.write_bytes(bytes(range(0x80, 0x100)) * 40)
    return 1


def brackets_header(path: Path) -> int:
    path.write_text("[" * 100_000 + "\n", encoding="utf-8")
    return 1


def brackets_message(path: Path) -> int:
    header = CARD_TRACE.read_text(encoding="utf-8").splitlines()[0]
    path.write_text(header + "\n" + "[" * 100_000 + "\n", encoding="utf-8")
    return 2


MALFORMED = {
    "binary": (binary, "not UTF-8 text: byte 0x80 is not valid UTF-8"),
    "brackets_header": (brackets_header, "JSON nested more than 8 levels: not a trace line"),
    "brackets_message": (brackets_message, "JSON nested more than 8 levels: not a trace line"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_trace_show_reports_a_malformed_trace_in_one_line(tmp_path: Path, case: str) -> None:
    make, problem = MALFORMED[case]
    path = tmp_path / "card_reader.jsonl"
    line = make(path)
    done = run_possim("trace", "show", str(path))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2
    assert done.stderr.splitlines() == [f"ERROR {path}:{line}: {problem}"]


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_possim_run_reports_a_malformed_replayed_trace(tmp_path: Path, case: str) -> None:
    make, problem = MALFORMED[case]
    trace = tmp_path / "card_reader.jsonl"
    line = make(trace)
    scenario = replay_scenario(tmp_path, trace)
    done = run_possim("run", str(scenario), "--out", str(tmp_path / "runs"))
    assert "Traceback" not in done.stdout + done.stderr, (done.stdout + done.stderr)[-2000:]
    assert done.returncode != 0
    assert f"ERROR {scenario}: cannot run: {trace}:{line}: {problem}" in done.stdout.splitlines()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_replay_url_reports_a_malformed_trace(tmp_path: Path, case: str) -> None:
    make, problem = MALFORMED[case]
    path = tmp_path / "card_reader.jsonl"
    line = make(path)
    with bounded() as usage, pytest.raises(TraceFormatError) as caught:
        open_replay(CardReader, path)
    assert str(caught.value) == f"{path}:{line}: {problem}"
    assert usage.peak_mb < 50


def _set(index: int, field: str, value: Any) -> Edit:
    def edit(lines: list[dict[str, Any]]) -> None:
        lines[index][field] = value

    return edit


def _drop(index: int, field: str) -> Edit:
    def edit(lines: list[dict[str, Any]]) -> None:
        del lines[index][field]

    return edit


WRONG_FIELDS = [
    (_set(3, "n", "three"), 4, "field n: expected the message number, got 'three'"),
    (_set(3, "n", -1), 4, "field n: expected the message number, got -1"),
    (_set(3, "op", 5), 4, "field op: expected an operation name, got 5"),
    (_set(3, "dir", "up"), 4, "field dir: expected out or in or event, got 'up'"),
    (_set(3, "hex", 12), 4, "field hex: expected hex digits (* for hidden ones), got 12"),
    (_set(3, "hex", "ZZ"), 4, "field hex: expected hex digits (* for hidden ones), got 'ZZ'"),
    (_set(3, "hex", "ABC"), 4, "field hex: expected hex digits (* for hidden ones), got 'ABC'"),
    (_set(3, "rc", "0"), 4, "field rc: expected a PC/SC return code, got '0'"),
    (_set(3, "rc", 2**40), 4, "field rc: expected a PC/SC return code, got 1099511627776"),
    (_set(3, "protocol", [2]), 4, "field protocol: expected a PC/SC protocol, got [2]"),
    (_set(3, "t", -1.5), 4, "field t: expected seconds, got -1.5"),
    (_set(2, "present", "yes"), 3, "field present: expected true or false, got 'yes'"),
    (_set(3, "summary", {"a": 1}), 4, "field summary: expected text, got {'a': 1}"),
    (_set(3, "digest", "xyz"), 4, "field digest: expected 64 hex digits, got 'xyz'"),
    (_set(3, "hex", "3B**"), 4, "hex hides bytes but the line has neither sealed nor digest"),
    (_set(0, "possim_trace", "1"), 1, "not a possim trace header (no possim_trace)"),
    (_set(0, "possim_trace", 3), 1, "trace format 3: this possim reads formats 1, 2 (recorded"),
    (_set(0, "kind", ["card_reader"]), 1, "header: kind is malformed"),
    (_drop(0, "kind"), 1, "header: kind is missing"),
    (_set(0, "device", "reader"), 1, "header: device is malformed"),
]


@pytest.mark.parametrize(("edit", "line", "problem"), WRONG_FIELDS)
def test_a_field_of_the_wrong_type_names_its_line(
    tmp_path: Path, edit: Edit, line: int, problem: str
) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(TraceFormatError) as caught:
        Trace.load(path)
    assert str(caught.value).startswith(f"{path}:{line}: {problem}")
    with pytest.raises(TraceFormatError):
        open_replay(CardReader, path)


@pytest.mark.parametrize(
    ("line_text", "problem"),
    [
        ('{"n": 1' + "0" * 30 + ', "op": "x", "dir": "in"}', "a number of 31 digits"),
        ('{"n": NaN, "op": "x", "dir": "in"}', "NaN is not a number a trace holds"),
        ('{"n": 1, "op": "x", "dir": "in", "t": Infinity}', "Infinity is not a number"),
        ('["n", 1]', "expected a JSON object"),
        ('{"n": 1, "op": "x", "dir": "in"', "not JSON: Expecting ',' delimiter"),
    ],
)
def test_json_a_trace_never_holds_is_refused_at_its_line(line_text: str, problem: str) -> None:
    header = CARD_TRACE.read_text(encoding="utf-8").splitlines()[0]
    with pytest.raises(TraceFormatError) as caught:
        Trace.parse(f"{header}\n\n{line_text}\n", "t.jsonl")
    assert str(caught.value).startswith(f"t.jsonl:3: {problem}")


@pytest.mark.parametrize(
    ("edit", "problem"),
    [
        (_set(0, "salt", "nothex"), "header: salt is missing or malformed"),
        (_drop(0, "seal"), "header: seal is missing"),
        (
            _set(0, "seal", {"key": "header", "value": "zz"}),
            "header: seal.value: expected the key, 64 hex digits",
        ),
        (
            _set(0, "seal", {"key": "header", "value": "00" * 32, "kcv": "x"}),
            "header: seal.kcv does not match seal.value",
        ),
    ],
)
def test_a_malformed_seal_header_is_a_trace_error(tmp_path: Path, edit: Edit, problem: str) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(TraceFormatError) as caught:
        open_replay(CardReader, path)
    assert str(caught.value) == f"{path}:1: {problem}"


def test_malformed_scanner_framing_in_the_header_is_a_trace_error(tmp_path: Path) -> None:
    def framing(lines: list[dict[str, Any]]) -> None:
        lines[0]["device"]["timeout"] = 1e300

    path = edited(tmp_path, framing, SCANNER_TRACE)
    with pytest.raises(TraceFormatError) as caught:
        open_replay(Scanner, path)
    assert str(caught.value) == (
        f"{path}:1: header: device.timeout: expected seconds up to 10, got 1e+300"
    )


def test_a_trace_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    header = CARD_TRACE.read_text(encoding="utf-8").splitlines()[0]
    line = json.dumps({"n": 0, "op": "write", "dir": "out", "hex": "00" * 4000}) + "\n"
    path.write_text(header + "\n" + line * (MAX_TRACE_BYTES // len(line) + 1), encoding="utf-8")
    with bounded() as usage, pytest.raises(TraceFormatError) as caught:
        Trace.load(path)
    assert caught.value.problem == "larger than 16 MiB: possim reads no such file that large"
    assert usage.peak_mb < 3 * MAX_TRACE_BYTES / 1e6


def test_a_line_over_the_length_limit_is_refused(tmp_path: Path) -> None:
    header = CARD_TRACE.read_text(encoding="utf-8").splitlines()[0]
    line = json.dumps({"n": 0, "op": "write", "dir": "out", "hex": "00" * MAX_LINE_CHARS})
    with pytest.raises(TraceFormatError) as caught:
        Trace.parse(f"{header}\n{line}\n", "t.jsonl")
    assert str(caught.value).startswith(f"t.jsonl:2: a line of {len(line)} characters")


# -- the seal ------------------------------------------------------------------------------


def _tamper_sealed(lines: list[dict[str, Any]]) -> None:
    line = sealed_lines(lines)[0]
    raw = bytearray(base64.b64decode(line["sealed"]))
    raw[20] ^= 0x01  # one bit of the response
    line["sealed"] = base64.b64encode(bytes(raw)).decode()


def _edit_summary(lines: list[dict[str, Any]]) -> None:
    sealed_lines(lines)[0]["summary"] = "SW 9000 OK, 3 data bytes"


def _move_seal(lines: list[dict[str, Any]]) -> None:
    first, second = sealed_lines(lines)[:2]
    first["sealed"], second["sealed"] = second["sealed"], first["sealed"]


def _renumber(lines: list[dict[str, Any]]) -> None:
    sealed_lines(lines)[0]["n"] += 2


def _edit_rc(lines: list[dict[str, Any]]) -> None:
    sealed_lines(lines)[0]["rc"] = 0x80100069  # SCARD_W_REMOVED_CARD


TAMPERED = {"response": _tamper_sealed, "summary": _edit_summary, "moved": _move_seal}
TAMPERED |= {"renumbered": _renumber, "return_code": _edit_rc}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_an_edited_sealed_line_is_reported_at_that_line(tmp_path: Path, case: str) -> None:
    path = edited(tmp_path, TAMPERED[case])
    first = next(m for m in Trace.load(path) if "sealed" in m.extra)
    scenario = attrs.evolve(
        load_scenario(replay_scenario(tmp_path, path)), terminal=str(tmp_path / "terminal.toml")
    )
    with pytest.raises(TraceFormatError) as caught:
        run_scenario(scenario, tmp_path / "run")
    assert str(caught.value) == (
        f"{path}:{first.line}: exchange {first.n}: this line or its sealed bytes were edited "
        "after recording (the seal no longer matches): record the trace again"
    )
    # ... never blamed on a later exchange.
    assert "diverges" not in str(caught.value)


def test_the_summary_of_a_clear_line_is_for_people_only(tmp_path: Path) -> None:
    """Editing it changes nothing a replay checks: the bytes are on the line in clear."""

    def edit(lines: list[dict[str, Any]]) -> None:
        lines[5]["summary"] = "edited"

    path = edited(tmp_path, edit)
    scenario = attrs.evolve(
        load_scenario(replay_scenario(tmp_path, path)), terminal=str(tmp_path / "terminal.toml")
    )
    assert run_scenario(scenario, tmp_path / "run").passed


def test_a_format_1_trace_still_replays(tmp_path: Path) -> None:
    """Format 1 sealed a response to its op, dir and hex; such traces are still read."""
    sealer = Sealer.for_recording()
    header = {
        "possim_trace": 1,
        "kind": "scanner",
        "url": "serial:///dev/pts/9",
        "device": {"prefix": "", "suffix": "0d", "max_length": 512, "timeout": 0.05},
        "salt": "00" * 16,
        "seal": sealer.header,
    }
    code = b"134567890123456789\r"
    line = {
        "n": 0,
        "op": "read",
        "dir": "in",
        "hex": "[SEALED]",
        "sealed": sealer.seal(code, b"read in [SEALED]"),
        "t": 0.0,
        "summary": "scan *************6789",
    }
    path = tmp_path / "scanner.jsonl"
    path.write_text(f"{json.dumps(header)}\n{json.dumps(line)}\n", encoding="utf-8")
    scanner = open_replay(Scanner, path)
    try:
        assert scanner.read_code(1.0) == code.decode().strip()
    finally:
        scanner.close()


def test_fixture_traces_are_the_current_format() -> None:
    for path in sorted(TRACES.glob("*/*.jsonl")):
        assert Trace.load(path).version == 2, path
