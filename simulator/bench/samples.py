"""Sample receipts: the render tests, the golden files and ``possim bench render`` share them.

Here, not in ``simulator/devices/printer``: a sample is the terminal's receipt template
printed by the driver, and the simulated printer must not depend on the terminal.
"""

from __future__ import annotations

import contextlib
import io

from escpos.printer import Dummy
from PIL import Image, ImageDraw

from drivers.printer import QrCode
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from simulator.wire.receipts import ReceiptTemplate

SALE_VALUES = {
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
    "signature": "1",
}
QR_DATA = "https://qr.example/pay?order=20240101-0001&amount=12.34"
ORDER_NO = "NO.12345"


def sale_receipt(profile: PrinterProfile, copy: str = "merchant", *, qr: bool = False) -> bytes:
    """The terminal's purchase receipt (firmware_fixtures/receipts/sale.yaml) as sent.

    The template prints the logo on both copies and the e-receipt QR on the
    cardholder copy only; ``qr`` adds one to any copy, for the fuzz tests and
    benchmarks that want every kind of command in one receipt.
    """
    template = ReceiptTemplate.load("sale")
    document = template.render(copy, SALE_VALUES, width=profile.chars_per_line)
    if qr:  # before the final feed and cut
        items = list(document.items)
        items.insert(len(items) - 2, QrCode("https://e.example/r/202601151030000001"))
        document = type(document)(document.title, tuple(items))
    device = Dummy()
    EscposPrinter(device, profile=profile).print_document(document)
    data: bytes = device.output
    return data


def logo() -> Image.Image:
    """A small 1-bit logo: a frame, a diagonal and a filled block (asymmetric on purpose)."""
    image = Image.new("1", (64, 24), 1)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 63, 23), outline=0)
    draw.line((0, 0, 63, 23), fill=0)
    draw.rectangle((40, 4, 55, 11), fill=0)
    return image


def python_escpos_receipt(*, with_logo: bool = True) -> bytes:
    """A payment receipt written with python-escpos's public API only."""
    p = Dummy(profile="default")
    p.hw("INIT")
    if with_logo:
        p.set(align="center")
        p.image(logo())
    p.set(align="center", bold=True, double_width=True, double_height=True)
    p.text("收款成功\n")
    p.set(align="left", bold=False, normal_textsize=True)
    p.text("商户：测试商户\n")
    p.text("Amount: RMB 12.34\n")
    p.set(align="right", underline=1)
    p.text("Thank you\n")
    p.set(align="center", underline=0)
    p.qr(QR_DATA, native=True, size=4)
    with contextlib.redirect_stdout(io.StringIO()):  # "Using hardware barcode renderer"
        p.barcode("{B" + ORDER_NO, "CODE128", function_type="B")
    p.cut()
    output: bytes = p.output
    return output
