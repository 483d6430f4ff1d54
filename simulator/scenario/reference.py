"""The step reference in docs/scenarios.md, generated from the step classes.

Each step contributes its ``help``, its value's shape (read from the JSON Schema
its declared arguments give, :func:`simulator.scenario.args.schema`: the same
declarations the parser reads) and its ``example``, so the page can never
disagree with the parser. The generated part sits between two markers in
docs/scenarios.md; the prose around it is written by hand. Regenerate it (and
docs/scenario.schema.json) after adding or changing a step::

    .venv/bin/python -m simulator.scenario.reference
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from simulator.devices import cards
from simulator.scenario import args
from simulator.scenario import schema as scenario_schema
from simulator.scenario.kinds import MAX_DURATION
from simulator.scenario.model import Step
from simulator.scenario.steps import STEPS

DOC_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "scenarios.md"
# The generated parts of the page, each between its two markers.
_SOURCE = "generated from the step classes by simulator/scenario/reference.py"
BLOCKS = (
    (f"<!-- BEGIN VALUES: {_SOURCE} -->", "<!-- END VALUES -->"),
    (f"<!-- BEGIN STEPS: {_SOURCE} -->", "<!-- END STEPS -->"),
)
REGENERATE = ".venv/bin/python -m simulator.scenario.reference"

# Families in the order the page shows them: (title, introduction, modules of
# simulator/scenario/steps/).
_FAMILIES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "Card payments, the PIN pad and time",
        "The cashier starts a sale; the cardholder inserts, swipes, picks and types. "
        "Card-side rules: [emv.md](emv.md); the host's magic amounts: [gateway.md](gateway.md).",
        ("sale", "card", "pin_pad", "screen", "host", "speech", "receipts", "records"),
    ),
    (
        "QR payments",
        "WeChat Pay, Alipay and UnionPay QR; the gateway side is [qr_api.md](qr_api.md), "
        "the terminal side [qr_terminal.md](qr_terminal.md).",
        ("qr", "orders"),
    ),
    (
        "Money charged",
        "What the customers were charged on every channel, read from the gateway's own "
        "store: the check that nothing was charged.",
        ("charged",),
    ),
    (
        "Card voids, refunds and settlement",
        "`void` and `refund` above handle card sales too; messages, codes and the batch "
        "lifecycle in [settlement.md](settlement.md).",
        ("settlement",),
    ),
    (
        "The back office",
        "Channel statements, reconciliation and the merchant's merged statement "
        "([backoffice.md](backoffice.md)).",
        ("backoffice",),
    ),
    (
        "Fault injection",
        "Faults are steps like any other: arm them where they should hit (see "
        "[Fault injection](#fault-injection) above for what each proves).",
        ("printer", "faults"),
    ),
)
# Descriptions of the shared argument kinds (args.py): their shape says it all.
_SHARED_DESCRIPTIONS = ("Yuan", "A duration", "Takes no arguments", "A card")


def render_steps() -> str:
    """The generated part of docs/scenarios.md (between the markers, exclusive)."""
    placed: set[str] = set()
    sections: list[str] = []
    for title, introduction, modules in _FAMILIES:
        family = [cls for cls in STEPS.values() if cls.__module__.rpartition(".")[2] in modules]
        family.sort(key=lambda cls: not cls.is_action)  # actions first, stable otherwise
        if not family:
            continue
        sections.append(f"## {title}\n\n{introduction}\n")
        sections.extend(_step_section(cls) for cls in family)
        placed.update(cls.keyword for cls in family)
    others = [cls for keyword, cls in STEPS.items() if keyword not in placed]
    if others:
        sections.append("### Other steps\n")
        sections.extend(_step_section(cls) for cls in others)
    return "\n".join(sections)


def _step_section(cls: type[Step]) -> str:
    kind = "action" if cls.is_action else "expectation"
    lines = [f"### `{cls.keyword}` ({kind})", "", cls.help, ""]
    lines.extend(_value_lines(args.schema(cls)))
    lines.extend(["", "```yaml", f"- {cls.example}", "```", ""])
    return "\n".join(lines)


def _value_lines(schema: dict[str, Any]) -> list[str]:
    forms = schema.get("anyOf", [])
    if not any("properties" in form for form in forms):
        forms = [schema]  # one shape, perhaps with alternatives of its own
    mapping = next((form for form in forms if "properties" in form), None)
    shown = [_shape(form) for form in forms if form is not mapping]
    if mapping is not None:
        shown.append("a mapping with the keys below")
    lines = [f"Value: {' or '.join(shown)}."]
    if mapping is not None:
        required = set(mapping.get("required", ()))
        choose = [set(alt.get("required", ())) for alt in mapping.get("oneOf", ())]
        at_least = [set(alt.get("required", ())) for alt in mapping.get("anyOf", ())]
        lines.extend(["", "| key | value | |", "|---|---|---|"])
        for key, value in mapping["properties"].items():
            need = "required" if key in required else "optional"
            if any(key in alt for alt in choose):
                need = "one of these is required"
            if any(key in alt for alt in at_least):
                need = "at least one of these is required"
            default = value.get("default")
            if default is not None and default is not False:
                need += f", default `{_literal(default)}`"
            note = value.get("description", "")
            if note.startswith(_SHARED_DESCRIPTIONS):
                note = ""  # the shape already says it
            lines.append(f"| `{key}` | {_shape(value)}{f' -- {note}' if note else ''} | {need} |")
    return lines


def _shape(schema: dict[str, Any]) -> str:
    """A few words for the values ``schema`` accepts."""
    description = schema.get("description", "")
    if description.startswith("A card"):
        return "a card name (see [Values](#values)) or the path of a card file"
    if "const" in schema:
        return f"`{_literal(schema['const'])}`"
    if "enum" in schema:
        return "one of " + _choices(schema["enum"])
    if "anyOf" in schema:
        if description.startswith("A duration"):
            return f"a duration (`30s`, `500ms`, `2m`, or seconds; at most {_max_duration()})"
        if description.startswith("Takes no arguments"):
            return "nothing (write the keyword alone)"
        return " or ".join(dict.fromkeys(_shape(form) for form in schema["anyOf"]))
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items", {})
        return f"a list of {_shape(items) if 'properties' not in items else _message(items)}"
    if kind == "object":
        keys = ", ".join(f"`{key}`" for key in schema.get("properties", {}))
        return f"a mapping of {keys}" if keys else "a mapping"
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"a whole number {low}-{high}"
        return "a whole number" + (f" of {low} or more" if low is not None else "")
    if kind == "boolean":
        return "`true` or `false`"
    if description.startswith("Yuan"):
        return 'an amount in yuan (`"12.34"`)'
    pattern = schema.get("pattern", "")
    if "0-9A-Fa-f" in pattern:
        return "hex digits"
    if pattern.startswith("^[0-9]{"):
        low, _, high = pattern[len("^[0-9]{") :].partition("}")[0].partition(",")
        return f"{low}-{high} digits" if high else f"{low} digits"
    return "text"


def _max_duration() -> str:
    return f"{MAX_DURATION / 3600:g}h"


def _message(items: dict[str, Any]) -> str:
    keys = list(items["properties"])
    if "patternProperties" in items:
        keys.append("<field number>")
    return "mappings of " + ", ".join(f"`{key}`" for key in keys)


def _choices(values: Iterable[Any]) -> str:
    return ", ".join(f"`{_literal(value)}`" for value in values)


def _literal(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def render_values() -> str:
    """The catalogues a scenario names values from, as they are today."""
    from simulator.terminal.display import ScreenId
    from simulator.terminal.journal import TxnState
    from simulator.terminal.qr_payments import QR_CHANNELS
    from simulator.terminal.terminal import RECEIPT_KINDS

    return "\n".join(
        [
            "- Card names (`firmware_fixtures/cards/`): " + _choices(cards.names()) + ".",
            "- Screen ids: " + _choices(s.value for s in ScreenId) + ".",
            "- Wallets (`customer_pays_qr`, `expect_qr_order.channel`): "
            + _choices(QR_CHANNELS)
            + ".",
            "- Journal states (`expect_journal`): " + _choices(s.value for s in TxnState) + ".",
            "- Receipt kinds (`expect_receipt.kind`): " + _choices(RECEIPT_KINDS) + ".",
            "",
        ]
    )


def updated_page(page: str) -> str:
    """``page`` with its generated parts replaced by the current ones."""
    for (begin, end), render in zip(BLOCKS, (render_values, render_steps), strict=True):
        start, stop = page.index(begin) + len(begin), page.index(end)
        page = page[:start] + "\n\n" + render() + "\n" + page[stop:]
    return page


def main() -> int:
    page = DOC_PATH.read_text(encoding="utf-8")
    DOC_PATH.write_text(updated_page(page), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return scenario_schema.main()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
