"""The virtual printer as the npm ESC/POS clients see it (issue 13, Printer).

Each byte stream comes from the real client, run with node (tests/npm_clients.py).
Where the client renders its own output, that rendering is the oracle:
receiptline's plain-text renderer says in which column every character goes
(its ESC/POS output positions them with GS L, GS W, ESC $ and ESC \\), and its
barcode generator says how wide each bar and space of a printed barcode is.
"""

from __future__ import annotations

from itertools import groupby
from typing import Any

import pytest
from npm_clients import NEEDS_CLIENTS, run_clients, stream
from PIL import Image, ImageChops

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.paper import LineKind, RenderedLine, RenderedReceipt
from simulator.devices.printer.render.png import MARGIN_DOTS, PaperRenderer

pytestmark = NEEDS_CLIENTS

P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")

# A receipt with what receiptline lays out itself: centred double-size text,
# two columns, right-aligned amounts, a ruled table and decorated text.
RECEIPT = """^^^RECEIPT
Store | 2026-01-15
---
Apple | 1.00
Banana, ripe | 12.50
---
^TOTAL | ^25.00
{border:line; width:6,*,7}
|ID | Name | Price|
|1 | Tea | 3.00|
{border:space; width:*}
"Thank you" `and` _see you_
"""
# receiptline's text renderer draws rules with ASCII: compare like with like.
RULES = str.maketrans({"─": "-", "│": "|", **dict.fromkeys("┌┐└┘├┤┬┴┼╭╮╰╯", "+")})


def printed(data: bytes, profile: PrinterProfile) -> tuple[VirtualPrinter, RenderedReceipt]:
    printer = VirtualPrinter(profile)
    printer.feed(data)
    (receipt,) = printer.receipts
    return printer, receipt


def receiptline(doc: str, **printer: Any) -> dict[str, Any]:
    (result,) = run_clients([{"client": "receiptline", "doc": doc, "printer": printer}])
    return result


def ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    return image.point(lambda value: 255 - value).getbbox()


def drawn(profile: PrinterProfile, line: RenderedLine) -> Image.Image:
    """One line on its own strip of paper (without the paper's top and bottom margin)."""
    image = PaperRenderer(profile).render([line])
    return image.crop((0, MARGIN_DOTS, image.width, image.height - MARGIN_DOTS))


# -- print position and margins (ESC $, ESC \, GS L, GS W) --------------------------


@pytest.mark.parametrize(
    ("profile", "settings"),
    [
        (P80, {"cpl": 48}),
        (P58, {"cpl": 32}),
        (P80, {"cpl": 43, "margin": 3, "marginRight": 2}),
    ],
    ids=["80mm", "58mm", "80mm-margins"],
)
def test_receiptline_columns_land_where_its_own_renderer_puts_them(
    profile: PrinterProfile, settings: dict[str, Any]
) -> None:
    result = receiptline(RECEIPT, encoding="cp437", **settings)
    printer, receipt = printed(stream(result), profile)
    # receiptline's text puts each character in its column, counted from its left margin.
    margin = settings.get("margin", 0)
    oracle = result["text"].split("\n")
    # Lines of normal-size characters read the same in the printer's text receipt...
    text = receipt.text.translate(RULES).split("\n")
    normal = [
        i
        for i, line in enumerate(receipt.lines)
        if line.text.strip() and all(span.width == 1 for span in line.spans)
    ]
    assert len(normal) >= 8
    assert [text[i] for i in normal] == [(" " * margin + oracle[i]).rstrip() for i in normal]
    # ... and every character, double width too, starts in receiptline's column.
    expected = [
        {margin + column: char for column, char in enumerate(row) if char != " "} for row in oracle
    ]
    actual = [
        {
            column: char.translate(RULES)
            for column, char in line.cells(profile.chars_per_line, profile.dots_per_char).items()
            if char.strip()
        }
        for line in receipt.lines
    ]
    while expected and not expected[-1]:
        expected.pop()
    while actual and not actual[-1]:
        actual.pop()
    assert actual == expected
    assert [e for e in printer.errors if not e.startswith("offset 8: FS ( A")] == []


def test_receiptline_centring_and_columns_on_paper() -> None:
    """What a person sees: the title centred, amounts flush right, the margin kept."""
    _, receipt = printed(stream(receiptline(RECEIPT, cpl=48, encoding="cp437")), P80)
    title, store = receipt.lines[0], receipt.lines[1]
    box = ink_box(drawn(P80, title))
    assert box is not None and abs((box[0] + box[2]) / 2 - 576 / 2) <= 6
    box = ink_box(drawn(P80, store))
    assert box is not None and box[0] < 12 and box[2] > 576 - 12  # "Store ... 2026-01-15"

    _, indented = printed(
        stream(receiptline(RECEIPT, cpl=43, margin=3, marginRight=2, encoding="cp437")), P80
    )
    box = ink_box(drawn(P80, indented.lines[1]))
    assert box is not None and 3 * 12 <= box[0] < 4 * 12  # GS L: 3 columns of margin
    assert 576 - 3 * 12 < box[2] <= 576 - 2 * 12  # GS W: ends 2 columns from the edge


# -- Epson code page 1 (Katakana) -----------------------------------------------------


def test_receiptline_rules_print_as_box_drawing_characters() -> None:
    """receiptline draws rules with ESC t 1 and bytes 0x90-0x9F of Epson's Katakana page."""
    _, receipt = printed(stream(receiptline(RECEIPT, cpl=48, encoding="cp437")), P80)
    text = receipt.text
    assert "\ufffd" not in text
    assert "─" * 48 in text
    assert "╭──────┬" in text and "┬───────╮" in text and "╰──────┴" in text
    assert "│ID    │" in text
    # On paper the frame is closed: the left rule runs unbroken from the top
    # corner's arc through both table rows into the bottom corner.
    lines = list(receipt.lines)
    top = next(i for i, line in enumerate(lines) if line.text.startswith("╭"))
    table = PaperRenderer(P80).render(lines[top : top + 4])
    rule_x = 5  # the left rule's stroke: dots 5-6 of the first 12-dot cell
    column = [table.getpixel((rule_x, y)) == 0 for y in range(table.height)]
    longest = max(len(list(run)) for inked, run in groupby(column) if inked)
    assert longest >= 2 * 24 + 2 * 8  # two rows plus most of both corner cells


# Page 1 holds ♠♥♦♣ and ○ at 0xE8-0xED too, but the encoder sends CP437's control-range
# glyphs (0x03-0x09) for them, which a printer takes as control codes: left out.
KATAKANA_TEXTS = [
    "ｱｲｳｴｵ ｶﾞｷﾞｸﾞ ｰ｡｢｣､･",
    "─│┌┐└┘├┤┬┴┼ ╭╮╰╯ ▔▕",
    "▁▂▃▄▅▆▇█ ▏▎▍▌▋▊▉ ▒",
    "═╞╪╡ ◢◣◥◤ ● ╱╲╳",
    "円年月日時分秒〒市区町村人",
]


@pytest.mark.parametrize("client", ["receipt_printer_encoder", "esc_pos_encoder"])
def test_encoders_katakana_page_round_trips(client: str) -> None:
    """The encoders' own copies of Epson's Katakana table vs the printer's: text
    encoded for ESC t 1 prints as the text it was."""
    results = run_clients(
        [
            {
                "client": client,
                "model": "epson-tm-t20iii",
                "codepage": "epson/katakana",
                "text": text,
            }
            for text in KATAKANA_TEXTS
        ]
    )
    for text, result in zip(KATAKANA_TEXTS, results, strict=True):
        data = stream(result)
        assert b"\x1bt\x01" in data  # ESC t 1: the encoder selected page 1
        printer = VirtualPrinter(P80)
        printer.feed(data)
        assert printer.pending_text().strip() == text


# -- barcodes ----------------------------------------------------------------------------


def bar_widths(image: Image.Image) -> list[int]:
    """Widths of the bars and spaces across the middle of a barcode, first bar to last."""
    row = [image.getpixel((x, image.height // 2)) == 0 for x in range(image.width)]
    runs = [(inked, len(list(run))) for inked, run in groupby(row)]
    while runs and not runs[0][0]:
        runs.pop(0)
    while runs and not runs[-1][0]:
        runs.pop()
    return [width for _, width in runs]


@pytest.mark.parametrize(
    ("symbology", "data"),
    [("code39", "ABC-123"), ("itf", "0123456789"), ("codabar", "A40156B")],
)
@pytest.mark.parametrize("width", [2, 3, 4])
def test_binary_level_barcodes_are_as_wide_as_receiptline_draws_them(
    symbology: str, data: str, width: int
) -> None:
    """Thin and thick elements at GS w n: Epson's table, which receiptline's generator follows."""
    symbol = {"data": data, "type": symbology, "width": width, "height": 72, "quietZone": False}
    doc = f"{{code:{data}; option:{symbology},{width},72}}\n"
    printed_stream, generated = run_clients(
        [
            {"client": "receiptline", "doc": doc, "printer": {"cpl": 48}},
            {"client": "receiptline_barcode", "symbol": symbol},
        ]
    )
    _, receipt = printed(stream(printed_stream), P80)
    (line,) = [line for line in receipt.lines if line.kind is LineKind.BARCODE]
    expected = [w for w in generated["widths"] if w]  # without the (absent) quiet zones
    assert bar_widths(drawn(P80, line)) == expected
    assert sum(expected) == generated["length"]


# -- upside-down printing (ESC {) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "settings"),
    [(P80, {"cpl": 45, "margin": 1, "marginRight": 2}), (P58, {"cpl": 32})],
    ids=["80mm-margins", "58mm"],
)
def test_receiptline_upside_down_receipt_reads_right_when_turned(
    profile: PrinterProfile, settings: dict[str, Any]
) -> None:
    """receiptline prints upsideDown receipts bottom line first with ESC { 1, and turns
    its GS 8 L images itself (Epson: upside-down mode does not turn graphics): the paper,
    turned round, must show the same receipt as the one printed the right way up."""
    doc = RECEIPT + "{code:1234567890; option:code39,2,72,hri}\n{code:possim; option:qrcode,4,m}\n"
    upright, flipped = run_clients(
        [
            {"client": "receiptline", "doc": doc, "printer": {**settings, "upsideDown": turn}}
            for turn in (False, True)
        ]
    )
    renderer = PaperRenderer(profile)
    normal = renderer.render(printed(stream(upright), profile)[1])
    _, turned = printed(stream(flipped), profile)
    rotated = renderer.render(turned).transpose(Image.Transpose.ROTATE_180)
    assert rotated.size == normal.size
    assert ImageChops.difference(rotated.convert("L"), normal.convert("L")).getbbox() is None
    assert any(line.upside_down for line in turned.lines)


def test_node_thermal_printer_upside_down_line_is_turned_over() -> None:
    (result,) = run_clients(
        [
            {
                "client": "node_thermal_printer",
                "calls": [["upsideDown", True], ["println", "TURNED"], ["upsideDown", False],
                          ["println", "TURNED"], ["cut"]],
            }
        ]
    )  # fmt: skip
    _, receipt = printed(stream(result), P80)
    turned, upright = [line for line in receipt.lines if line.text]
    a, b = drawn(P80, turned), drawn(P80, upright)
    assert a.tobytes() != b.tobytes()
    assert a.transpose(Image.Transpose.ROTATE_180).tobytes() == b.tobytes()
    assert turned.upside_down and not upright.upside_down


# -- a 2D symbol too large to store -------------------------------------------------------


@pytest.mark.parametrize(("method", "size"), [("printQR", 7200), ("pdf417", 8000)])
def test_node_thermal_printer_oversized_symbol_is_skipped_whole(method: str, size: int) -> None:
    """A GS ( k store longer than any symbol holds is skipped by its declared length,
    payload and all: the rest of the receipt prints, the payload never does."""
    payload = "PAYLOAD-" * (size // 8)
    (result,) = run_clients(
        [
            {
                "client": "node_thermal_printer",
                "calls": [["println", "before"], [method, payload], ["println", "after"], ["cut"]],
            }
        ]
    )
    printer, receipt = printed(stream(result), P80)
    assert receipt.text.split() == ["before", "after"]
    assert any(f"{len(payload) + 3} parameter bytes" in error for error in printer.errors)
