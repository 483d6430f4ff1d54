"""docs/scenario.schema.json: up to date, valid, and in step with the parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from simulator.scenario import args, reference
from simulator.scenario.loader import discover
from simulator.scenario.schema import REGENERATE, SCHEMA_PATH, render, scenario_schema
from simulator.scenario.steps import STEPS

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
SCENARIOS = discover([LIBRARY])


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = scenario_schema()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _errors(validator: Draft202012Validator, document: Any) -> list[str]:
    return [error.message for error in validator.iter_errors(document)]


def test_the_schema_file_is_up_to_date() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        f"{SCHEMA_PATH} is stale: regenerate it with `{REGENERATE}`"
    )


def test_the_reference_page_is_up_to_date() -> None:
    page = reference.DOC_PATH.read_text(encoding="utf-8")
    assert page == reference.updated_page(page), (
        f"the generated parts of {reference.DOC_PATH} are stale: regenerate them with "
        f"`{reference.REGENERATE}`"
    )


def test_every_step_has_a_valid_schema_its_example_meets() -> None:
    for keyword, step_class in STEPS.items():
        schema = args.schema(step_class)
        Draft202012Validator.check_schema(schema)
        (value,) = yaml.safe_load(step_class.example).values()
        problems = [e.message for e in Draft202012Validator(schema).iter_errors(value)]
        assert not problems, f"{keyword}: its example {step_class.example!r} fails: {problems}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_library_scenario_validates(validator: Draft202012Validator, path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert _errors(validator, document) == []


@pytest.mark.parametrize(
    ("steps", "problem"),
    [
        ([{"insert_crad": "unionpay_debit"}], "insert_crad"),
        ([{"expect_screen": "approvd"}], "approvd"),
        ([{"expect_callback": {"result": "OK", "reason": "x"}}], "reason"),
        ([{"sale": "twelve"}], "twelve"),
        ([{"wait": "soon"}], "soon"),
        ([{"sale": "1.00", "insert_card": "unionpay_debit"}], "too many"),
        ([{"insert_card": "no_such_card"}], "no_such_card"),
        ([], "should be non-empty"),
    ],
)
def test_schema_refuses_what_the_parser_refuses(
    validator: Draft202012Validator, steps: list[dict[str, Any]], problem: str
) -> None:
    errors = list(validator.iter_errors({"name": "x", "steps": steps}))
    assert errors, f"the schema accepted {steps}"
    # The error names the culprit, in its message or as the value it refused.
    shown = [f"{e.message} {json.dumps(e.instance, ensure_ascii=False)}" for e in errors]
    assert any(problem in text for text in shown), shown


def test_schema_knows_the_top_level_keys(validator: Draft202012Validator) -> None:
    ok = {
        "name": "x",
        "purpose": "one line",
        "seed": 3,
        "terminal": "default",
        "variants": {"card_transport": ["sim", "pcsc"]},
        "steps": [{"sale": "1.00"}],
    }
    assert _errors(validator, ok) == []
    assert _errors(validator, {**ok, "step": []})
    assert _errors(validator, {**ok, "purpose": "two\nlines"})
    assert _errors(validator, {**ok, "variants": {"card_transport": ["usb"]}})
