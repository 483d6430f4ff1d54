"""Step arguments are declared once (simulator/scenario/args.py): the parser, the
JSON Schema, ``possim check``'s messages and the reference come from the same
declaration; the steps live in one explicit table; simulator/scenario/ has no
import cycle."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import attrs
import pytest
from jsonschema import Draft202012Validator

import simulator.scenario
import simulator.scenario.steps
from simulator.errors import ScenarioError
from simulator.gateway.backoffice.reconcile import CATEGORIES
from simulator.gateway.ledger import Status
from simulator.scenario import args
from simulator.scenario.model import Step, Where
from simulator.scenario.steps import STEPS
from simulator.scenario.steps.qr import ExpectNotifies
from simulator.scenario.steps.records import ExpectLedger
from simulator.terminal.terminal import RECEIPT_KINDS

SCENARIO = Path(simulator.scenario.__file__).parent
WHERE = Where(Path("x.yaml"), 7)


def _step_classes() -> Iterator[type[Step]]:
    """Every concrete step class defined in a module of simulator/scenario/steps/."""
    package = simulator.scenario.steps
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, Step)
                and cls.__module__ == module.__name__
                and not inspect.isabstract(cls)
            ):
                yield cls


def test_the_table_is_explicit_immutable_and_complete() -> None:
    assert isinstance(STEPS, MappingProxyType)
    assert all(keyword == cls.keyword for keyword, cls in STEPS.items())
    assert sorted(cls.__name__ for cls in _step_classes()) == sorted(
        cls.__name__ for cls in STEPS.values()
    )


@pytest.mark.parametrize("cls", list(STEPS.values()), ids=list(STEPS))
def test_every_argument_is_declared_and_in_the_schema(cls: type[Step]) -> None:
    declared = {a.name for a in args.declared(cls)}
    plain = {f.name for f in attrs.fields(cls)} - {"line", "written"}
    assert plain == declared, f"{cls.keyword}: fields not declared with arg(): {plain - declared}"
    schema = args.schema(cls)
    Draft202012Validator.check_schema(schema)
    forms = [schema] if "type" in schema else schema.get("anyOf", [schema])
    mapping = next((form for form in forms if form.get("type") == "object"), None)
    in_mapping = {a.name for a in args.declared(cls) if a.spec.in_mapping}
    if cls.mapping and declared:
        assert mapping is not None and set(mapping["properties"]) == in_mapping
    if cls.shorthand is not None:
        assert cls.shorthand in declared


def test_an_enum_is_the_one_list_of_choices() -> None:
    """ExpectLedger's statuses are the ledger's Status enum: schema and messages alike."""
    schema = args.schema(ExpectLedger)
    assert schema["properties"]["status"]["enum"] == [status.value for status in Status]
    with pytest.raises(ScenarioError) as caught:
        args.parse(ExpectLedger, {"status": "aproved"}, WHERE)
    assert str(caught.value) == (
        "x.yaml:7: expect_ledger.status: unknown status 'aproved': did you mean 'approved'?"
    )
    assert args.parse(ExpectLedger, {"status": "approved"}, WHERE).status is Status.APPROVED


def test_possim_check_lists_the_declared_choices_when_nothing_is_close() -> None:
    receipt = STEPS["expect_receipt"]
    with pytest.raises(ScenarioError) as caught:
        args.parse(receipt, {"kind": "zzz"}, WHERE)
    assert caught.value.problem == (
        f"expect_receipt.kind: unknown kind 'zzz'; expected one of {', '.join(RECEIPT_KINDS)}"
    )


def test_bounds_and_constraints_are_one_declaration_for_schema_and_parser() -> None:
    fault = STEPS["gateway_fault"]
    schema = args.schema(fault)
    assert schema["properties"]["times"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 1,
        "description": "How many requests in a row the fault hits.",
    }
    assert schema["oneOf"] == [
        {"required": ["delay"]},
        {"required": ["drop_response"]},
        {"required": ["close_connection"]},
    ]
    for value, problem in (
        (
            {"delay": "5s", "times": 101},
            "gateway_fault.times: expected a whole number from 1 to 100",
        ),
        ({"delay": "5s", "close_connection": True}, "gateway_fault: name exactly one fault of"),
        ({"times": 2}, "gateway_fault: name exactly one fault of"),
    ):
        with pytest.raises(ScenarioError, match=re.escape(problem)):
            args.parse(fault, value, WHERE)
        assert list(Draft202012Validator(schema).iter_errors(value))


def test_a_steps_own_check_runs_at_load() -> None:
    with pytest.raises(ScenarioError, match=r"sale\.issuance: only for unionpay_qr"):
        args.parse(STEPS["sale"], {"amount": "1.00", "issuance": "central"}, WHERE)
    sale = args.parse(STEPS["sale"], {"amount": "1.00", "method": "unionpay_qr"}, WHERE)
    assert (sale.line, sale.written) == (7, ("amount", "method"))


def test_the_shorthand_fills_its_argument_and_names_the_keyword() -> None:
    screen = args.parse(STEPS["expect_screen"], "approved", WHERE)
    assert screen.describe() == "screen approved"
    with pytest.raises(ScenarioError) as caught:
        args.parse(STEPS["expect_screen"], "aproved", WHERE)
    assert (
        caught.value.problem == "expect_screen: unknown screen 'aproved': did you mean 'approved'?"
    )
    with pytest.raises(ScenarioError) as caught:
        args.parse(STEPS["expect_screen"], {"screen": "aproved"}, WHERE)
    assert caught.value.problem.startswith("expect_screen.screen: unknown screen 'aproved'")


def test_a_step_reads_in_the_transcript_as_it_was_written() -> None:
    notifies = args.parse(ExpectNotifies, {"forged": 1, "accepted": 1}, WHERE)
    assert notifies.describe() == "notifies forged=1, accepted=1"


def test_the_reconciliation_step_declares_every_category() -> None:
    declared = [a.name for a in args.declared(STEPS["expect_reconciliation"])]
    assert [name for name in declared if name in CATEGORIES] == list(CATEGORIES)


def _imports(path: Path) -> set[str]:
    """The simulator.scenario modules ``path`` imports (TYPE_CHECKING and local imports too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("simulator.scenario.")}


def test_simulator_scenario_has_no_import_cycle() -> None:
    modules = {}
    for path in SCENARIO.rglob("*.py"):
        parts = path.relative_to(SCENARIO.parent.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if name in trail:
            cycle = (*trail[trail.index(name) :], name)
            pytest.fail("import cycle: " + " -> ".join(cycle))
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())
