"""The JSON Schema (draft 2020-12) of scenario files, built from the steps' declarations.

Each step's arguments are declared once (:mod:`simulator.scenario.args`); the
schema of its value is :func:`simulator.scenario.args.schema`. This module
wraps them into the document's schema and writes it to
``docs/scenario.schema.json``, where editors find it (the VS Code YAML
extension, through a ``# yaml-language-server: $schema=...`` first line).
The parser (:mod:`simulator.scenario.loader`, from the same declarations) also
checks what a schema cannot (that a card file exists, combinations that can
never pass ...), and the tests validate the whole library with both.

Regenerate after adding or changing a step::

    .venv/bin/python -m simulator.scenario.schema
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from drivers import fixtures
from simulator.devices.transports import TRANSPORT_AXES
from simulator.scenario import args
from simulator.scenario.steps import STEPS
from simulator.terminal.vendor_names import VENDORS

SCHEMA_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "scenario.schema.json"
REGENERATE = ".venv/bin/python -m simulator.scenario.schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def scenario_schema() -> dict[str, Any]:
    """The schema of one scenario file."""
    return {
        "$schema": DIALECT,
        "$id": "scenario.schema.json",
        "title": "possim scenario",
        "description": "A scenario for possim (`possim docs scenarios`); `possim check FILE` "
        "checks it fully, `possim run FILE` runs it.",
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "What the scenario is, in a few words."},
            "purpose": {
                "type": "string",
                "pattern": r"^[^\n]+$",
                "description": "What the scenario proves, in one line.",
            },
            "seed": {
                "type": "integer",
                "default": 0,
                "description": "Seeds the randomness (unpredictable numbers, auth codes).",
            },
            "terminal": {
                "type": "string",
                "default": "default",
                "examples": fixtures.names("terminals", (".toml",)),
                "description": "A terminal configuration: firmware_fixtures/terminals/<name>.toml "
                "or a path.",
            },
            "variants": _variants_schema(),
            "unsupported": {
                "type": "object",
                "description": "Vendors whose contract lacks an operation this scenario uses, "
                "and the code they refuse it with: run with such a vendor "
                "(`possim run --vendor`), the scenario ends, passed, at that refusal.",
                "minProperties": 1,
                "propertyNames": {"enum": list(VENDORS)},
                "additionalProperties": {"type": ["string", "integer"]},
            },
            "steps": {
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/$defs/step"},
                "description": "What happens, in order: each step is a one-key mapping.",
            },
        },
        "required": ["name", "steps"],
        "additionalProperties": False,
        "$defs": {"step": _step_schema()},
    }


def _step_schema() -> dict[str, Any]:
    properties = {}
    for keyword in sorted(STEPS):
        step_class = STEPS[keyword]
        kind = "Action" if step_class.is_action else "Expectation"
        properties[keyword] = {
            **args.schema(step_class),
            "description": f"{kind}. {step_class.help}\n\nExample: {step_class.example}",
        }
    return {
        "type": "object",
        "description": "One step: `- keyword: value`.",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": properties,
        "additionalProperties": False,
    }


def _variants_schema() -> dict[str, Any]:
    properties = {}
    for axis, values in {**TRANSPORT_AXES, "vendor": VENDORS}.items():
        one: dict[str, Any] = {"enum": list(values)}
        properties[axis] = {
            "anyOf": [one, {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}]
        }
    return {
        "type": "object",
        "description": "Run the scenario once per combination of these transports and vendors.",
        "minProperties": 1,
        "properties": properties,
        "additionalProperties": False,
    }


def render() -> str:
    """The schema as written to docs/scenario.schema.json."""
    return json.dumps(scenario_schema(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    SCHEMA_PATH.write_text(render(), encoding="utf-8")
    print(f"wrote {SCHEMA_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
