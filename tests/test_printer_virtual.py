"""The virtual ESC/POS printer, driven by bytes python-escpos itself produces."""

from __future__ import annotations

import contextlib
import io

import attrs
import pytest
from escpos.printer import Dummy
from PIL import Image

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import InProcessEscpos
from simulator.devices.printer.paper import RenderedReceipt

QR_DATA = "https://qr.example/pay?order=20240101-0001&amount=12.34"
P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")


def python_escpos_receipt() -> bytes:
    """A payment receipt written with python-escpos's public API only."""
    p = Dummy(profile="default")
    p.hw("INIT")
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
        p.barcode("{BNO.12345", "CODE128", function_type="B")
    p.cut()
    output: bytes = p.output
    return output


RECEIPT = python_escpos_receipt()


def printed(data: bytes, profile: PrinterProfile = P58) -> VirtualPrinter:
    printer = VirtualPrinter(profile)
    printer.feed(data)
    return printer


def only_receipt(printer: VirtualPrinter) -> RenderedReceipt:
    assert len(printer.receipts) == 1, printer.receipts
    return printer.receipts[0]


def text_lines(receipt: RenderedReceipt) -> list[str]:
    return [line.text for line in receipt.lines if line.text.strip()]


# -- python-escpos's bytes render to the same words ------------------------------


def test_python_escpos_receipt_renders_words_in_order() -> None:
    printer = printed(RECEIPT)
    assert printer.errors == []
    receipt = only_receipt(printer)
    assert text_lines(receipt) == [
        "收款成功",
        "商户：测试商户",
        "Amount: RMB 12.34",
        "Thank you",
        f"[QR: {QR_DATA}]",
        "[BARCODE CODE128: NO.12345]",
    ]
    assert receipt.qr_codes == (QR_DATA,)
    assert receipt.barcodes == ("NO.12345",)
    assert receipt.cut == "full"
    text = receipt.text
    positions = [text.index(word) for word in ("收款成功", "测试商户", "12.34", "Thank", "[QR: ")]
    assert positions == sorted(positions)


def test_python_escpos_receipt_keeps_attributes_and_alignment() -> None:
    receipt = only_receipt(printed(RECEIPT))
    title, merchant, amount, thanks = receipt.lines[:4]
    assert title.bold and title.double_width and title.double_height
    assert title.align == "center"
    assert all(span.cjk for span in title.spans)
    assert title.columns == 4 * 2 * 2  # four Chinese characters, double width
    assert not merchant.bold and not merchant.double_width
    assert merchant.columns == 7 * 2
    assert amount.align == "left" and not amount.underline
    assert thanks.align == "right" and thanks.underline
    lines = receipt.text.split("\n")
    assert lines[0] == " " * ((32 - 16) // 2) + "收款成功"
    assert lines[3] == " " * (32 - 9) + "Thank you"
    assert len(lines[3]) == 32


def test_chinese_needs_fs_ampersand_on_epson_style_printers() -> None:
    strict = attrs.evolve(P58, cjk_needs_fs_ampersand=True)
    gb = "收款成功".encode("gb18030")
    without = printed(b"\x1b@" + gb + b"\n\x1dV\x00", strict)
    assert "收款成功" not in only_receipt(without).text  # code page 437 mojibake
    with_fs = printed(b"\x1b@\x1c&" + gb + b"\x1c.\n\x1dV\x00", strict)
    assert only_receipt(with_fs).text == "收款成功"
    # FS . leaves Chinese mode on a printer that starts in it.
    left = printed(b"\x1b@\x1c." + gb + b"\n\x1dV\x00", P58)
    assert "收款成功" not in only_receipt(left).text


def test_fs_bang_sizes_chinese_characters_only() -> None:
    printer = printed(b"\x1b@\x1c!\x0cAB" + "中".encode("gb18030") + b"\n\x1dV\x00")
    spans = only_receipt(printer).lines[0].spans
    assert [(s.text, s.width, s.height, s.cjk) for s in spans] == [
        ("AB", 1, 1, False),
        ("中", 2, 2, True),
    ]


def test_code_page_switch_decodes_western_text() -> None:
    p = Dummy(profile="default")
    p.text("Café crème brûlée\n")
    p.cut()
    # python-escpos picks a code page with ESC t; leave Chinese mode first.
    printer = printed(b"\x1c." + p.output)
    assert printer.errors == []
    assert only_receipt(printer).lines[0].text == "Café crème brûlée"


def test_gs_bang_and_esc_bang_sizes() -> None:
    printer = printed(b"\x1d!\x11BIG\x1d!\x00 small\n\x1b!\x30X\x1b!\x00\n\x1dV\x00")
    big, quad = only_receipt(printer).lines[:2]
    assert [(s.text, s.width, s.height) for s in big.spans] == [("BIG", 2, 2), (" small", 1, 1)]
    assert big.columns == 6 + 6
    assert quad.double_width and quad.double_height


def test_long_lines_wrap_at_the_profile_width() -> None:
    printer = printed(b"x" * 40 + b"\n" + b"\x1b!\x20" + b"W" * 17 + b"\n\x1dV\x00")
    lines = [line.text for line in only_receipt(printer).lines]
    assert lines == ["x" * 32, "x" * 8, "W" * 16, "W"]
    wide = printed(b"y" * 50 + b"\n\x1dV\x00", P80)
    assert [line.text for line in only_receipt(wide).lines] == ["y" * 48, "yy"]


def test_exactly_full_line_does_not_add_a_blank_line() -> None:
    printer = printed(b"-" * 32 + b"\nnext\n\x1dV\x00")
    assert [line.text for line in only_receipt(printer).lines] == ["-" * 32, "next"]


def test_tabs() -> None:
    printer = printed(b"a\tb\x1bD\x04\x0a\x00\nc\td\te\n\x1dV\x00")
    assert [line.text for line in only_receipt(printer).lines] == ["a       b", "c   d     e"]


def test_blank_lines_render_empty_whatever_the_alignment() -> None:
    printer = printed(b"\x1ba\x01top\n\n\x1ba\x02\nbottom\n\x1dV\x00")
    assert only_receipt(printer).text.split("\n") == [" " * 14 + "top", "", "", " " * 26 + "bottom"]


def test_feeds_produce_blank_lines_and_trailing_blank_paper_is_dropped() -> None:
    printer = printed(b"one\x1bd\x03two\n\x1bJ\x21three\n\x1bd\x06\x1dV\x01")
    receipt = only_receipt(printer)
    assert [line.text for line in receipt.lines[:6]] == ["one", "", "", "two", "", "three"]
    assert receipt.text == "one\n\n\ntwo\n\nthree"
    assert receipt.cut == "partial"


def test_raster_image_consumes_exactly_its_bytes() -> None:
    image = Image.new("1", (64, 32), 0)  # all black: every data byte is 0xFF
    stripes = Image.new("1", (16, 24), 1)
    p = Dummy(profile="default")
    p.text("before\n")
    p.image(image)  # GS v 0
    p.image(stripes, impl="bitImageColumn")  # ESC * stripes
    p.image(image, impl="graphics")  # GS ( L
    p.text("after\n")
    p.cut()
    printer = printed(p.output)
    assert printer.errors == []
    assert text_lines(only_receipt(printer)) == [
        "before",
        "[IMAGE 64x32]",
        "[IMAGE 16x24]",
        "[IMAGE 64x32]",
        "after",
    ]


def test_raster_data_that_looks_like_commands_is_not_interpreted() -> None:
    data = b"\x1dV\x00\n\x1b@" * 4  # 4 x 6 = 24 bytes of "commands"
    header = b"\x1dv0\x00\x03\x00\x08\x00"  # 3 bytes x 8 rows
    printer = printed(header + data + b"tail\n\x1dV\x00")
    assert printer.errors == []
    assert text_lines(only_receipt(printer)) == ["[IMAGE 24x8]", "tail"]


def test_non_native_qr_prints_as_an_image() -> None:
    p = Dummy(profile="default")
    p.qr("hello", native=False)
    p.cut()
    lines = text_lines(only_receipt(printed(p.output)))
    assert len(lines) == 1 and lines[0].startswith("[IMAGE ")


def test_barcode_form_a_and_code_set_c() -> None:
    p = Dummy(profile="default")
    code_c = "{C" + "".join(chr(int("20240101"[i : i + 2])) for i in (0, 2, 4, 6))
    with contextlib.redirect_stdout(io.StringIO()):
        p.barcode("4006381333931", "EAN13", function_type="A")
        p.barcode(code_c, "CODE128", function_type="B")
    p.cut()
    receipt = only_receipt(printed(p.output))
    assert receipt.barcodes == ("4006381333931", "20240101")
    assert receipt.lines[0].symbology == "EAN13"


def test_barcode_wider_than_the_paper_is_not_printed() -> None:
    printer = printed(b"\x1dw\x03\x1dkI\x1e{B" + b"A" * 28 + b"ok\n\x1dV\x00")
    assert only_receipt(printer).barcodes == ()
    assert any("more than the 384-dot line" in error for error in printer.errors)


def test_drawer_kicks_are_counted() -> None:
    p = Dummy(profile="default")
    p.cashdraw(2)
    p.cashdraw(5)
    printer = printed(p.output + b"\x10\x14\x01\x00\x01")
    assert printer.drawer_kicks == 3
    assert printer.receipts == []


def test_pending_text_and_cut_callbacks() -> None:
    printer = VirtualPrinter(P58)
    seen: list[RenderedReceipt] = []
    printer.on_receipt.append(seen.append)
    printer.feed(b"\x1ba\x01hello\n")
    assert printer.pending_text() == " " * 13 + "hello"
    assert seen == []
    printer.feed(b"\x1dV\x41\x10")
    assert len(seen) == 1 and seen[0] is printer.receipts[0]
    assert printer.pending_text() == ""
    printer.feed(b"\x1dV\x00")  # a cut with nothing printed makes no receipt
    assert len(printer.receipts) == 1


def test_escpos_at_discards_the_unprinted_line_and_resets_modes() -> None:
    printer = printed(b"\x1bE\x01\x1ba\x02lost\x1b@kept\n\x1dV\x00")
    (line,) = only_receipt(printer).lines
    assert line.text == "kept" and not line.bold and line.align == "left"


# -- status replies --------------------------------------------------------------

STATUS_QUERIES = b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04\x1dr\x01"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (None, [0x12, 0x12, 0x12, 0x12, 0x00]),
        ("offline", [0x1A, 0x12, 0x12, 0x12, 0x00]),
        ("cover_open", [0x1A, 0x16, 0x12, 0x12, 0x00]),
        ("paper_near_end", [0x12, 0x12, 0x12, 0x1E, 0x03]),
        ("paper_out", [0x1A, 0x32, 0x12, 0x7E, 0x0F]),
        ("drawer_open", [0x16, 0x12, 0x12, 0x12, 0x00]),
    ],
)
def test_status_reply_bits(fault: str | None, expected: list[int]) -> None:
    printer = VirtualPrinter(P58)
    if fault:
        setattr(printer.faults, fault, True)
    printer.feed(STATUS_QUERIES)
    assert list(printer.read_reply()) == expected
    assert printer.read_reply() == b""


def test_status_query_split_across_writes() -> None:
    printer = VirtualPrinter(P58)
    printer.faults.paper_out = True
    printer.feed(b"\x10")
    printer.feed(b"\x04")
    assert printer.read_reply() == b""
    printer.feed(b"\x04")
    assert printer.read_reply() == bytes([0x7E])


def test_python_escpos_status_helpers_read_the_virtual_printer() -> None:
    printer = VirtualPrinter(P58)
    escpos = InProcessEscpos(printer)
    assert escpos.is_online() is True
    assert escpos.paper_status() == 2
    printer.faults.paper_near_end = True
    assert escpos.paper_status() == 1
    printer.faults.paper_out = True
    assert escpos.paper_status() == 0
    assert escpos.is_online() is False


def test_paper_out_keeps_text_off_the_paper() -> None:
    printer = VirtualPrinter(P58)
    printer.feed(b"printed\n")
    printer.faults.paper_out = True
    printer.feed(b"lost\n\x1dV\x00")
    assert printer.receipts == []
    assert [line.text for line in printer.unprinted] == ["lost"]
    assert any("paper out: not printed: 'lost'" in error for error in printer.errors)
    assert any("cut not done: paper out" in error for error in printer.errors)
    printer.faults.paper_out = False
    printer.feed(b"\x1dV\x00")
    assert text_lines(only_receipt(printer)) == ["printed"]


def test_roll_runs_out_in_the_middle_of_a_receipt() -> None:
    printer = VirtualPrinter(P58)
    printer.faults.paper_left = 2
    printer.feed(b"one\ntwo\nthree\n")
    assert printer.faults.paper_out is True
    assert printer.pending_text() == "one\ntwo"
    assert [line.text for line in printer.unprinted] == ["three"]
    printer.feed(b"\x10\x04\x04")
    assert printer.read_reply() == bytes([0x7E])


# -- robustness --------------------------------------------------------------------


def test_unknown_and_malformed_commands_are_recorded_with_offsets() -> None:
    data = b"ok\x1b\x99x\x1dk\x07\x1ba\x09\n\x01\x1d(k\x03\x001\x51\x30\x1dV\x00"
    printer = printed(data)
    assert printer.errors == [
        "offset 2: ESC 0x99: unknown command; skipped",
        "offset 5: GS k: m=7 is not a barcode system; skipped",
        "offset 8: ESC a: n=9 is not 0-2 or 48-50; ignored",
        "offset 12: control byte 0x01: not an ESC/POS command; ignored",
        "offset 13: GS ( k: QR print: no data stored; nothing printed",
    ]
    assert text_lines(only_receipt(printer)) == ["okx"]


def test_truncated_command_waits_for_the_rest() -> None:
    printer = VirtualPrinter(P58)
    qr = b"\x1d(k\x08\x001P0hello"
    printer.feed(qr[:7])
    assert printer.awaiting == 6
    printer.feed(qr[7:] + b"\x1d(k\x03\x001Q0\x1dV")
    assert printer.awaiting == 1
    assert printer.receipts == []
    printer.feed(b"\x00")
    assert printer.errors == []
    assert only_receipt(printer).qr_codes == ("hello",)


@pytest.mark.parametrize("chunk", [1, 1000, 100_000])
def test_symbol_store_longer_than_any_symbol_is_skipped_whole(chunk: int) -> None:
    """A complete GS ( k store past QR's 7092 bytes: its payload never prints as text."""
    payload = b"P" * 7200
    size = (len(payload) + 3).to_bytes(2, "little")
    data = b"before\n\x1d(k" + size + b"1P0" + payload + b"after\n\x1dV\x00"
    printer = VirtualPrinter(P58)
    for start in range(0, len(data), chunk):
        printer.feed(data[start : start + chunk])
    assert text_lines(only_receipt(printer)) == ["before", "after"]
    assert printer.errors == [
        "offset 7: GS ( k: 7203 parameter bytes is more than any symbol holds; skipped"
    ]


def test_invalid_barcode_byte_ends_the_barcode_and_resynchronises() -> None:
    printer = printed(b"\x1dk\x04ABC\x1b@text\n\x1dV\x00")
    assert text_lines(only_receipt(printer)) == ["text"]
    assert printer.errors == [
        "offset 0: GS k: CODE39: byte 0x1B is not barcode data; barcode not printed, "
        "the rest is processed as normal data"
    ]


def test_every_byte_boundary_gives_the_same_receipt() -> None:
    whole = printed(RECEIPT)
    expected = (whole.receipts, whole.errors)
    for cut in range(1, len(RECEIPT)):
        printer = VirtualPrinter(P58)
        printer.feed(RECEIPT[:cut])
        printer.feed(RECEIPT[cut:])
        assert (printer.receipts, printer.errors) == expected, f"split at byte {cut}"


def test_byte_by_byte_gives_the_same_receipt() -> None:
    printer = VirtualPrinter(P58)
    for byte in RECEIPT:
        printer.feed(bytes([byte]))
    assert printer.receipts == printed(RECEIPT).receipts
    assert printer.bytes_received == len(RECEIPT)
