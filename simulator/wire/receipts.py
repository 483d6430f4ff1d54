"""Receipts from templates kept as data (``firmware_fixtures/receipts/``).

A malformed template raises :class:`FixtureError` naming the file, the line
and the entry (``lines[3].align``).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from drivers import fixtures
from drivers.fixtures import line_of
from drivers.printer import (
    Align,
    Barcode,
    Cut,
    Feed,
    Image,
    PrintDocument,
    PrintItem,
    QrCode,
    TextLine,
)
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
        # The transaction a void or refund undoes (void.yaml, refund.yaml).
        "orig_stan",
        "orig_rrn",
        "orig_date",
        # QR payments (qr_sale.yaml, qr_slip.yaml): the channel, its masked
        # transaction id, and the dynamic QR's payload.
        "channel_name",
        "transaction_id",
        "qr_payload",
        # A QR void or refund (qr_void.yaml, qr_refund.yaml): the order it undoes.
        "orig_order_no",
        # The batch close's result on the settlement report (settlement.yaml).
        "settle_result",
    }
)
_OPTIONAL_FIELDS = {
    "signature": "",
    "cvm": "",
    "reprint": "",
    "orig_rrn": "",
    "orig_date": "",
    "channel_name": "",
    "transaction_id": "",
    "qr_payload": "",
    "orig_order_no": "",
    "settle_result": "",
}
# Repeated blocks (`{rows: NAME, lines: [...]}`): the block is printed once per
# row of render(rows={NAME: [...]}), and its lines may also use the row's fields.
ROW_FIELDS: Mapping[str, frozenset[str]] = {
    # Settlement batch totals, one row per card type (settlement.yaml); amounts
    # are formatted by the caller ("45.60"), counts are numbers of transactions.
    "totals": frozenset(
        {
            "card_label",
            "sale_count",
            "sale_amount",
            "void_count",
            "void_amount",
            "refund_count",
            "refund_amount",
            # pre-auth completions and their voids ('' when the batch has none)
            "completion_count",
            "completion_amount",
            "cvoid_count",
            "cvoid_amount",
        }
    ),
}
# A receipt printed again because the first print was interrupted (paper end,
# cover open ...) says so. Templates place it with a line using {reprint} or
# `if: reprint`; a template that does not gets DEFAULT_REPRINT_LINE on top.
REPRINT_MARK = "重打印 REPRINT"
DEFAULT_REPRINT_LINE = TextLine(f"*** {REPRINT_MARK} ***", align=Align.CENTER, bold=True)
# `if: FIELD` prints a line only when FIELD is non-empty, `unless: FIELD` only when empty.
_CONDITION_KEYS = {"if", "unless"}
_STYLE_KEYS = {"align", "bold", "double_width", "double_height", "only"} | _CONDITION_KEYS
_KINDS = ("text", "rule", "image", "qr", "barcode", "feed", "cut", "rows")
_ALIGNED_KINDS = {"text", "image", "qr", "barcode"}


@attrs.frozen
class _Line:
    kind: str  # one of _KINDS
    # text/qr/barcode: a format string; rule: the character; image: the file;
    # feed: lines; rows: (row list name, the block's lines)
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
        path = fixtures.locate(
            "receipts", name_or_path, (".yaml", ".yml"), "receipt template", FixtureError
        )
        doc = fixtures.load(path, error=FixtureError)
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
        lines = _parse_lines(path, "lines", doc["lines"], set(copies), RECEIPT_FIELDS)
        return cls(name=str(doc.get("name", path.stem)), copies=dict(copies), lines=lines)

    @property
    def places_reprint_mark(self) -> bool:
        """Whether a line of the template prints the reprint marker itself."""
        return any(
            "reprint" in (line.when, line.unless)
            or (line.kind != "image" and isinstance(line.value, str) and "{reprint}" in line.value)
            for line in _walk(self.lines)
        )

    def recognise(self, text: str) -> int:
        """How much of this template's fixed wording a printed receipt's ``text`` carries.

        The fixed wording of a copy is every piece of text its unconditional lines
        always print (placeholders split a line into pieces; ``{copy_label}`` is the
        copy's label). A receipt carries it all, or it was not printed from this
        template: 0. Whitespace is ignored, since the printer wraps long lines. The
        score (characters matched) prefers the most specific of several templates.
        """
        squeezed = _squeeze(text)
        best = 0
        for copy in self.copies:
            pieces = self._fixed_pieces(copy)
            if pieces and all(piece in squeezed for piece in pieces):
                best = max(best, sum(len(piece) for piece in pieces))
        return best

    def _fixed_pieces(self, copy: str) -> list[str]:
        pieces: list[str] = []
        for line in self.lines:
            if line.kind != "text" or line.when is not None or line.unless is not None:
                continue
            if line.only is not None and line.only != copy:
                continue
            piece = ""
            for literal, field, _, _ in string.Formatter().parse(line.value):
                piece += literal
                if field == "copy_label":
                    piece += self.copies[copy]
                elif field is not None:
                    pieces.append(_squeeze(piece))
                    piece = ""
            pieces.append(_squeeze(piece))
        return [piece for piece in pieces if piece]

    def render(
        self,
        copy: str,
        values: Mapping[str, str],
        *,
        width: int,
        reprint: bool = False,
        rows: Mapping[str, Sequence[Mapping[str, str]]] | None = None,
    ) -> PrintDocument:
        """The document for one copy; ``reprint`` adds the reprint marker (see above).

        ``rows`` gives the row lists that `rows:` blocks repeat over (e.g.
        ``{"totals": [{"card_label": ..., "sale_count": ...}, ...]}``); a block
        whose list is not given prints nothing.
        """
        # Optional fields default to empty, so callers from before them still render.
        fields = {**_OPTIONAL_FIELDS, **values, "copy_label": self.copies[copy]}
        fields["reprint"] = REPRINT_MARK if reprint else ""
        items: list[PrintItem] = []
        if reprint and not self.places_reprint_mark:
            items.append(DEFAULT_REPRINT_LINE)
        self._emit(self.lines, copy, fields, width, rows or {}, items)
        title = f"{self.name} receipt ({copy} copy{', reprint' if reprint else ''})"
        return PrintDocument(title=title, items=tuple(items))

    def _emit(
        self,
        lines: Sequence[_Line],
        copy: str,
        fields: Mapping[str, str],
        width: int,
        rows: Mapping[str, Sequence[Mapping[str, str]]],
        items: list[PrintItem],
    ) -> None:
        for line in lines:
            if line.only is not None and line.only != copy:
                continue
            if line.when is not None and not fields.get(line.when):
                continue
            if line.unless is not None and fields.get(line.unless):
                continue
            if line.kind == "text":
                items.append(TextLine(self._format(line.value, fields), **line.style))
            elif line.kind == "rule":
                items.append(TextLine(line.value * width))
            elif line.kind == "image":
                items.append(Image(line.value, **line.style))
            elif line.kind == "qr":
                items.append(QrCode(self._format(line.value, fields), **line.style))
            elif line.kind == "barcode":
                items.append(Barcode(self._format(line.value, fields), **line.style))
            elif line.kind == "feed":
                items.append(Feed(int(line.value)))
            elif line.kind == "cut":
                items.append(Cut())
            elif line.kind == "rows":
                name, block = line.value
                for row in rows.get(name, ()):
                    self._emit(block, copy, {**fields, **row}, width, rows, items)

    def _format(self, text: str, fields: Mapping[str, str]) -> str:
        try:
            return text.format_map(fields)
        except KeyError as exc:
            # A caller bug, not a template one: say which value it did not give.
            raise KeyError(f"receipt template {self.name!r} needs a value for {exc}") from None


def _squeeze(text: str) -> str:
    return "".join(text.split())


def _walk(lines: Sequence[_Line]) -> Iterator[_Line]:
    """Every line, including those inside `rows:` blocks."""
    for line in lines:
        yield line
        if line.kind == "rows":
            yield from _walk(line.value[1])


def _parse_lines(
    path: Path, where: str, raw_lines: list[Any], copies: set[str], known: frozenset[str]
) -> tuple[_Line, ...]:
    return tuple(
        _parse_line(path, f"{where}[{index}]", raw, copies, known, line_of(raw_lines, index))
        for index, raw in enumerate(raw_lines)
    )


def _parse_line(
    path: Path, where: str, raw: object, copies: set[str], known: frozenset[str], line: int | None
) -> _Line:
    """Template line ``where`` (``line`` is where it is in the file); ``known``
    are the fields its placeholders and conditions may use."""
    if not isinstance(raw, Mapping):
        raise FixtureError(path, f"{where}: expected a mapping like {{text: ...}}", line)

    def fail(problem: str, key: str | None = None) -> FixtureError:
        return FixtureError(path, problem, line if key is None else line_of(raw, key) or line)

    kinds = [key for key in _KINDS if key in raw]
    if len(kinds) != 1:
        raise fail(f"{where}: expected exactly one of {'/'.join(_KINDS)}")
    kind = kinds[0]
    unknown = set(raw) - _STYLE_KEYS - {kind} - ({"lines"} if kind == "rows" else set())
    if unknown:
        raise fail(f"{where}: unknown key(s) {sorted(unknown)}", sorted(unknown)[0])
    only = raw.get("only")
    if only is not None and only not in copies:
        raise fail(f"{where}.only: {only!r} is not a copy ({sorted(copies)})", "only")
    conditions: dict[str, str] = {}
    for key in _CONDITION_KEYS & set(raw):
        if raw[key] not in known:
            raise fail(f"{where}.{key}: {raw[key]!r} is not a receipt field", key)
        conditions[key] = str(raw[key])
    value = raw[kind]
    if kind in ("text", "qr", "barcode"):
        try:
            fields = [field for _, field, _, _ in string.Formatter().parse(str(value))]
        except ValueError as exc:
            raise fail(f"{where}.{kind}: {exc}", kind) from None
        for field in fields:
            if field is not None and field not in known:
                raise fail(
                    f"{where}: unknown placeholder {{{field}}} (known: {sorted(known)})", kind
                )
        value = str(value)
    elif kind == "feed" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise fail(f"{where}.feed: expected a number of lines, got {value!r}", kind)
    elif kind == "image":
        value = _image_file(
            path, str(value), lambda problem: fail(f"{where}.image: {problem}", kind)
        )
    elif kind == "rows":
        if value not in ROW_FIELDS:
            raise fail(f"{where}.rows: {value!r} is not a row list ({sorted(ROW_FIELDS)})", kind)
        block = raw.get("lines")
        if not isinstance(block, list) or not block:
            raise fail(f"{where}.lines: expected the list of lines to repeat for each row", kind)
        value = (
            str(value),
            _parse_lines(path, f"{where}.lines", block, copies, known | ROW_FIELDS[value]),
        )
    style: dict[str, Any] = {}
    if kind in _ALIGNED_KINDS and "align" in raw:
        try:
            style["align"] = Align(raw["align"])
        except ValueError:
            raise fail(f"{where}.align: expected left, center or right", "align") from None
    elif "align" in raw:
        raise fail(f"{where}.align: a {kind} line has no alignment", "align")
    for flag in ("bold", "double_width", "double_height"):
        if flag in raw:
            if kind != "text":
                raise fail(f"{where}.{flag}: only text lines have a text style", flag)
            style[flag] = bool(raw[flag])
    return _Line(
        kind=kind,
        value=value,
        style=style,
        only=only,
        when=conditions.get("if"),
        unless=conditions.get("unless"),
    )


def _image_file(template: Path, name: str, fail: Callable[[str], FixtureError]) -> Path:
    """The picture ``name`` of an image line: relative to the template's folder
    (firmware_fixtures/receipts/ for the built-in templates), checked here so a
    missing or broken logo fails when the template loads, not at the first sale."""
    path = template.parent / name  # an absolute ``name`` stays as it is
    if not path.is_file():
        raise fail(f"no such image file {path}")
    try:
        with PILImage.open(path) as picture:
            picture.verify()
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise fail(f"{path} is not an image Pillow can read ({exc})") from None
    return path
