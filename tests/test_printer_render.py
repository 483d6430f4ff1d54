"""The virtual printer's paper as a PNG, ``possim render``, and the new status bits."""

from __future__ import annotations

import contextlib
import io
import itertools
from pathlib import Path

import pytest
from escpos.printer import Dummy
from PIL import Image

from drivers.printer.profile import PrinterProfile
from simulator import cli
from simulator.bench.samples import ORDER_NO, QR_DATA, logo, python_escpos_receipt
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.paper import LineKind, RenderedReceipt
from simulator.devices.printer.render import bitmaps
from simulator.devices.printer.render.png import MARGIN_DOTS, PaperRenderer, render_png
from simulator.devices.printer.render.symbols import SymbolError, code128_values

P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")


def receipt_of(data: bytes, profile: PrinterProfile = P58) -> RenderedReceipt:
    printer = VirtualPrinter(profile)
    printer.feed(data)
    assert printer.errors == []
    (receipt,) = printer.receipts
    return receipt


def ink_box(image: Image.Image) -> tuple[int, int, int, int] | None:
    """Bounding box of the black dots."""
    return image.point(lambda value: 255 - value).getbbox()


def decode(image: Image.Image) -> list[tuple[str, bytes]]:
    from pyzbar.pyzbar import decode as zbar_decode

    padded = Image.new("L", (image.width + 80, image.height + 80), 255)
    padded.paste(image.convert("L"), (40, 40))  # the paper's unprintable margins
    return [(symbol.type, symbol.data) for symbol in zbar_decode(padded)]


# -- geometry --------------------------------------------------------------------


@pytest.mark.parametrize(("profile", "width"), [(P58, 384), (P80, 576)])
def test_png_is_the_profile_dot_width_one_bit(profile: PrinterProfile, width: int) -> None:
    image = render_png(receipt_of(b"hello\n\x1dV\x00", profile), profile)
    assert image.mode == "1" and image.width == width


def test_alignment_and_double_width_in_dots() -> None:
    left = render_png(receipt_of(b"AB\n\x1dV\x00"), P58)
    right = render_png(receipt_of(b"\x1ba\x02AB\n\x1dV\x00"), P58)
    wide = render_png(receipt_of(b"\x1ba\x01\x1d!\x10AB\n\x1dV\x00"), P58)
    box_left, box_right, box_wide = ink_box(left), ink_box(right), ink_box(wide)
    assert box_left and box_right and box_wide
    assert box_left[0] < 12 and box_right[2] > 384 - 12
    assert box_wide[2] - box_wide[0] > 2 * (box_left[2] - box_left[0]) - 4
    assert abs((box_wide[0] + box_wide[2]) / 2 - 192) <= 6  # centred


def test_bold_has_more_ink_and_chinese_is_drawn() -> None:
    plain = render_png(receipt_of("收款 OK\n\x1dV\x00".encode("gb18030")), P58)
    bold = render_png(receipt_of(b"\x1bE\x01" + "收款 OK\n\x1dV\x00".encode("gb18030")), P58)
    assert plain.histogram()[0] > 100  # Chinese glyphs, not empty boxes only
    assert bold.histogram()[0] > plain.histogram()[0] * 1.2


def test_bold_lowercase_m_keeps_its_three_stems() -> None:
    """Emphasised mode prints each dot again one dot to the right; a printer's font
    leaves room for it, so a bold "m" still shows three stems, not a solid block."""
    for font in (b"\x00", b"\x01"):  # ESC M: font A, font B
        image = render_png(receipt_of(b"\x1bM" + font + b"\x1bE\x01m\n\x1dV\x00"), P58)
        box = ink_box(image)
        assert box is not None
        middle = (box[1] + box[3]) // 2
        row = [image.getpixel((x, middle)) == 0 for x in range(box[0], box[2])]
        stems = [inked for inked, _ in itertools.groupby(row) if inked]
        assert len(stems) == 3, font


def test_double_height_line_is_taller() -> None:
    normal = render_png(receipt_of(b"X\nY\n\x1dV\x00"), P58)
    tall = render_png(receipt_of(b"\x1d!\x01X\n\x1d!\x00Y\n\x1dV\x00"), P58)
    assert tall.height - normal.height == 2 * 24 - 33  # 48-dot line instead of 33


def test_line_spacing_changes_the_paper_length() -> None:
    default = render_png(receipt_of(b"a\nb\nc\n\x1dV\x00"), P58)
    spaced = render_png(receipt_of(b"\x1b3\x50a\nb\nc\n\x1dV\x00"), P58)
    # ESC 3 n is n/180 inch: 80/180 inch is 90 dots at 203 dpi (1/6 inch: 33)
    assert spaced.height - default.height == 3 * (90 - 33)


def test_underline_and_inverted() -> None:
    underlined = render_png(receipt_of(b"\x1b-\x02ab\n\x1dV\x00"), P58)
    box = ink_box(underlined)
    assert box is not None and box[2] - box[0] >= 23  # the rule spans both cells
    inverted = render_png(receipt_of(b"\x1dB\x01ab\n\x1dV\x00"), P58)
    assert inverted.histogram()[0] > 0.6 * 24 * 24


# -- images, QR codes and barcodes ------------------------------------------------


def test_raster_image_is_pixel_exact() -> None:
    p = Dummy(profile="default")
    p.image(logo())
    p.cut()
    receipt = receipt_of(p.output)
    (line,) = [line for line in receipt.lines if line.kind is LineKind.IMAGE]
    drawn = bitmaps.to_image(line.width_dots, line.height_dots, line.bitmap)
    assert drawn.tobytes() == logo().tobytes()
    page = render_png(receipt, P58)
    assert page.crop((0, MARGIN_DOTS, 64, MARGIN_DOTS + 24)).tobytes() == logo().tobytes()


@pytest.mark.parametrize("impl", ["bitImageColumn", "graphics"])
def test_column_and_graphics_images_are_pixel_exact(impl: str) -> None:
    p = Dummy(profile="default")
    p.image(logo(), impl=impl)
    p.cut()
    (line,) = [line for line in receipt_of(p.output).lines if line.kind is LineKind.IMAGE]
    assert (line.width_dots, line.height_dots) == (64, 24)
    drawn = bitmaps.to_image(line.width_dots, line.height_dots, line.bitmap)
    assert drawn.tobytes() == logo().tobytes()


@pytest.mark.parametrize(
    ("high_vertical", "high_horizontal", "scale"),
    [(False, False, (2, 3)), (False, True, (1, 3)), (True, False, (2, 1))],
)
def test_column_images_print_at_their_dot_density(
    high_vertical: bool, high_horizontal: bool, scale: tuple[int, int]
) -> None:
    """ESC * m (python-escpos image(impl="bitImageColumn")): Epson's table gives the
    8-dot modes 60 dpi down the paper on a 180 dpi head (Zijiang ZJ-58 manual: 67 dpi on
    203 dpi), three dot rows a bit, and single density 90 (100) dpi across, two dots a bit."""
    p = Dummy(profile="default")
    p.image(
        logo(),
        impl="bitImageColumn",
        high_density_vertical=high_vertical,
        high_density_horizontal=high_horizontal,
    )
    p.cut()
    (line,) = [line for line in receipt_of(p.output).lines if line.kind is LineKind.IMAGE]
    width, height = 64 * scale[0], 24 * scale[1]
    assert (line.width_dots, line.height_dots) == (width, height)
    drawn = bitmaps.to_image(line.width_dots, line.height_dots, line.bitmap)
    assert drawn.tobytes() == logo().resize((width, height), Image.Resampling.NEAREST).tobytes()


def test_double_size_raster_mode() -> None:
    data = b"\x1dv0\x03\x01\x00\x02\x00\x80\x01"  # m=3: double width and height
    (line,) = receipt_of(data + b"\x1dV\x00").lines
    assert (line.width_dots, line.height_dots) == (16, 4)
    image = bitmaps.to_image(16, 4, line.bitmap)
    assert [image.getpixel((x, 0)) for x in range(4)] == [0, 0, 255, 255]
    assert image.getpixel((14, 3)) == 0 and image.getpixel((13, 3)) == 255


def test_qr_parameters_come_from_the_stream() -> None:
    p = Dummy(profile="default")
    p.qr("hello", native=True, size=6, ec=3)  # QR_ECLEVEL_H
    p.cut()
    (line,) = receipt_of(p.output).lines[:1]
    assert (line.kind, line.module, line.ec_level, line.raw) == (LineKind.QR, 6, "H", b"hello")
    image = render_png(receipt_of(p.output), P58)
    box = ink_box(image)
    assert box is not None and (box[2] - box[0]) % 6 == 0  # whole 6-dot modules


@pytest.mark.system_package("libzbar0")
def test_qr_and_barcode_scan_back() -> None:
    image = render_png(receipt_of(python_escpos_receipt()), P58)
    found = decode(image)
    assert ("QRCODE", QR_DATA.encode()) in found
    assert ("CODE128", ORDER_NO.encode()) in found


@pytest.mark.system_package("libzbar0")
@pytest.mark.parametrize(
    ("symbology", "data", "expected"),
    [
        ("EAN13", "400638133393", "4006381333931"),
        ("EAN8", "9638507", "96385074"),
        ("CODE39", "ABC-123", "ABC-123"),
    ],
)
def test_library_barcodes_scan_back(symbology: str, data: str, expected: str) -> None:
    p = Dummy(profile="default")
    with contextlib.redirect_stdout(io.StringIO()):
        p.barcode(data, symbology, function_type="A", width=2)
    p.cut()
    decoded = [value for _, value in decode(render_png(receipt_of(p.output), P58))]
    assert decoded == [expected.encode()]


@pytest.mark.system_package("libzbar0")
@pytest.mark.parametrize(("symbology", "data"), [("CODE39", "ABC-123"), ("ITF", "12345678")])
def test_binary_level_barcodes_have_thin_and_thick_elements(symbology: str, data: str) -> None:
    """python-escpos barcode(width=2): GS w 2 is a 2-dot thin and 5-dot thick element
    (Epson TM-T88 Technical Reference, GS w: 0.282 and 0.706 mm), not 2 dots a module."""
    p = Dummy(profile="default")
    with contextlib.redirect_stdout(io.StringIO()):
        p.barcode(data, symbology, function_type="B", width=2)
    p.cut()
    receipt = receipt_of(p.output)
    (line,) = [line for line in receipt.lines if line.kind is LineKind.BARCODE]
    image = PaperRenderer(P58).render([line])
    box = ink_box(image)
    assert box is not None
    row = [image.getpixel((x, box[1] + 5)) == 0 for x in range(box[0], box[2])]
    assert {len(list(run)) for _, run in itertools.groupby(row)} == {2, 5}
    assert [value for _, value in decode(image)] == [data.encode()]


@pytest.mark.parametrize(
    ("symbology", "data"),
    [("CODE39", "ABCDEFGHIJ"), ("ITF", "12" * 10), ("CODE128", "{B" + "X" * 12)],
)
def test_a_barcode_wider_than_the_paper_is_not_printed(symbology: str, data: str) -> None:
    """GS k: "The bar code width that exceeds the print area cannot be specified" --
    ITF and CODE39 are refused like CODE128, not printed clipped."""
    p = Dummy(profile="default")
    with contextlib.redirect_stdout(io.StringIO()):
        p.barcode(data, symbology, function_type="B", width=6, check=False)
    p.text("after\n")
    p.cut()
    printer = VirtualPrinter(P58)
    printer.feed(p.output)
    (receipt,) = printer.receipts
    assert receipt.barcodes == ()
    assert receipt.text.strip() == "after"
    (error,) = printer.errors
    assert symbology in error and "more than the 384-dot line; not printed" in error


@pytest.mark.system_package("libzbar0")
@pytest.mark.system_package("libzbar0")
def test_code128_code_set_c_scans_back() -> None:
    data = b"{C" + bytes([20, 24, 1, 1]) + b"{BX"
    receipt = receipt_of(b"\x1dw\x02\x1dkI" + bytes([len(data)]) + data + b"\x1dV\x00")
    assert receipt.barcodes == ("20240101X",)
    assert [value for _, value in decode(render_png(receipt, P58))] == [b"20240101X"]


def test_code128_values_follow_the_code_set_selectors() -> None:
    # {B "AB" -> start B 104, A=33, B=34; check (104 + 33 + 2*34) % 103 = 102
    assert code128_values(b"{BAB") == [104, 33, 34, 102]
    with pytest.raises(SymbolError):
        code128_values(b"AB")


def test_unknown_2d_symbol_draws_a_labelled_box() -> None:
    data = b"\x1d(k\x08\x000P0hello\x1d(k\x03\x000Q0\x1dV\x00"  # PDF417
    receipt = receipt_of(data)
    assert receipt.lines[0].text == "[PDF417: hello]"
    renderer = PaperRenderer(P58)
    assert ink_box(renderer.render(receipt)) is not None


# -- status bits -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("feed_button", [0x1A, 0x1A, 0x12, 0x12]),
        ("recoverable_error", [0x3A, 0x52, 0x16, 0x12]),
        ("cutter_error", [0x3A, 0x52, 0x1A, 0x12]),
        ("unrecoverable_error", [0x1A, 0x52, 0x32, 0x12]),
        ("head_overheat", [0x1A, 0x52, 0x52, 0x12]),
    ],
)
def test_error_status_bits(fault: str, expected: list[int]) -> None:
    printer = VirtualPrinter(P58)
    setattr(printer.faults, fault, True)
    printer.feed(b"\x10\x04\x01\x10\x04\x02\x10\x04\x03\x10\x04\x04")
    assert list(printer.read_reply()) == expected


def test_dle_enq_recovers_from_a_cutter_error() -> None:
    printer = VirtualPrinter(P58)
    printer.faults.cutter_error = True
    printer.feed(b"text\n\x1dV\x00")
    assert printer.receipts == []
    printer.feed(b"\x10\x05\x01\x10\x04\x03")
    assert printer.read_reply() == b"\x12"
    assert printer.faults.cutter_error is False


def test_diagnostics_are_typed_and_hooked() -> None:
    printer = VirtualPrinter(P58)
    seen: list[str] = []
    printer.on_diagnostic.append(lambda diagnostic: seen.append(diagnostic.command))
    printer.feed(b"\x1b\x99ok\x1b(A\x02\x00ab\n\x1dV\x00")
    assert [d.offset for d in printer.diagnostics] == [0, 4]
    assert seen == ["ESC 0x99", "ESC ( A"]
    assert str(printer.diagnostics[1].to_error()).endswith("skipped 2 parameter bytes")
    assert [line.text for line in printer.receipts[0].lines] == ["ok"]


# -- possim render -------------------------------------------------------------------


@pytest.mark.system_package("libzbar0")
def test_acceptance_python_escpos_bytes_through_possim_render(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "capture.bin"
    stream.write_bytes(python_escpos_receipt(with_logo=False))
    png = tmp_path / "out.png"
    assert cli.main(["render", str(stream), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    words = ["收款成功", "商户：测试商户", "Amount:", "12.34", "Thank", "you", QR_DATA, ORDER_NO]
    positions = [out.index(word) for word in words]
    assert positions == sorted(positions)
    image = Image.open(png)
    assert image.width == 384
    assert ("QRCODE", QR_DATA.encode()) in decode(image)


def test_render_writes_text_file_and_reports_skipped_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "capture.bin"
    stream.write_bytes(b"\x1b@one\n\x1b\x99two\n\x1dV\x00three")
    text = tmp_path / "out.txt"
    assert cli.main(["render", str(stream), "--text", str(text), "--profile", "generic_80mm"]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "offset 6: ESC 0x99: unknown command; skipped" in captured.err
    assert text.read_text(encoding="utf-8").split("\n")[:4] == [
        "one",
        "two",
        "--------------------- cut ---------------------",
        "three",
    ]


def test_render_missing_file_and_bad_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["render", str(tmp_path / "nope.bin")]) == 2
    assert "nope.bin: no such file" in capsys.readouterr().err
    stream = tmp_path / "capture.bin"
    stream.write_bytes(b"x\n")
    assert cli.main(["render", str(stream), "--profile", "no_such_printer"]) == 2
    assert "no_such_printer" in capsys.readouterr().err


def test_without_a_cjk_font_the_renderer_falls_back_to_pillows_font() -> None:
    from simulator.devices.printer.render.fonts import FontSource

    renderer = PaperRenderer(P58, font=FontSource(None))
    image = renderer.render(receipt_of("中文 text\n\x1dV\x00".encode("gb18030")))
    assert image.width == 384 and ink_box(image) is not None


def test_font_override_that_is_not_a_font_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.devices.printer.render import fonts

    monkeypatch.setenv(fonts.FONT_ENV, "/nonexistent/font.ttf:1")
    fonts.find_font.cache_clear()
    try:
        with pytest.warns(fonts.FontWarning, match="not a readable font"):
            fonts.find_font()
    finally:
        monkeypatch.delenv(fonts.FONT_ENV)
        fonts.find_font.cache_clear()
