"""The scenario library runs green, deterministically, and bad files say where."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import LibraryRun

from simulator.errors import ScenarioError
from simulator.scenario.loader import discover, load_scenario
from simulator.scenario.report.junit import write_junit
from simulator.scenario.runner import run_scenario

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIOS = discover([LIBRARY])

# The library run (tests/conftest.py) is shared with the other file of this group.
pytestmark = pytest.mark.xdist_group("library_run")


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_library_scenario_passes_the_same_way_twice(
    path: Path, tmp_path: Path, library_run: LibraryRun
) -> None:
    """Once in the session's ``possim run`` of the library (its own process, after the
    scenarios before it), once here: the same transcript, event for event."""
    first = library_run.artifacts.get(path)
    assert first is not None, library_run.console.decode()[-3000:]
    result = json.loads((first / "result.json").read_text(encoding="utf-8"))
    assert result["passed"], result
    second = run_scenario(load_scenario(path), tmp_path / "second")
    assert second.passed, second.failure_text
    assert _transcript(first) == _transcript(second.artifacts)


def test_library_has_the_spine_scenarios() -> None:
    names = {path.stem for path in SCENARIOS}
    assert {
        "card_purchase",
        "card_purchase_declined",
        "card_purchase_wrong_pin_retry",
        "card_purchase_lost_response",
    } <= names


def test_library_has_a_scenario_per_fault() -> None:
    names = {path.stem for path in SCENARIOS}
    assert {
        "card_pulled_during_reading",
        "card_pulled_after_approval",
        "gateway_timeout_late_reply",
        "gateway_response_dropped",
        "gateway_connection_closed",
        "qr_gateway_503_on_micropay",
        "qr_gateway_503_while_polling",
        "qr_gateway_answer_lost",
        "qr_scan_noise",
    } <= names
    assert len(names) >= 30


def _transcript(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "transcript.jsonl").read_text().splitlines()]


def test_same_scenario_twice_gives_the_same_transcript(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "card_purchase_lost_response.yaml")
    first = run_scenario(scenario, tmp_path / "first")
    second = run_scenario(scenario, tmp_path / "second")
    assert first.passed and second.passed
    assert _transcript(first.artifacts) == _transcript(second.artifacts)
    # The host timeout ran on virtual time: the reversal went out 30 s later.
    events = _transcript(first.artifacts)
    reversal = next(
        e for e in events if e["source"] == "host_link" and e["detail"]["mti"] == "0400"
    )
    assert reversal["at"] == pytest.approx(30.0)


def test_another_seed_changes_the_unpredictable_number(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "card_purchase.yaml")
    first = run_scenario(scenario, tmp_path / "a", seed=1)
    second = run_scenario(scenario, tmp_path / "b", seed=2)
    assert first.passed and second.passed
    assert _transcript(first.artifacts) != _transcript(second.artifacts)


def test_failing_expectation_shows_expected_and_transcript(tmp_path: Path) -> None:
    path = tmp_path / "wrong.yaml"
    path.write_text(
        "name: expects the wrong outcome\nsteps:\n"
        '  - sale: "20.51"\n'
        "  - insert_card: unionpay_debit\n"
        "  - enter_pin: card\n"
        "  - expect_screen: {screen: approved, within: 10s}\n",
        encoding="utf-8",
    )
    result = run_scenario(load_scenario(path), tmp_path / "out")
    assert not result.passed
    text = result.failure_text
    assert f"{path}:6:" in text
    assert "expected screen approved within 10 s" in text
    assert "declined" in text  # what did appear
    assert "0210" in text  # the transcript around it


def test_enter_pin_when_nobody_asks_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "early.yaml"
    path.write_text(
        "name: types too early\nsteps:\n  - sale: '1.00'\n  - enter_pin: '1234'\n", encoding="utf-8"
    )
    result = run_scenario(load_scenario(path), tmp_path / "out")
    assert not result.passed
    assert "not asking for a PIN" in result.failure_text


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            "name: x\nsteps:\n  - sale: '1.00'\n  - insrt_card: unionpay_debit\n",
            4,
            "unknown step 'insrt_card'",
        ),
        ("name: x\nsteps:\n  - sale: 'twelve'\n", 3, "sale: 'twelve' is not an amount"),
        ("name: x\nsteps:\n  - insert_card: no_such_card\n", 3, "no_such_card"),
        ("name: x\nsteps:\n  - expect_screen: approvd\n", 3, "unknown screen 'approvd'"),
        ("name: x\nsteps:\n  - wait: soon\n", 3, "expected a duration"),
        ("name: x\nsteps:\n  - sale: '1.00'\n    amount: 2\n", 3, "one-key mapping"),
        ("name: x\nsteps: [\n", 3, "valid YAML"),
        ("name: x\nstep:\n  - sale: '1.00'\n", 2, "unknown key 'step'"),
        ("name: x\nseed: one\nsteps:\n  - sale: '1.00'\n", 2, "seed: expected an integer"),
        ("name: x\nsteps:\n  - expect_journal: {state: paid}\n", 3, "expect_journal.state"),
        ("name: x\nterminal: nowhere\nsteps:\n  - sale: '1.00'\n", 2, "no terminal configuration"),
        (
            "name: x\nsteps:\n  - expect_gateway: [{mti: '0200', fourty: 1}]\n",
            3,
            "not a field number",
        ),
    ],
)
def test_malformed_scenario_names_file_line_and_expectation(
    tmp_path: Path, text: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert caught.value.line == line, str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")
    assert problem in str(caught.value)


def test_junit_has_one_passing_testcase_per_scenario(tmp_path: Path) -> None:
    scenario = load_scenario(LIBRARY / "card_purchase.yaml")
    result = run_scenario(scenario, tmp_path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as invalid:
        load_scenario(bad)
    report = tmp_path / "r.xml"
    write_junit([result], [invalid.value], report)
    suite = ET.parse(report).getroot()
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "0", "1")
    cases = suite.findall("testcase")
    assert cases[0].get("name") == scenario.name
    assert cases[0].find("failure") is None
    properties = {p.get("name"): p.get("value") for p in cases[0].iter("property")}
    assert properties["seed"] == "1"
    assert "missing 'steps'" in (cases[1].find("error").get("message") or "")


def test_reference_documents_every_step_with_an_example_that_parses(tmp_path: Path) -> None:
    from simulator.scenario.steps import STEPS

    reference = (LIBRARY.parent / "docs" / "scenarios.md").read_text(encoding="utf-8")
    for keyword, step_class in STEPS.items():
        assert f"### `{keyword}`" in reference, f"docs/scenarios.md lacks {keyword}"
        assert step_class.example in reference
        example = tmp_path / f"{keyword}.yaml"
        example.write_text(f"name: example\nsteps:\n  - {step_class.example}\n", encoding="utf-8")
        (step,) = load_scenario(example).steps
        assert step.keyword == keyword
