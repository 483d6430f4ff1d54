"""Receipt templates: the built-in one renders, and a malformed one names file, line and entry."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from drivers.printer import Align, Cut, Feed, PrintDocument, TextLine
from drivers.printer import Image as ImageItem
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import InProcessEscpos
from simulator.devices.printer.paper import RenderedReceipt
from simulator.errors import FixtureError
from simulator.wire.receipts import ReceiptTemplate

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
    assert "I ACKNOWLEDGE" in merchant.plain_text()
    assert "I ACKNOWLEDGE" not in customer.plain_text()


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


# -- logo, e-receipt QR and the templates per receipt type ------------------------------

P58 = PrinterProfile.load("generic_58mm")
TOTALS = [
    {
        "card_label": "银联借记卡 UnionPay Debit",
        "sale_count": "3",
        "sale_amount": "45.60",
        "void_count": "1",
        "void_amount": "12.34",
        "refund_count": "0",
        "refund_amount": "0.00",
    },
    {
        "card_label": "合计 TOTAL",
        "sale_count": "3",
        "sale_amount": "45.60",
        "void_count": "1",
        "void_amount": "12.34",
        "refund_count": "0",
        "refund_amount": "0.00",
    },
]


def printed(document: PrintDocument, profile: PrinterProfile = P58) -> RenderedReceipt:
    """``document`` through the real driver into the virtual printer: the paper."""
    printer = VirtualPrinter(profile)
    EscposPrinter(InProcessEscpos(printer), profile=profile).print_document(document)
    assert printer.errors == []
    (receipt,) = printer.receipts
    return receipt


def test_sale_has_the_logo_and_the_e_receipt_qr_for_the_cardholder() -> None:
    template = ReceiptTemplate.load("sale")
    customer = printed(template.render("customer", VALUES, width=32))
    merchant = printed(template.render("merchant", VALUES, width=32))
    url = "https://possim.invalid/r/POSSIM01/000001/000007"
    assert customer.text.splitlines()[0].strip() == "[IMAGE 200x60]"
    assert merchant.text.splitlines()[0].strip() == "[IMAGE 200x60]"
    assert f"[QR: {url}]" in customer.text
    assert "扫码查看 电子签购单 E-RECEIPT" in customer.text
    assert "[QR:" not in merchant.text


def test_void_template() -> None:
    template = ReceiptTemplate.load("void")
    assert list(template.copies) == ["merchant", "customer"]
    text = printed(template.render("merchant", {**VALUES, "orig_stan": "000005"}, width=32)).text
    words = ["撤销 VOID", "凭证号 VOUCHER: 000007", "原凭证号 ORIG VOUCHER: 000005", "RMB -12.34"]
    assert [text.index(word) for word in words] == sorted(text.index(word) for word in words)
    assert "621483******3655 I" in text


def test_refund_template() -> None:
    template = ReceiptTemplate.load("refund")
    values = {**VALUES, "auth_code": "", "orig_rrn": "601410000009", "orig_date": "01/14"}
    text = printed(template.render("customer", values, width=32)).text
    assert "退货 REFUND" in text
    assert "原参考号 ORIG REF: 601410000009" in text
    assert "原交易日期 ORIG DATE: 01/14" in text
    assert "RMB -12.34" in text
    assert "授权码" not in text  # no authorization code given


def test_settlement_template_prints_totals_per_card_type_for_the_merchant_only() -> None:
    template = ReceiptTemplate.load("settlement")
    assert list(template.copies) == ["merchant"]
    document = template.render("merchant", VALUES, width=32, rows={"totals": TOTALS})
    lines = printed(document).text.splitlines()
    assert "SETTLEMENT" in lines[2]
    start = lines.index("银联借记卡 UnionPay Debit")
    assert lines[start : start + 4] == [
        "银联借记卡 UnionPay Debit",
        "消费 SALE      3        45.60",
        "撤销 VOID      1        12.34",
        "退货 REFUND    0         0.00",
    ]
    assert lines[start + 5] == "合计 TOTAL"
    # Without rows the blocks print nothing (a batch with no transactions).
    empty = template.render("merchant", VALUES, width=32).plain_text()
    assert "SALE" not in empty


def test_a_missing_value_names_the_template_and_the_field() -> None:
    with pytest.raises(KeyError, match="'void' needs a value for 'orig_stan'"):
        ReceiptTemplate.load("void").render("merchant", VALUES, width=32)


def test_an_image_line_is_relative_to_the_template(tmp_path: Path) -> None:
    Image.new("1", (1000, 100), 0).save(tmp_path / "wide.png")
    path = write(tmp_path, GOOD.replace('{rule: "="}', "{image: wide.png, align: right}"))
    document = ReceiptTemplate.load(str(path)).render("merchant", VALUES, width=32)
    image = document.items[1]
    assert isinstance(image, ImageItem)
    assert image.source == tmp_path / "wide.png"
    assert image.align is Align.RIGHT
    assert "[IMAGE wide.png]" in document.plain_text()
    # Wider than the paper: shrunk to the profile's 384 dots, not cut off.
    assert printed(document).text.splitlines()[1].strip() == "[IMAGE 384x38]"


@pytest.mark.parametrize(
    ("new", "line", "problem"),
    [
        ("{image: nope.png}", 7, "lines[1].image: no such image file"),
        ("{image: mine.yaml}", 7, "is not an image Pillow can read"),
        ("{rows: nope, lines: [{feed: 1}]}", 7, "lines[1].rows: 'nope' is not a row list"),
        ("{rows: totals}", 7, "lines[1].lines: expected the list of lines"),
        ("{rows: totals, lines: [{text: '{sale_cnt}'}]}", 7,
         "lines[1].lines[0]: unknown placeholder {sale_cnt}"),
        ('{rule: "=", align: center}', 7, "lines[1].align: a rule line has no alignment"),
        ('{qr: "x", bold: true}', 7, "lines[1].bold: only text lines have a text style"),
    ],
)  # fmt: skip
def test_malformed_image_and_rows_lines(tmp_path: Path, new: str, line: int, problem: str) -> None:
    path = write(tmp_path, GOOD.replace('{rule: "="}', new))
    with pytest.raises(FixtureError) as caught:
        ReceiptTemplate.load(str(path))
    assert caught.value.line == line
    assert problem in caught.value.problem


def test_row_fields_are_only_known_inside_their_block(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('{rule: "="}', "{text: '{sale_count}'}"))
    with pytest.raises(FixtureError, match=r"unknown placeholder \{sale_count\}"):
        ReceiptTemplate.load(str(path))
