"""The `vendor` axis: the same scenario against each vendor's acquiring-app contract,
and `unsupported:` -- a vendor lacking an operation says so with its own refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import ScenarioError
from simulator.scenario.loader import load_scenario, variant_axes
from simulator.scenario.runner import run_scenario
from simulator.terminal.contract import VENDORS

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"

CARD_VOID = """\
name: void
{unsupported}steps:
  - sale: "12.34"
  - insert_card: unionpay_debit
  - enter_pin: card
  - remove_card:
  - expect_callback: {{result: OK}}
  - void: {{order: last}}
  - expect_callback: {{result: OK}}
  - expect_screen: {{screen: paid, contains: "Voided"}}
"""


def _scenario(tmp_path: Path, unsupported: str = "") -> Path:
    path = tmp_path / "void.yaml"
    path.write_text(CARD_VOID.format(unsupported=unsupported), encoding="utf-8")
    return path


def test_vendor_is_a_variant_axis() -> None:
    assert variant_axes()["vendor"] == VENDORS


@pytest.mark.parametrize("vendor", ["newland", "lakala", "sunmi", "ums"])
def test_a_card_void_runs_on_every_vendor_that_has_one(tmp_path: Path, vendor: str) -> None:
    result = run_scenario(load_scenario(_scenario(tmp_path)), tmp_path / "out", vendor=vendor)
    assert result.passed, result.failure_text
    assert result.setup["vendor"] == vendor


def test_a_vendor_without_the_operation_ends_the_run_at_its_own_refusal(tmp_path: Path) -> None:
    # WangPOS's cashier service has no void (CashierSign.java: sign and refundsign only).
    path = _scenario(tmp_path, "unsupported: {wangpos: REQ_ERR_NO_SERVICE}\n")
    result = run_scenario(load_scenario(path), tmp_path / "out", vendor="wangpos")
    assert result.passed, result.failure_text
    transcript = (result.artifacts / "transcript.txt").read_text(encoding="utf-8")
    assert "wangpos refuses: REQ_ERR_NO_SERVICE" in transcript


def test_without_the_entry_the_refusal_fails_the_run(tmp_path: Path) -> None:
    result = run_scenario(load_scenario(_scenario(tmp_path)), tmp_path / "out", vendor="wangpos")
    assert not result.passed
    assert "REQ_ERR_NO_SERVICE" in result.failure_text


def test_another_refusal_code_fails_the_run(tmp_path: Path) -> None:
    path = _scenario(tmp_path, "unsupported: {wangpos: REQ_NONE}\n")
    result = run_scenario(load_scenario(path), tmp_path / "out", vendor="wangpos")
    assert not result.passed
    assert "expected wangpos to refuse with REQ_NONE" in result.failure_text


def test_an_entry_for_a_vendor_that_accepts_everything_fails(tmp_path: Path) -> None:
    path = _scenario(tmp_path, 'unsupported: {lakala: "-2"}\n')
    result = run_scenario(load_scenario(path), tmp_path / "out", vendor="lakala")
    assert not result.passed
    assert "every operation was accepted (remove the entry)" in result.failure_text


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("unsupported: {wangpso: X}\n", "unsupported: unknown vendor 'wangpso': did you mean"),
        ("unsupported: [wangpos]\n", "unsupported: expected a mapping of vendor"),
        ("unsupported: {wangpos: [X]}\n", "unsupported.wangpos: expected the vendor's refusal"),
    ],
)
def test_a_bad_unsupported_entry_names_its_line(tmp_path: Path, entry: str, problem: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_scenario(tmp_path, entry))
    assert problem in str(caught.value)
    assert caught.value.line == 2


def test_the_library_names_only_real_refusals() -> None:
    # Every `unsupported:` entry is a shipped vendor with its profile's `unsupported` code.
    from simulator.terminal.contract import IntentContract

    for path in sorted(LIBRARY.glob("*.yaml")):
        for vendor, code in load_scenario(path).unsupported.items():
            assert code == IntentContract.load(vendor).profile.failures["unsupported"].code, path
