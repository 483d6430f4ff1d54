"""Fuzzing every parser people feed files (or frames) to, with resource bounds.

Scenario YAML, terminal TOML, card images, traces and ISO 8583 frames: built
from random structure, from the repository's own files with random edits, and
from random bytes. Each input must give a result or the parser's own typed
error -- one line, naming the file -- within a watchdog deadline and a bounded
amount of memory (tracemalloc peak; docs/reliability.md has the limits that
make these bounds hold). Example counts are modest, the suite runs them all;
``POSSIM_FUZZ_EXAMPLES=5000`` runs more of each.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import attrs
import tomli_w
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from limits_helpers import REPO, bounded

from drivers.clock import RealClock
from drivers.fixtures import FixtureFileError
from drivers.kinds import DEVICE_KINDS
from drivers.registry import DeviceContext, registry
from drivers.traffic import replay_scheme
from drivers.traffic.trace import Trace, TraceError
from simulator.devices import cards
from simulator.errors import ConfigError, FixtureError, Iso8583Error, ScenarioError
from simulator.scenario.loader import check_scenario
from simulator.scenario.steps import STEPS
from simulator.terminal.config import TerminalConfig
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec

MEMORY_MB = 64  # per input; the largest legitimate file takes a few
FUZZ = settings(
    max_examples=int(os.environ.get("POSSIM_FUZZ_EXAMPLES", "120")),
    deadline=None,  # bounded() is the per-example watchdog
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Fragments that mean something to YAML (anchors, aliases, flow, tags, numbers).
YAML_FRAGMENTS = [
    "&a ",
    "*a",
    "<<: *a\n",
    "[",
    "]",
    "{",
    "}",
    ": ",
    "- ",
    "\n  ",
    "\t",
    '"',
    "'",
    "!!int ",
    "!!python/object ",
    "9" * 60,
    ".inf",
    "---\n",
    "? ",
    "|\n",
    "\x00",
    "\ufeff",
    "[" * 80,
]


def spliced(texts: list[str], fragments: list[str]) -> st.SearchStrategy[str]:
    """One of ``texts`` with up to four fragments inserted or spans deleted."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        text = draw(st.sampled_from(texts))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, len(text)))
            if draw(st.booleans()):
                text = text[:at] + draw(st.sampled_from(fragments)) + text[at:]
            else:
                text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        return text

    return build()


def alias_bombs() -> st.SearchStrategy[str]:
    """Nested aliases of random width and depth: some fit the limits, most do not."""

    @st.composite
    def build(draw: st.DrawFn) -> str:
        width, depth = draw(st.integers(2, 12)), draw(st.integers(1, 10))
        lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
        lines += [
            f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]"
            for level in range(1, depth)
        ]
        return "name: bomb\n" + "\n".join(lines) + f"\nsteps:\n  - wait: *l{depth - 1}\n"

    return build()


def assert_one_line(error: Exception, path: Path | str) -> None:
    text = str(error)
    assert "\n" not in text, text[:500]
    assert text.startswith(str(path)), text[:500]


# -- scenario YAML -----------------------------------------------------------------------

LIBRARY = [p.read_text(encoding="utf-8") for p in sorted((REPO / "scenarios").glob("*.yaml"))]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=12),
    st.sampled_from(["30s", "25h", "1e9h", "card", "approved", "12.34", "OK", "0200", "x" * 300]),
)
KEYS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["times", "within", "screen", "code", "delay", "amount", "count", "new"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)


@st.composite
def scenario_documents(draw: st.DrawFn) -> str:
    steps = draw(st.lists(st.tuples(st.sampled_from(sorted(STEPS)), VALUES), max_size=6))
    top = draw(
        st.dictionaries(
            st.sampled_from(["name", "purpose", "seed", "terminal", "variants", "other"]),
            VALUES,
            max_size=4,
        )
    )
    document = {"name": "fuzz", **top, "steps": [{keyword: value} for keyword, value in steps]}
    return yaml.safe_dump(document, allow_unicode=True)


def _check_scenario_file(path: Path) -> None:
    with bounded() as usage:
        _, problems = check_scenario(path)
    assert usage.peak_mb < MEMORY_MB
    for problem in problems:
        assert isinstance(problem, ScenarioError)
        assert_one_line(problem, path)


@FUZZ
@given(
    text=st.one_of(
        scenario_documents(),
        spliced(LIBRARY, YAML_FRAGMENTS),
        alias_bombs(),
        st.text(alphabet="-:[]{}&*!|>'\"#\n abc019.", max_size=400),
    )
)
@example(text="name: x\nsteps:\n  - wait: " + "[" * 300 + "]" * 300 + "\n")
@example(text="name: x\nsteps:\n  - wait: " + "9" * 5000 + "\n")
@example(text="name: x\nsteps:\n  - wait: !!int name\n")
def test_scenario_yaml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _check_scenario_file(path)


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"name: x\nsteps:\n  - wait: 1s\x00\n")
def test_scenario_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    _check_scenario_file(path)


# -- terminal TOML -------------------------------------------------------------------------

TERMINALS = [
    p.read_text(encoding="utf-8") for p in (REPO / "firmware_fixtures/terminals").iterdir()
]
TOML_FRAGMENTS = ["[", "]", "[[x]]\n", "{", "}", " = ", '"', "'''", "inf", "nan", "9" * 5000]
TOML_FRAGMENTS += ["\n[timeouts]\n", "\nqr_poll = 0\n", "\x00", "[" * 500, "a.b.c = 1\n"]
TOML_VALUES = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.sampled_from(["sim://", "builtin", "iso8583://127.0.0.1:5800?mac=x919", "http://x"]),
    st.sampled_from(["C1D0F8FB4958670DBA40AB1F3752EF0D", "POSSIM01", "1.00", "898310048990001"]),
)
SECTION_KEYS = {
    "terminal": ["terminal_id", "merchant_id", "merchant_name", "vendor", "receipt", "currency"],
    "devices": ["card_reader", "pin_entry", "printer", "scanner", "speaker"],
    "gateway": ["card", "qr"],
    "timeouts": ["card", "pin", "host", "printer", "reversal_attempts", "qr_poll", "qr_http"],
    "keys": ["pin_key", "merchant_api_key", "mac_key"],
    "emv": ["floor_limit"],
    "other": ["x"],
}


@st.composite
def toml_documents(draw: st.DrawFn) -> str:
    document: dict[str, Any] = {}
    for section in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=4)):
        keys = st.sampled_from([*SECTION_KEYS[section], "zz"])
        document[section] = draw(
            st.one_of(TOML_VALUES, st.dictionaries(keys, TOML_VALUES, max_size=4))
        )
    return tomli_w.dumps(document)


def _load_terminal(path: Path) -> None:
    with bounded() as usage:
        try:
            config = TerminalConfig.load(str(path))
        except ConfigError as exc:
            assert_one_line(exc, path)
        else:  # what loads is usable: the types and ranges the terminal relies on
            for name, value in attrs.asdict(config.timeouts).items():
                assert not isinstance(value, bool), (name, value)
                assert isinstance(value, (int, float)) and 0 <= value <= 86400, (name, value)
            assert all(isinstance(url, str) for url in attrs.astuple(config.devices))
    assert usage.peak_mb < MEMORY_MB


@FUZZ
@given(text=st.one_of(toml_documents(), spliced(TERMINALS, TOML_FRAGMENTS)))
@example(text="[timeouts]\nhost = inf\n")
@example(text="[devices]\ncard_reader = 5\n")
@example(text="a = " + "[" * 5000 + "]" * 5000 + "\n")
def test_terminal_toml(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load_terminal(path)


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b'[terminal]\nmerchant_name = "\xff"\n')
def test_terminal_toml_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    _load_terminal(path)


# -- card images -----------------------------------------------------------------------------

CARDS = [
    p.read_text(encoding="utf-8") for p in sorted((REPO / "firmware_fixtures/cards").glob("*.yaml"))
]
CARD_VALUES = ["", "x", "-1", "9" * 30, "[1, 2]", "{a: 1}", "'ZZ'", "0", "true", "~", "9F02"]
CARD_VALUES += [
    "A0000003330101",
    "[]",
    "''",
    "*a",
    "&a 1",
    "0x10",
    "99999",
    "'12345678901234567890'",
]


@st.composite
def edited_cards(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(CARDS)).splitlines()
    for _ in range(draw(st.integers(1, 4))):
        index = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["delete", "value", "repeat"]))
        if action == "delete":
            del lines[index]
        elif action == "value":
            key = lines[index].partition(":")[0]
            lines[index] = f"{key}: {draw(st.sampled_from(CARD_VALUES))}"
        else:
            lines.insert(index, lines[draw(st.integers(0, len(lines) - 1))])
        if not lines:
            break
    return "\n".join(lines) + "\n"


@FUZZ
@given(text=st.one_of(edited_cards(), spliced(CARDS, YAML_FRAGMENTS), alias_bombs()))
@example(text=CARDS[0].replace("pan:", "pan: !!int name\nx:", 1))
def test_card_image_yaml(text: str) -> None:
    with bounded() as usage:
        try:
            cards.parse(text, "fuzz.yaml")
        except FixtureError as exc:
            assert_one_line(exc, "fuzz.yaml")
    assert usage.peak_mb < MEMORY_MB


@FUZZ
@given(data=st.binary(max_size=2000))
@example(data=b"\xff\xfe")
def test_card_image_bytes(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_bytes(data)
    with bounded() as usage:
        try:
            cards.load(path)
        except FixtureError as exc:
            assert_one_line(exc, path)
    assert usage.peak_mb < MEMORY_MB


# -- traces ------------------------------------------------------------------------------------

TRACE_FILES = sorted((REPO / "firmware_fixtures/traces").glob("*/*.jsonl"))
TRACE_KINDS = {kind: DEVICE_KINDS[kind] for kind in ("card_reader", "printer", "scanner")}
TRACE_FIELDS = ["n", "op", "dir", "hex", "summary", "rc", "t", "present", "sealed", "digest"]
TRACE_FIELDS += ["protocol", "possim_trace", "kind", "salt", "seal", "device", "error", "zz"]
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.sampled_from(["00", "**", "[SEALED]", "in", "out", "event", "transmit", "ZZ"]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def edited_traces(draw: st.DrawFn) -> bytes:
    lines = [
        json.loads(line) for line in draw(st.sampled_from(TRACE_FILES)).read_text().splitlines()
    ]
    for _ in range(draw(st.integers(0, 3))):
        line = lines[draw(st.integers(0, len(lines) - 1))]
        line[draw(st.sampled_from(TRACE_FIELDS))] = draw(JSON_VALUES)
    raw = bytearray(("\n".join(json.dumps(line) for line in lines) + "\n").encode())
    for _ in range(draw(st.integers(0, 2))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw)


@FUZZ
@given(data=st.one_of(edited_traces(), st.binary(max_size=2000)))
@example(data=bytes(range(0x80, 0x100)))
@example(data=b"[" * 100_000 + b"\n")
def test_traces(tmp_path: Path, data: bytes) -> None:
    replay_scheme.register(registry)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    with bounded() as usage:
        try:
            trace = Trace.load(path)
            kind = TRACE_KINDS.get(trace.kind)
            if kind is not None:
                device = registry.open(kind, f"replay://{path}", DeviceContext(clock=RealClock()))
                device.close()  # checks the trace was replayed to its end
        except (TraceError, FixtureFileError) as exc:
            assert "\n" not in str(exc) or "diverges" in str(exc), str(exc)[:500]
    assert usage.peak_mb < MEMORY_MB


# -- ISO 8583 frames ---------------------------------------------------------------------------

CODEC = Iso8583Codec(Iso8583Spec.load())
FRAMING = Framing(tpdu_length=5)
SALE = CODEC.encode(
    {
        "t": "0200",
        "2": "6214830027183655",
        "3": "000000",
        "4": "000000001234",
        "11": "000001",
        "41": "POSSIM01",
        "42": "898310048990001",
        "55": "9F2608AABBCCDDEEFF0011",
    }
)


@st.composite
def mutated_messages(draw: st.DrawFn) -> bytes:
    raw = bytearray(SALE)
    for _ in range(draw(st.integers(1, 5))):
        at = draw(st.integers(0, len(raw) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert"]))
        if action == "flip":
            raw[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del raw[at:]
        else:
            raw[at:at] = draw(st.binary(min_size=1, max_size=20))
        if not raw:
            break
    return bytes(raw)


@FUZZ
@given(
    message=st.one_of(st.binary(max_size=600), mutated_messages()),
    tpdu=st.binary(min_size=5, max_size=5),
)
def test_iso8583_frames(message: bytes, tpdu: bytes) -> None:
    """What a host does with a frame: length header, TPDU, then the message."""
    frame = FRAMING.frame(message, tpdu)
    with bounded() as usage:
        body = frame[FRAMING.header_size :]
        assert FRAMING.body_length(frame[: FRAMING.header_size]) == len(body)
        try:
            _, raw = FRAMING.split(body)
            CODEC.describe(CODEC.decode(raw))
        except Iso8583Error as exc:
            assert "\n" not in str(exc), str(exc)[:500]
    assert usage.peak_mb < MEMORY_MB
