"""EscposPrinter driving the virtual printer through python-escpos, in-process."""

from __future__ import annotations

from typing import Any

import pytest
from escpos.printer import Dummy

from drivers.errors import PrinterError
from drivers.printer import (
    Align,
    Barcode,
    Cut,
    Feed,
    PrintDocument,
    PrinterStatus,
    QrCode,
    TextLine,
)
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import InProcessEscpos
from simulator.devices.printer.paper import LineKind, RenderedReceipt

P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")

SALE = PrintDocument(
    title="sale receipt (merchant copy)",
    items=(
        TextLine("POS签购单", Align.CENTER, bold=True, double_width=True, double_height=True),
        TextLine("商户存根 MERCHANT COPY", Align.CENTER),
        TextLine("-" * 32),
        TextLine("商户名称：测试商户"),
        TextLine("TOTAL", Align.RIGHT),
        TextLine("RMB 12.34", Align.RIGHT, bold=True),
        TextLine("Café", Align.CENTER),
        QrCode("https://qr.example/pay?o=1&amt=12.34"),
        Barcode("20240101000123"),
        Feed(2),
        Cut(),
    ),
)


def rig(profile: PrinterProfile = P58) -> tuple[EscposPrinter, VirtualPrinter]:
    virtual = VirtualPrinter(profile)
    return EscposPrinter(InProcessEscpos(virtual), profile=profile), virtual


def only_receipt(virtual: VirtualPrinter) -> RenderedReceipt:
    assert len(virtual.receipts) == 1, virtual.receipts
    return virtual.receipts[0]


def test_round_trip_words_alignment_and_attributes() -> None:
    printer, virtual = rig()
    printer.print_document(SALE)
    assert virtual.errors == []
    receipt = only_receipt(virtual)
    rendered = receipt.text.split("\n")
    assert [line.strip() for line in rendered] == [
        "POS签购单",
        "商户存根 MERCHANT COPY",
        "-" * 32,
        "商户名称：测试商户",
        "TOTAL",
        "RMB 12.34",
        "Café",
        "[QR: https://qr.example/pay?o=1&amt=12.34]",
        "[BARCODE CODE128: 20240101000123]",
    ]
    title = receipt.lines[0]
    assert title.bold and title.double_width and title.double_height
    # "POS" (3 x 2) + three Chinese characters (3 x 2 x 2) = 18 of 32 columns.
    assert title.columns == 18 and rendered[0] == " " * 7 + "POS签购单"
    # 商户存根 (8 columns) + " MERCHANT COPY" (14) = 22: centred leaves 5 left.
    assert rendered[1] == " " * 5 + "商户存根 MERCHANT COPY"
    assert rendered[4] == " " * 27 + "TOTAL" and len(rendered[4]) == 32
    assert rendered[5].endswith("RMB 12.34") and len(rendered[5]) == 32
    assert receipt.lines[5].bold and not receipt.lines[4].bold
    assert rendered[6] == " " * 14 + "Café"
    assert receipt.qr_codes == ("https://qr.example/pay?o=1&amt=12.34",)
    assert receipt.cut == "full"


def test_centring_on_80mm_uses_48_columns() -> None:
    printer, virtual = rig(P80)
    assert printer.paper_width_chars == 48
    document = PrintDocument(
        "t", (TextLine("MIDDLE", Align.CENTER), TextLine("END", Align.RIGHT), Cut())
    )
    printer.print_document(document)
    lines = only_receipt(virtual).text.split("\n")
    assert lines == [" " * 21 + "MIDDLE", " " * 45 + "END"]


def test_paper_width_chars_comes_from_the_profile() -> None:
    assert rig(P58)[0].paper_width_chars == 32
    assert EscposPrinter(Dummy()).paper_width_chars == 32  # the Printer default


def test_chinese_goes_out_in_gb18030_inside_chinese_mode() -> None:
    device = Dummy()
    printer = EscposPrinter(device, profile=P58)
    printer.print_document(
        PrintDocument("t", (TextLine("金额：12元", double_width=True), TextLine("plain"), Cut()))
    )
    output = device.output
    assert output.startswith(b"\x1b@\x1c.")  # init, then leave the power-on Chinese mode
    assert b"\x1c&\x1c!\x04" + "金额：12元".encode("gb18030") + b"\x1c." in output
    assert b"plain\n" in output
    assert b"\x10\x04" not in output  # write-only: no status queries sent
    assert printer.status_known is False


def test_double_size_chinese_line_is_double_on_paper() -> None:
    printer, virtual = rig()
    printer.print_document(
        PrintDocument("t", (TextLine("成功", double_width=True, double_height=True), Cut()))
    )
    (span,) = only_receipt(virtual).lines[0].spans
    assert (span.text, span.cjk, span.width, span.height) == ("成功", True, 2, 2)


def test_control_characters_in_text_cannot_inject_commands() -> None:
    printer, virtual = rig()
    printer.print_document(
        PrintDocument("t", (TextLine("evil\x1dV\x00name"), TextLine("next"), Cut()))
    )
    assert only_receipt(virtual).text == "evil?V?name\nnext"


def test_long_barcode_gets_a_narrower_module_to_fit_58mm() -> None:
    printer, virtual = rig()
    printer.print_document(PrintDocument("t", (Barcode("ORDER-2024-01"), Cut())))
    assert virtual.errors == []
    assert only_receipt(virtual).barcodes == ("ORDER-2024-01",)


def test_qr_as_image_when_the_profile_has_no_native_qr() -> None:
    import attrs

    profile = attrs.evolve(P58, native_qr=False)
    printer, virtual = rig(profile)
    printer.print_document(PrintDocument("t", (QrCode("hello"), Cut())))
    (line,) = [line for line in only_receipt(virtual).lines if line.text.strip()]
    assert line.kind is LineKind.IMAGE


def test_invalid_barcode_raises_before_anything_is_sent() -> None:
    printer, virtual = rig()
    received = virtual.bytes_received
    with pytest.raises(PrinterError, match="item 2 \\(Barcode\\)"):
        printer.print_document(PrintDocument("t", (TextLine("x"), Barcode("收款"), Cut())))
    assert virtual.bytes_received - received == 6  # only the two status queries
    with pytest.raises(PrinterError, match="symbology 'QRISH'"):
        printer.print_document(PrintDocument("t", (Barcode("1", symbology="QRISH"),)))
    assert virtual.receipts == []


def test_cash_drawer() -> None:
    printer, virtual = rig()
    printer.open_cash_drawer()
    printer.open_cash_drawer(5)
    assert virtual.drawer_kicks == 2


# -- status ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "expected", "problem"),
    [
        (None, PrinterStatus(), None),
        ("offline", PrinterStatus(online=False), "printer offline"),
        ("cover_open", PrinterStatus(cover_open=True), "printer cover open"),
        ("paper_near_end", PrinterStatus(paper_near_end=True), None),
        (
            "paper_out",
            PrinterStatus(paper_present=False, paper_near_end=True),
            "printer out of paper",
        ),
    ],
)
def test_status_maps_the_status_bytes(
    fault: str | None, expected: PrinterStatus, problem: str | None
) -> None:
    printer, virtual = rig()
    if fault:
        setattr(virtual.faults, fault, True)
    status = printer.status()
    assert status == expected
    assert status.problem() == problem
    assert printer.status_known is True
    assert virtual.read_reply() == b""  # every reply was consumed


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("paper_out", "printer out of paper: cannot print 'sale receipt"),
        ("cover_open", "printer cover open: cannot print"),
        ("offline", "printer offline: cannot print"),
    ],
)
def test_print_document_refuses_when_not_ready(fault: str, message: str) -> None:
    printer, virtual = rig()
    setattr(virtual.faults, fault, True)
    with pytest.raises(PrinterError, match=message):
        printer.print_document(SALE)
    assert virtual.receipts == [] and virtual.unprinted == []


def test_paper_near_end_still_prints() -> None:
    printer, virtual = rig()
    virtual.faults.paper_near_end = True
    printer.print_document(SALE)
    assert len(virtual.receipts) == 1


def test_paper_running_out_during_the_job_is_reported() -> None:
    printer, virtual = rig()
    virtual.faults.paper_left = 2
    document = PrintDocument("t", (TextLine("a"), TextLine("b"), TextLine("c"), Cut()))
    with pytest.raises(PrinterError, match=r"out of paper while printing 't'.* may be incomplete"):
        printer.print_document(document)
    assert virtual.receipts == []
    assert virtual.pending_text() == "a\nb"
    assert virtual.unprinted[0].text == "c"


class _Answering(Dummy):  # type: ignore[misc]
    """A transport that answers every status query with fixed bytes."""

    def __init__(self, reply: bytes) -> None:
        super().__init__()
        self.reply = reply

    def _read(self) -> bytes:
        return self.reply


class _Broken(Dummy):  # type: ignore[misc]
    def _raw(self, msg: bytes) -> None:
        raise OSError(5, "Input/output error")

    def _read(self) -> bytes:
        raise OSError(5, "Input/output error")


def test_silent_transport_means_unknown_status() -> None:
    printer = EscposPrinter(_Answering(b""), profile=P58)
    assert printer.status() == PrinterStatus()
    assert printer.status_known is False


def test_garbled_status_byte_is_an_error() -> None:
    printer = EscposPrinter(_Answering(b"\x00"), profile=P58, name="counter printer")
    with pytest.raises(PrinterError, match="counter printer answered 00 to DLE EOT 1"):
        printer.status()


def test_transport_errors_become_printer_errors() -> None:
    printer = EscposPrinter(_Broken(), profile=P58)
    with pytest.raises(PrinterError, match=r"status of printer _Broken .*Input/output error"):
        printer.print_document(SALE)


def test_write_errors_become_printer_errors() -> None:
    class WriteOnlyBroken(Dummy):  # type: ignore[misc]
        def _raw(self, msg: bytes) -> None:
            raise OSError(19, "No such device")

    printer = EscposPrinter(WriteOnlyBroken(), profile=P58)
    with pytest.raises(PrinterError, match=r"sending 'sale receipt .* No such device; check"):
        printer.print_document(SALE)


def test_any_escpos_instance_is_accepted() -> None:
    device: Any = Dummy(profile="TM-T20II")
    printer = EscposPrinter(device)
    printer.print_document(PrintDocument("t", (TextLine("hello"), Cut())))
    virtual = VirtualPrinter(P80)
    virtual.feed(device.output)
    assert only_receipt(virtual).text == "hello"
