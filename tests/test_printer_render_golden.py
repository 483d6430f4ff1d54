"""Golden receipts: rendered text and PNG against approved files in tests/golden/.

Text must match exactly. PNGs must match pixel for pixel when drawn with the
pinned font (WenQuanYi Micro Hei Mono, Debian/Ubuntu package
fonts-wqy-microhei); with another font only the text is compared (the PNG
check skips -- or fails under POSSIM_REQUIRE_SYSTEM=1).

After an intended change, rewrite the approved files and review the diff:

    POSSIM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_printer_render_golden.py
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from drivers.printer.profile import PrinterProfile
from simulator.bench.samples import python_escpos_receipt, sale_receipt
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.render.png import PaperRenderer

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("POSSIM_UPDATE_GOLDEN") == "1"
P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")

CASES: dict[str, tuple[PrinterProfile, Callable[[], bytes]]] = {
    "sale_merchant_58mm": (P58, lambda: sale_receipt(P58, "merchant")),
    "sale_customer_80mm": (P80, lambda: sale_receipt(P80, "customer")),
    "python_escpos_58mm": (P58, python_escpos_receipt),
}


def rendered(name: str) -> tuple[str, bytes]:
    profile, make = CASES[name]
    printer = VirtualPrinter(profile)
    printer.feed(make())
    assert printer.errors == []
    (receipt,) = printer.receipts
    return receipt.text + "\n", PaperRenderer(profile).png(receipt)


@pytest.mark.parametrize("name", sorted(CASES))
def test_text_matches_golden(name: str) -> None:
    text, _ = rendered(name)
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"differs from {path}"


@pytest.mark.system_package("fonts-wqy-microhei")  # the golden PNGs are drawn with it
@pytest.mark.parametrize("name", sorted(CASES))
def test_png_matches_golden(name: str) -> None:
    _, png = rendered(name)
    path = GOLDEN / f"{name}.png"
    if UPDATE:
        path.write_bytes(png)
    actual = Image.open(io.BytesIO(png))
    approved = Image.open(path)
    assert actual.size == approved.size, f"{path}: size {actual.size} != {approved.size}"
    difference = ImageChops.difference(actual.convert("L"), approved.convert("L")).getbbox()
    assert difference is None, f"{path}: pixels differ in {difference}"
