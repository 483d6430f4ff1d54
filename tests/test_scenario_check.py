"""``possim check``: every problem of every file, as file:line, without running anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.cli import main
from simulator.errors import ScenarioError
from simulator.scenario.loader import discover, load_scenario

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"

BAD = """\
name: several mistakes
purpse: typo at the top
steps:
  - sale: "1.00"
  - insert_crad: unionpay_debit
  - expect_screen: aproved
  - expect_callback: {result: OK, within: 10s, reason_contain: "x"}
  - insert_card: unionpay_debt
  - wait: 30s
"""


def _check(capsys: pytest.CaptureFixture[str], *paths: Path) -> tuple[int, list[str]]:
    status = main(["check", *map(str, paths)])
    return status, capsys.readouterr().out.splitlines()


def test_the_library_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    status, out = _check(capsys, LIBRARY)
    assert status == 0
    assert out == [f"{len(discover([LIBRARY]))} scenarios OK"]


def test_every_problem_of_a_file_is_reported_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    status, out = _check(capsys, path)
    assert status == 2  # invalid input, as under possim run
    assert out == [
        f"{path}:2: unknown key 'purpse': did you mean 'purpose'?",
        f"{path}:5: unknown step 'insert_crad': did you mean 'insert_card'?",
        f"{path}:6: expect_screen: unknown screen 'aproved': did you mean 'approved'?",
        f"{path}:7: expect_callback: unknown key 'reason_contain': did you mean 'reason_contains'?",
        f"{path}:8: insert_card: unknown card 'unionpay_debt': did you mean 'unionpay_debit'?",
    ]


def test_a_folder_mixes_good_and_bad_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "good.yaml").write_text(
        "name: fine\nsteps:\n  - sale: '1.00'\n  - wait: 1s\n", encoding="utf-8"
    )
    (tmp_path / "broken.yaml").write_text("name: x\nsteps: [\n", encoding="utf-8")
    status, out = _check(capsys, tmp_path)
    assert status == 2  # invalid input, as under possim run
    (line,) = out
    assert line.startswith(f"{tmp_path / 'broken.yaml'}:3: ")


def test_run_says_the_same_as_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    _, out = _check(capsys, path)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    assert str(caught.value) == out[0]


def test_an_unknown_step_far_from_any_name_lists_them_all(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("name: x\nsteps:\n  - zzzzzz: 1\n", encoding="utf-8")
    status, (line,) = _check(capsys, path)
    assert status == 2  # invalid input, as under possim run
    assert line.startswith(f"{path}:3: unknown step 'zzzzzz': expected one of ")
    assert "insert_card" in line and "expect_screen" in line


def test_a_missing_path_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "nowhere.yaml")]) == 2
    assert "no such file or folder" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("card_fault: {remove_at_apdu: 0}", "card_fault.remove_at_apdu: expected a whole number"),
        ("card_fault: {remove_at: 3}", "did you mean 'remove_at_apdu'?"),
        ("gateway_fault: {delay: 35s, drop_response: true}", "name exactly one fault"),
        ("gateway_fault: {drop_response: false}", "write drop_response: true"),
        ("gateway_fault: {delay: soon}", "gateway_fault.delay: expected a duration"),
        ("qr_gateway_fault: {status: 200}", "expected an HTTP error, 400-599"),
        ("qr_gateway_fault: {status: 503, times: 0}", "qr_gateway_fault.times"),
        ("scan_noise: {}", "scan_noise: expected"),
        ("scan_noise: {garbage: -1}", "scan_noise.garbage"),
    ],
)
def test_fault_steps_refuse_bad_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, problem: str
) -> None:
    path = tmp_path / "fault.yaml"
    path.write_text(f"name: x\nsteps:\n  - {step}\n", encoding="utf-8")
    status, (line,) = _check(capsys, path)
    assert status == 2  # invalid input, as under possim run
    assert line.startswith(f"{path}:3: ") and problem in line, line
