"""Receipt templates: the built-in one renders, and a malformed one names file, line and entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.printer import Align, Cut, Feed, TextLine
from simulator.errors import FixtureError
from simulator.terminal.receipts import ReceiptTemplate

VALUES = {
    "merchant_name": "possim Test Shop",
    "merchant_id": "898310048990001",
    "terminal_id": "POSSIM01",
    "masked_pan": "621483******3655",
    "card_label": "UnionPay Debit",
    "batch_no": "000001",
    "stan": "000007",
    "auth_code": "A1B2C3",
    "rrn": "601510000001",
    "datetime": "2026-01-15 10:30:00",
    "order_no": "202601151030000001",
    "amount": "12.34",
}

GOOD = """\
name: mine
copies:
  merchant: MERCHANT COPY
  customer: CUSTOMER COPY
lines:
  - {text: "{copy_label}", align: center, bold: true}
  - {rule: "="}
  - text: "AMOUNT {amount}"
    only: merchant
  - {feed: 2}
  - {cut: true}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_sale_template_renders_both_copies() -> None:
    template = ReceiptTemplate.load("sale")
    assert list(template.copies) == ["merchant", "customer"]
    merchant = template.render("merchant", VALUES, width=32)
    customer = template.render("customer", VALUES, width=32)
    assert "621483******3655 I" in merchant.plain_text()
    assert "6214830027183655" not in merchant.plain_text()
    assert len(customer.items) < len(merchant.items)  # no signature block


def test_a_template_from_a_path(tmp_path: Path) -> None:
    template = ReceiptTemplate.load(str(write(tmp_path, GOOD)))
    merchant = template.render("merchant", VALUES, width=8)
    assert merchant.items == (
        TextLine("MERCHANT COPY", align=Align.CENTER, bold=True),
        TextLine("========"),
        TextLine("AMOUNT 12.34"),
        Feed(2),
        Cut(),
    )
    assert TextLine("AMOUNT 12.34") not in template.render("customer", VALUES, width=8).items


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ('{rule: "="}', "just text", 7, "lines[1]: expected a mapping"),
        ('{rule: "="}', '{rule: "=", qr: x}', 7, "lines[1]: expected exactly one of"),
        ('{rule: "="}', '{rule: "=", colour: red}', 7, "lines[1]: unknown key(s) ['colour']"),
        ("    only: merchant", "    only: shop", 9, "lines[2].only: 'shop' is not a copy"),
        ('"AMOUNT {amount}"', '"AMOUNT {pan}"', 8, "lines[2]: unknown placeholder {pan}"),
        ('"AMOUNT {amount}"', '"AMOUNT {amount"', 8, "lines[2].text: "),
        ("align: center", "align: middle", 6, "lines[0].align: expected left, center or right"),
        ("{feed: 2}", "{feed: two}", 10, "lines[3].feed: expected a number of lines"),
        ("  customer: CUSTOMER COPY\n", "  merchant: again\n", 4, "duplicate key 'merchant'"),
        ("copies:\n  merchant: MERCHANT COPY\n  customer: CUSTOMER COPY\n", "copies: []\n", 2,
         "copies: expected a mapping"),
        ("lines:", "line:", 1, "expected a mapping with 'copies' and a list of 'lines'"),
        ("{cut: true}", "{cut: true", 12, "not valid YAML"),
    ],
)  # fmt: skip
def test_malformed_templates_name_file_line_and_entry(
    tmp_path: Path, old: str, new: str, line: int, problem: str
) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(FixtureError) as caught:
        ReceiptTemplate.load(str(path))
    error = caught.value
    assert error.path == path
    assert error.line == line
    assert problem in error.problem
    assert str(error).startswith(f"{path}:{line}: ")


def test_unknown_template_name() -> None:
    with pytest.raises(FixtureError, match="no receipt template named"):
        ReceiptTemplate.load("no_such_template")
