"""Where on the line the virtual printer puts things: GS L, GS W, ESC $, ESC \\, ESC {.

Semantics from Epson's ESC/POS Command Reference (quoted per test); the
receiptline receipts that rely on them are in tests/test_printer_clients.py.
"""

from __future__ import annotations

from PIL import Image

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.paper import LineKind, RenderedLine
from simulator.devices.printer.render.png import MARGIN_DOTS, PaperRenderer

P58 = PrinterProfile.load("generic_58mm")  # 384 dots, 32 columns of 12 dots
CUT = b"\x1dV\x00"


def lines_of(data: bytes, profile: PrinterProfile = P58) -> tuple[VirtualPrinter, list[str]]:
    printer = VirtualPrinter(profile)
    printer.feed(data + CUT)
    (receipt,) = printer.receipts
    return printer, receipt.text.split("\n")


def u16(value: int) -> bytes:
    return (value & 0xFFFF).to_bytes(2, "little")


def ink_box(line: RenderedLine) -> tuple[int, int, int, int] | None:
    image = PaperRenderer(P58).render([line])
    strip = image.crop((0, MARGIN_DOTS, image.width, image.height - MARGIN_DOTS))
    return strip.point(lambda value: 255 - value).getbbox()


def test_absolute_position_puts_text_in_its_column() -> None:
    # ESC $: "Moves the print position to (nL + nH x 256) x (horizontal motion unit)
    # from the left edge of the print area."
    _, text = lines_of(b"Qty\x1b$" + u16(20 * 12) + b"Total\n")
    assert text == ["Qty" + " " * 17 + "Total"]


def test_relative_position_moves_both_ways() -> None:
    # ESC \: "Moves the print position to (nL + nH x 256) x (horizontal motion unit)
    # from the current position"; a negative (two's complement) value moves left.
    _, text = lines_of(b"AB\x1b\\" + u16(3 * 12) + b"C\x1b\\" + u16(-2 * 12) + b"D\n")
    # A(0) B(1) moved to 5: C(5); back two columns from 6: D(4)
    assert text == ["AB  DC"]


def test_positions_outside_the_print_area_are_ignored() -> None:
    # ESC $ / ESC \: "Settings outside the specified print area are ignored."
    printer, text = lines_of(b"A\x1b$" + u16(385) + b"B\x1b\\" + u16(-100) + b"C\n")
    assert text == ["ABC"]
    assert any("ESC $" in error and "ignored" in error for error in printer.errors)
    assert any("ESC \\" in error and "ignored" in error for error in printer.errors)


def test_text_printed_over_earlier_text_keeps_its_ink() -> None:
    # receiptline prints a table's rules first, then moves back to print the cells:
    # spaces print no ink, so the rules stay.
    _, text = lines_of(b"|\x1b$" + u16(10 * 12) + b"|\x1b$" + u16(12) + b"ab" + b" " * 3 + b"\n")
    assert text == ["|ab       |"]


def test_left_margin_and_print_area_frame_justification() -> None:
    # GS L sets the left margin, GS W the print area width; ESC a "justifies all the
    # data in one line in the print area".
    margin, width = 48, 240
    printer = VirtualPrinter(P58)
    printer.feed(b"\x1dL" + u16(margin) + b"\x1dW" + u16(width) + b"\x1ba\x01MID\n")
    printer.feed(b"\x1ba\x02END\n\x1ba\x00" + b"X" * 25 + b"\n" + CUT)
    (receipt,) = printer.receipts
    centred, right, wrapped, rest = receipt.lines
    assert (centred.margin_dots, centred.area_dots) == (margin, width)
    assert receipt.text.split("\n")[:2] == [" " * (4 + 8) + "MID", " " * (4 + 17) + "END"]
    # 20 columns fit in 240 dots: the 25 X's wrap inside the print area.
    assert (wrapped.text, rest.text) == ("X" * 20, "X" * 5)
    box = ink_box(centred)
    assert box is not None and abs((box[0] + box[2]) / 2 - (margin + width / 2)) <= 6
    box = ink_box(right)
    assert box is not None and margin + width - 12 < box[2] <= margin + width
    box = ink_box(wrapped)
    assert box is not None and margin <= box[0] < margin + 12


def test_a_print_area_past_the_printable_area_is_cut_to_fit() -> None:
    # GS W: "If [left margin + print area width] exceeds the printable area,
    # [printable area - left margin] is used."
    printer = VirtualPrinter(P58)
    printer.feed(b"\x1dL" + u16(120) + b"\x1dW" + u16(1000) + b"Y" * 30 + b"\n" + CUT)
    (receipt,) = printer.receipts
    assert [line.text for line in receipt.lines] == ["Y" * 22, "Y" * 8]


def test_margin_and_area_apply_at_the_beginning_of_a_line_only() -> None:
    # GS L, GS W, ESC {: "In standard mode, this command is enabled only when
    # processed at the beginning of the line."
    printer = VirtualPrinter(P58)
    printer.feed(b"ab\x1dL" + u16(60) + b"\x1dW" + u16(100) + b"\x1b{\x01cd\n" + CUT)
    (receipt,) = printer.receipts
    (line,) = receipt.lines
    assert (line.text, line.margin_dots, line.area_dots, line.upside_down) == ("abcd", 0, 0, False)
    assert sum("not at the beginning of a line" in error for error in printer.errors) == 3


def test_esc_at_clears_margin_and_area() -> None:
    printer = VirtualPrinter(P58)
    printer.feed(b"\x1dL" + u16(60) + b"\x1dW" + u16(100) + b"\x1b@A\n" + CUT)
    ((line,),) = [receipt.lines for receipt in printer.receipts]
    assert (line.margin_dots, line.area_dots) == (0, 0)


def test_barcode_is_refused_when_wider_than_the_print_area() -> None:
    # GS k: "The bar code width that exceeds the print area cannot be specified."
    code = b"\x1dw\x02\x1dkI\x0c{B1234567890"  # CODE128, 167 dots at module 2
    printer = VirtualPrinter(P58)
    printer.feed(code + b"\n\x1dW" + u16(160) + code + b"\n" + CUT)
    (receipt,) = printer.receipts
    assert receipt.barcodes == ("1234567890",)
    assert any("more than the 160-dot line; not printed" in error for error in printer.errors)


# -- ESC { upside-down printing ------------------------------------------------------------


def strip(line: RenderedLine) -> Image.Image:
    image = PaperRenderer(P58).render([line])
    return image.crop((0, MARGIN_DOTS, image.width, image.height - MARGIN_DOTS))


def test_upside_down_turns_text_codes_and_column_images_but_not_raster_graphics() -> None:
    # ESC {: "the printer rotates the line to be printed by 180 degrees"; "effective for
    # all data in standard mode except ... graphics from GS ( L <Function 112>, raster
    # bit image from GS v 0" (Epson ESC/POS Application Programming Guide, ESC {).
    raster = b"\x1dv0\x00\x01\x00\x02\x00\xf0\x00"  # 8 x 2, a mark at the top left
    column = b"\x1b*\x21\x02\x00" + b"\xff\x00\x00" * 2 + b"\n"  # ESC * 24-dot, 2 columns
    qr = b"\x1d(k\x06\x001P0abc\x1d(k\x03\x001Q0"
    body = b"\x1ba\x00Left\n" + raster + column + qr + b"\x1dkI\x04{B12"
    printer = VirtualPrinter(P58)
    printer.feed(body + b"\x1b{\x01" + body + CUT)
    (receipt,) = printer.receipts
    lines = [line for line in receipt.lines if line.kind is not LineKind.TEXT or line.spans]
    upright, turned = lines[:5], lines[5:]
    # "Left" turned over ends at the right edge of the paper.
    box = strip(turned[0]).point(lambda value: 255 - value).getbbox()
    assert box is not None and box[2] > 384 - 12
    turns = [True, False, True, True, True]  # text, GS v 0, ESC *, QR, barcode
    for before, after, turn in zip(upright, turned, turns, strict=True):
        turned_over = strip(before).transpose(Image.Transpose.ROTATE_180)
        expected = turned_over if turn else strip(before)
        assert strip(after).tobytes() == expected.tobytes(), after.kind
    assert [line.upside_down for line in upright] == [False] * 5
    assert [line.upside_down for line in turned] == turns
