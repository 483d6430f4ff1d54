"""The limits possim enforces on the files people write (docs/reliability.md):
YAML (every YAML file, through drivers/fixtures.py), the bounds of
scenario step arguments (one declaration each: parser and JSON Schema agree),
and terminal TOML. Each limit is refused with one ``file:line: ...`` line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from limits_helpers import bounded, run_possim

from drivers import fixtures as yaml_lines
from drivers.fixtures import FixtureFileError
from simulator.cli import main
from simulator.devices import cards
from simulator.errors import ConfigError, FixtureError, ScenarioError
from simulator.scenario.model import Where, check_scenario, parse_duration
from simulator.scenario.schema import scenario_schema
from simulator.terminal.config import TerminalConfig

# The limits docs/reliability.md documents (drivers/fixtures.py).
MAX_NODES = 100_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 1024 * 1024

# ~500 bytes: nine lists of nine, each made of the one before: 9**9 (387 million)
# strings once expanded. PyYAML shares the aliased lists, but anything that walks
# them -- an error message quoting the value -- walks every one.
BILLION_LAUGHS = (
    "name: laughs\n"
    'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(
        f"{name}: &{name} [{', '.join([f'*{before}'] * 9)}]\n"
        for before, name in zip("abcdefgh", "bcdefghi", strict=True)
    )
    + "steps:\n  - wait: *i\n"
)


def scenario_file(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def check_output(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[str]]:
    status = main(["check", str(path)])
    return status, capsys.readouterr().out.splitlines()


# -- YAML ------------------------------------------------------------------------


def test_an_alias_bomb_is_refused_at_its_line_in_bounded_memory(tmp_path: Path) -> None:
    assert len(BILLION_LAUGHS) < 700
    path = scenario_file(tmp_path, BILLION_LAUGHS)
    done = run_possim("check", str(path))  # 1 GiB of address space at most
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2  # invalid input
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 300
    # Line 7 holds f: nine times e, which is 9**5 -- the first past MAX_NODES.
    assert lines[0] == (
        f"{path}:7: more than {MAX_NODES} values (an alias *name counts what it repeats): "
        "possim reads no file that large"
    )


def test_aliases_within_the_limits_still_work() -> None:
    text = "base: &base {a: 1, b: 2}\nmine:\n  <<: *base\n  b: 3\nboth: [*base, *base]\n"
    doc = yaml_lines.loads(text, "doc.yaml")
    assert doc["mine"] == {"a": 1, "b": 3} and doc["both"] == [{"a": 1, "b": 2}] * 2


def test_an_alias_inside_the_value_it_names_is_refused() -> None:
    with pytest.raises(FixtureFileError) as caught:
        yaml_lines.loads("a: 1\nb: &b [1, *b]\n", "doc.yaml")
    assert caught.value.line == 2
    assert "alias *b is inside the value it names" in caught.value.problem


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 300, 5000])
def test_nesting_past_the_limit_is_refused_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], levels: int
) -> None:
    path = scenario_file(tmp_path, "name: deep\nsteps:\n  - wait: " + "[" * levels + "]" * levels)
    status, out = check_output(capsys, path)
    assert status == 2  # invalid input
    (line,) = out
    assert line.startswith(f"{path}:3: ")
    problem = line.removeprefix(f"{path}:3: ")
    # Ours up to 1000 levels; libyaml's own limit refuses more before we count them.
    assert problem.startswith(f"nested more than {MAX_DEPTH} levels deep") or problem == (
        "not valid YAML: while increasing flow level, exceeded maximum nesting depth"
    )


def test_nesting_counts_what_an_alias_holds() -> None:
    deep = "[" * 40 + "]" * 40
    ok = yaml_lines.loads(f"a: &a {deep}\nb: {'[' * 20}*a{']' * 20}\n", "doc.yaml")
    assert ok["b"] is not None
    with pytest.raises(FixtureFileError, match=f"nested more than {MAX_DEPTH} levels") as caught:
        yaml_lines.loads(f"a: &a {deep}\nb: {'[' * 30}*a{']' * 30}\n", "doc.yaml")
    assert caught.value.line == 2


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("9" * 5000, "a number of 5000 characters: possim reads numbers of at most 40"),
        ("1" + "0" * 45 + ".5", "a number of 48 characters"),
        (".inf", ".inf is not a finite number"),
        ("-.inf", "-.inf is not a finite number"),
        (".nan", ".nan is not a finite number"),
        ("1.0e+999", "1.0e+999 is not a finite number"),
    ],
)
def test_numbers_too_long_or_not_finite_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, problem: str
) -> None:
    path = scenario_file(tmp_path, f"name: n\nsteps:\n  - sale: '1.00'\n  - wait: {value}\n")
    status, out = check_output(capsys, path)
    assert status == 2  # invalid input
    assert len(out) == 1 and out[0].startswith(f"{path}:4: {problem}")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("a: 1\nb: !!int name\n", "not a !!int value: write it without the tag"),
        ("a: 1\nb: !!bool 3\n", "not a !!bool value: write it without the tag"),
        ("a: 1\nb: !!float ''\n", "not a !!float value: write it without the tag"),
        ("a: 1\nb: !!map [1]\n", "not a !!map value: write it without the tag"),
        ("a: 1\nb: !!timestamp soon\n", "not a !!timestamp value: write it without the tag"),
    ],
)
def test_a_value_its_explicit_tag_does_not_fit_is_refused(text: str, problem: str) -> None:
    with pytest.raises(FixtureFileError) as caught:
        yaml_lines.loads(text, "doc.yaml")
    assert str(caught.value) == f"doc.yaml:2: {problem}"


def test_a_control_character_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes("name: é\nsteps:\n  - wait: 1s\x00\n".encode())
    with pytest.raises(ScenarioError) as caught:
        yaml_lines.load(path, error=ScenarioError)
    assert str(caught.value) == (
        f"{path}:3: not valid YAML: character U+0000 is not allowed in YAML "
        "(control characters are not allowed)"
    )


def test_quoted_long_digits_are_text() -> None:
    assert yaml_lines.loads(f"a: '{'9' * 5000}'\n", "doc.yaml") == {"a": "9" * 5000}


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    line = "# " + "x" * 98 + "\n"
    path = scenario_file(tmp_path, "name: big\n" + line * (MAX_FILE_BYTES // len(line) + 1))
    with pytest.raises(ScenarioError) as caught:
        yaml_lines.load(path, error=ScenarioError)
    assert caught.value.problem == "larger than 1 MiB: possim reads no such file that large"
    assert caught.value.line is not None and caught.value.line > 10_000


def test_every_yaml_reader_has_the_limits(tmp_path: Path) -> None:
    """A card image (read as text, TextLineLoader) bounded like a scenario."""
    with bounded() as usage, pytest.raises(FixtureError, match="more than 100000 values"):
        cards.parse(BILLION_LAUGHS, tmp_path / "card.yaml")
    assert usage.peak_mb < 50


def test_a_long_quoted_value_is_shown_shortened(tmp_path: Path) -> None:
    path = scenario_file(tmp_path, f"name: x\nsteps:\n  - wait: {['x' * 40] * 2000}\n")
    _, problems = check_scenario(path)
    (problem,) = problems
    assert len(str(problem)) < 2200 and "characters left out" in str(problem)
    assert str(problem).startswith(f"{path}:3: wait: expected a duration")


# -- step arguments: durations and counts ---------------------------------------------

BAD_ARGUMENTS = [
    ("wait: 999999999999999h", "wait: at most 24h of virtual time, got '999999999999999h'"),
    ("wait: 25h", "wait: at most 24h of virtual time, got '25h'"),
    ("wait: 1441m", "wait: at most 24h of virtual time, got '1441m'"),
    ("wait: 86401", "wait: at most 24h of virtual time, got 86401"),
    ("wait: 86400001ms", "wait: at most 24h of virtual time, got '86400001ms'"),
    (
        "expect_screen: {screen: approved, within: 99999999999h}",
        "within: at most 24h of virtual time, got '99999999999h'",
    ),
    (
        "gateway_fault: {delay: 9999999h}",
        "gateway_fault.delay: at most 24h of virtual time, got '9999999h'",
    ),
    (
        "gateway_fault: {drop_response: true, times: 100000000}",
        "gateway_fault.times: expected a whole number from 1 to 100, got 100000000",
    ),
    (
        "qr_gateway_fault: {status: 503, times: 101}",
        "qr_gateway_fault.times: expected a whole number from 1 to 100, got 101",
    ),
    (
        'scan_code: {code: "134567890123456789", times: 100000000}',
        "scan_code.times: expected a whole number from 1 to 100, got 100000000",
    ),
    (
        "card_fault: {remove_at_apdu: 1000001}",
        "card_fault.remove_at_apdu: expected a whole number from 1 to 1000, got 1000001",
    ),
    (
        "printer_fault: {paper_end_after: 9999999999}",
        "printer_fault.paper_end_after: expected a whole number from 0 to 1000000, got 9999999999",
    ),
    (
        "printer_fault: {paper_lines_left: 100001}",
        "printer_fault.paper_lines_left: expected a whole number from 0 to 100000, got 100001",
    ),
    ("scan_noise: {garbage: 0}", "scan_noise.garbage: expected a whole number from 1 to 4096"),
]


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    return Draft202012Validator(scenario_schema())


@pytest.mark.parametrize(("step", "problem"), BAD_ARGUMENTS, ids=[s for s, _ in BAD_ARGUMENTS])
def test_check_run_and_the_schema_refuse_arguments_past_their_bounds(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    validator: Draft202012Validator,
    step: str,
    problem: str,
) -> None:
    text = f"name: bounds\nsteps:\n  - sale: '1.00'\n  - {step}\n"
    path = scenario_file(tmp_path, text)
    status, out = check_output(capsys, path)
    assert status == 2  # invalid input
    assert len(out) == 1 and out[0].startswith(f"{path}:4: {problem}")
    # possim run reads the file with the same parser: the scenario is invalid, not run.
    assert main(["run", str(path), "--out", str(tmp_path / "runs")]) != 0
    assert f"ERROR {path}:4: {problem}" in capsys.readouterr().out
    # ... and an editor with the JSON Schema flags the same value.
    assert list(validator.iter_errors(yaml.safe_load(text))), f"the schema accepted {step}"


@pytest.mark.parametrize(
    "step",
    [
        "wait: 24h",
        "wait: 1440m",
        "wait: 86400",
        "wait: 86400s",
        "wait: 23.99h",
        "wait: 0.5",
        "wait: 024h",
        "gateway_fault: {drop_response: true, times: 100}",
        "card_fault: {remove_at_apdu: 1000}",
        "printer_fault: {paper_end_after: 1000000}",
    ],
)
def test_arguments_at_their_bounds_are_accepted(
    tmp_path: Path, validator: Draft202012Validator, step: str
) -> None:
    text = f"name: bounds\nsteps:\n  - sale: '1.00'\n  - {step}\n"
    _, problems = check_scenario(scenario_file(tmp_path, text))
    assert problems == []
    assert list(validator.iter_errors(yaml.safe_load(text))) == []


def _parser_accepts(value: Any) -> bool:
    try:
        parse_duration(value, Where(Path("x.yaml"), 1), "wait")
    except ScenarioError:
        return False
    return True


DURATION_SCHEMA = scenario_schema()["$defs"]["step"]["properties"]["wait"]
NUMBERS = st.one_of(
    st.integers(0, 10**10).map(str),
    st.decimals(0, 10**9, places=3, allow_nan=False, allow_infinity=False).map(str),
    st.sampled_from(["24", "24.0", "24.00001", "1440", "86400", "86400000", "0", "007"]),
)


@settings(max_examples=300, deadline=None)
@given(
    number=NUMBERS,
    unit=st.sampled_from(["", "s", "ms", "m", "h", " h", "x"]),
    as_number=st.booleans(),
)
def test_the_schema_and_the_parser_agree_on_every_duration(
    number: str, unit: str, as_number: bool
) -> None:
    value: Any = float(number) if as_number and not unit else f"{number}{unit}"
    schema_accepts = not list(Draft202012Validator(DURATION_SCHEMA).iter_errors(value))
    assert schema_accepts == _parser_accepts(value), value


# -- terminal TOML ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a = " + "[" * 5000 + "]" * 5000 + "\n", None, "nested too deeply"),
        ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n", None, "nested too deeply"),
        ("[timeouts]\ncard = " + "9" * 5000 + "\n", 2, "a number too long to read"),
        ("[timeouts]\ncard = inf\n", 2, "timeouts.card: expected seconds, more than 0"),
        ("[timeouts]\ncard = nan\n", 2, "timeouts.card: expected seconds, more than 0"),
        ("[timeouts]\nhost = 1e9\n", 2, "timeouts.host: expected seconds, more than 0 and at"),
        ('[timeouts]\n\nqr_poll = "5"\n', 3, "timeouts.qr_poll: expected seconds"),
        ("[timeouts]\nqr_poll = 0\n", 2, "timeouts.qr_poll: expected seconds, more than 0"),
        ("[timeouts]\nreversal_attempts = 1000000\n", 2, "expected a whole number from 0 to 10"),
        ("[timeouts]\ncardd = 5\n", 2, "[timeouts] cardd: unknown key; expected one of card"),
        ("[devices]\ncard_reader = 5\n", 2, "devices.card_reader: expected text in quotes"),
        ("[terminal]\n# id\nterminal_id = 12345678\n", 3, "terminal.terminal_id: expected text"),
        ('[terminal]\nterminal_id = "X"\n', 2, "terminal_id 'X' must be 8 characters"),
        ("devices = 5\n", 1, "devices: expected a table"),
        ("[printer]\nx = 1\n", 1, "unknown section [printer]"),
        ("[keys]\npin_key = [1]\n", 2, "keys.pin_key: expected text in quotes"),
        ("a = [1,\n", None, "not valid TOML"),
        ("[terminal]\nvendor = 'x'\nvendor = 'y'\n", 3, "not valid TOML: Cannot overwrite"),
    ],
)
def test_a_bad_terminal_configuration_names_file_and_line(
    tmp_path: Path, text: str, line: int | None, problem: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with bounded() as usage, pytest.raises(ConfigError) as caught:
        TerminalConfig.load(str(path))
    assert usage.peak_mb < 50
    assert caught.value.line == line
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert "\n" not in str(caught.value)


def test_a_terminal_configuration_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(b'[terminal]\nmerchant_name = "\xff"\n')
    with pytest.raises(ConfigError) as caught:
        TerminalConfig.load(str(path))
    assert str(caught.value) == f"{path}:2: not UTF-8 text: byte 0xFF is not valid UTF-8"


def test_a_scenario_names_its_bad_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    terminal = tmp_path / "t.toml"
    terminal.write_text("[timeouts]\nhost = inf\n", encoding="utf-8")
    text = f"name: x\nterminal: {json.dumps(str(terminal))}\nsteps:\n  - wait: 1s\n"
    path = scenario_file(tmp_path, text)
    status, out = check_output(capsys, path)
    assert status == 2  # invalid input
    assert out == [
        f"{path}:2: terminal: {terminal}:2: timeouts.host: expected seconds, more than 0 and "
        "at most 86400, got inf"
    ]


def test_a_terminal_that_is_not_a_name_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scenario_file(tmp_path, f"name: x\nterminal: [{'x' * 300}]\nsteps:\n  - wait: 1s\n")
    status, out = check_output(capsys, path)
    assert status == 2  # invalid input
    assert out[0].startswith(f"{path}:2: terminal: expected the name or path of a configuration")
