"""Receipts from templates kept as data (``firmware_fixtures/receipts/``).

A malformed template raises :class:`FixtureError` naming the file, the line
and the entry (``lines[3].align``).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

import firmware_fixtures
from drivers.printer import Align, Barcode, Cut, Feed, PrintDocument, PrintItem, QrCode, TextLine
from firmware_fixtures import yaml_lines
from firmware_fixtures.yaml_lines import line_of
from simulator.errors import FixtureError

# What a template may print. There is deliberately no full PAN here.
RECEIPT_FIELDS = frozenset(
    {
        "copy_label",
        "merchant_name",
        "merchant_id",
        "terminal_id",
        "masked_pan",
        "card_label",
        "batch_no",
        "stan",
        "auth_code",
        "rrn",
        "datetime",
        "order_no",
        "amount",
        "signature",  # "1" when the cardholder must sign, else empty
        "cvm",  # how the cardholder was verified, as text (empty for a signature)
        "reprint",  # REPRINT_MARK on a receipt printed again after a fault, else empty
    }
)
_OPTIONAL_FIELDS = {"signature": "", "cvm": "", "reprint": ""}
# A receipt printed again because the first print was interrupted (paper end,
# cover open ...) says so. Templates place it with a line using {reprint} or
# `if: reprint`; a template that does not gets DEFAULT_REPRINT_LINE on top.
REPRINT_MARK = "重打印 REPRINT"
DEFAULT_REPRINT_LINE = TextLine(f"*** {REPRINT_MARK} ***", align=Align.CENTER, bold=True)
# `if: FIELD` prints a line only when FIELD is non-empty, `unless: FIELD` only when empty.
_CONDITION_KEYS = {"if", "unless"}
_STYLE_KEYS = {"align", "bold", "double_width", "double_height", "only"} | _CONDITION_KEYS


@attrs.frozen
class _Line:
    kind: str  # text / rule / qr / barcode / feed / cut
    value: Any
    style: Mapping[str, Any]
    only: str | None
    when: str | None = None  # print only when this field is non-empty
    unless: str | None = None  # print only when this field is empty


@attrs.frozen
class ReceiptTemplate:
    name: str
    copies: Mapping[str, str]  # copy id -> label, in print order
    lines: tuple[_Line, ...]

    @classmethod
    def load(cls, name_or_path: str) -> ReceiptTemplate:
        path = firmware_fixtures.locate(
            "receipts", name_or_path, (".yaml", ".yml"), "receipt template", FixtureError
        )
        doc = yaml_lines.load(path, error=FixtureError)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("lines"), list):
            raise FixtureError(
                path,
                "expected a mapping with 'copies' and a list of 'lines'",
                line_of(doc, "lines"),
            )
        copies = doc.get("copies")
        if not isinstance(copies, Mapping) or not copies:
            raise FixtureError(
                path, "copies: expected a mapping of copy id -> label", line_of(doc, "copies")
            )
        raw_lines = doc["lines"]
        lines = tuple(
            _parse_line(path, index, raw, set(copies), line_of(raw_lines, index))
            for index, raw in enumerate(raw_lines)
        )
        return cls(name=str(doc.get("name", path.stem)), copies=dict(copies), lines=lines)

    @property
    def places_reprint_mark(self) -> bool:
        """Whether a line of the template prints the reprint marker itself."""
        return any(
            "reprint" in (line.when, line.unless)
            or (isinstance(line.value, str) and "{reprint}" in line.value)
            for line in self.lines
        )

    def render(
        self, copy: str, values: Mapping[str, str], *, width: int, reprint: bool = False
    ) -> PrintDocument:
        """The document for one copy; ``reprint`` adds the reprint marker (see above)."""
        # Optional fields default to empty, so callers from before them still render.
        fields = {**_OPTIONAL_FIELDS, **values, "copy_label": self.copies[copy]}
        fields["reprint"] = REPRINT_MARK if reprint else ""
        items: list[PrintItem] = []
        if reprint and not self.places_reprint_mark:
            items.append(DEFAULT_REPRINT_LINE)
        for line in self.lines:
            if line.only is not None and line.only != copy:
                continue
            if line.when is not None and not fields.get(line.when):
                continue
            if line.unless is not None and fields.get(line.unless):
                continue
            if line.kind == "text":
                items.append(TextLine(line.value.format_map(fields), **line.style))
            elif line.kind == "rule":
                items.append(TextLine(line.value * width))
            elif line.kind == "qr":
                items.append(QrCode(line.value.format_map(fields)))
            elif line.kind == "barcode":
                items.append(Barcode(line.value.format_map(fields)))
            elif line.kind == "feed":
                items.append(Feed(int(line.value)))
            elif line.kind == "cut":
                items.append(Cut())
        title = f"{self.name} receipt ({copy} copy{', reprint' if reprint else ''})"
        return PrintDocument(title=title, items=tuple(items))


def _parse_line(path: Path, index: int, raw: object, copies: set[str], line: int | None) -> _Line:
    """Template line ``index`` (``line`` is where it is in the file)."""
    where = f"lines[{index}]"
    if not isinstance(raw, Mapping):
        raise FixtureError(path, f"{where}: expected a mapping like {{text: ...}}", line)

    def fail(problem: str, key: str | None = None) -> FixtureError:
        return FixtureError(path, problem, line if key is None else line_of(raw, key) or line)

    kinds = [key for key in ("text", "rule", "qr", "barcode", "feed", "cut") if key in raw]
    if len(kinds) != 1:
        raise fail(f"{where}: expected exactly one of text/rule/qr/barcode/feed/cut")
    kind = kinds[0]
    unknown = set(raw) - _STYLE_KEYS - {kind}
    if unknown:
        raise fail(f"{where}: unknown key(s) {sorted(unknown)}", sorted(unknown)[0])
    only = raw.get("only")
    if only is not None and only not in copies:
        raise fail(f"{where}.only: {only!r} is not a copy ({sorted(copies)})", "only")
    conditions: dict[str, str] = {}
    for key in _CONDITION_KEYS & set(raw):
        if raw[key] not in RECEIPT_FIELDS:
            raise fail(f"{where}.{key}: {raw[key]!r} is not a receipt field", key)
        conditions[key] = str(raw[key])
    value = raw[kind]
    if kind in ("text", "qr", "barcode"):
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(str(value))]
        except ValueError as exc:
            raise fail(f"{where}.{kind}: {exc}", kind) from None
        for field in fields:
            if field is not None and field not in RECEIPT_FIELDS:
                raise fail(
                    f"{where}: unknown placeholder {{{field}}} (known: {sorted(RECEIPT_FIELDS)})",
                    kind,
                )
        value = str(value)
    elif kind == "feed" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise fail(f"{where}.feed: expected a number of lines, got {value!r}", kind)
    style: dict[str, Any] = {}
    if kind == "text":
        if "align" in raw:
            try:
                style["align"] = Align(raw["align"])
            except ValueError:
                raise fail(f"{where}.align: expected left, center or right", "align") from None
        for flag in ("bold", "double_width", "double_height"):
            if flag in raw:
                style[flag] = bool(raw[flag])
    return _Line(
        kind=kind,
        value=value,
        style=style,
        only=only,
        when=conditions.get("if"),
        unless=conditions.get("unless"),
    )
