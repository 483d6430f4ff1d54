"""Property tests: no byte stream crashes the virtual printer or exceeds its resource
bounds (printer_fuzz_bounds.py: memory, CPU, the bytes it waits for), and chunking
never matters."""

from __future__ import annotations

from escpos.printer import Dummy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printer_fuzz_bounds import assert_still_answers, bounded

from drivers.printer import Align, Barcode, Cut, PrintDocument, QrCode, TextLine
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.paper import RenderedLine

P58 = PrinterProfile.load("generic_58mm")
P80 = PrinterProfile.load("generic_80mm")

# Pieces of real commands, so the fuzzer reaches deep into the parsers.
FRAGMENTS = [
    b"\x1b",
    b"\x1d",
    b"\x1c",
    b"\x10",
    b"\x1b@",
    b"\x1b!",
    b"\x1bE",
    b"\x1b-",
    b"\x1ba",
    b"\x1bt",
    b"\x1bd",
    b"\x1bJ",
    b"\x1bD",
    b"\x1b*",
    b"\x1bp",
    b"\x1d!",
    b"\x1dB\x01",
    b"\x1bM\x01",
    b"\x1bG\x01",
    b"\x1d(",
    b"\x1dk",
    b"\x1dkI",
    b"\x1d(k",
    b"\x1d(L",
    b"\x1d8L",
    b"\x1dv0",
    b"\x1dV",
    b"\x1dr",
    b"\x1c&",
    b"\x1c.",
    b"\x1c!",
    b"\x10\x04",
    b"\x10\x14",
    b"\n",
    b"\t",
    "收款成功".encode("gb18030"),
    b"\x81\x30",
    b"hello",
]
streams = st.lists(st.one_of(st.binary(max_size=12), st.sampled_from(FRAGMENTS)), max_size=40).map(
    b"".join
)


def receipt_bytes() -> bytes:
    device = Dummy()
    EscposPrinter(device, profile=P58).print_document(
        PrintDocument(
            "fuzz",
            (
                TextLine("收款成功", Align.CENTER, bold=True, double_width=True),
                TextLine("商户：测试商户"),
                TextLine("TOTAL 12.34", Align.RIGHT),
                QrCode("https://qr.example/1"),
                Barcode("20240101"),
                Cut(),
            ),
        )
    )
    data: bytes = device.output
    return data


RECEIPT = receipt_bytes()


def texts(lines: tuple[RenderedLine, ...]) -> list[str]:
    return [line.text for line in lines]


def feed_in_chunks(printer: VirtualPrinter, data: bytes, cuts: list[int]) -> None:
    last = 0
    for cut in sorted({c % (len(data) + 1) for c in cuts}):
        printer.feed(data[last:cut])
        last = cut
    printer.feed(data[last:])


def assert_no_internal_errors(printer: VirtualPrinter) -> None:
    internal = [error for error in printer.errors if "internal error" in error]
    assert internal == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=400), streams))
def test_arbitrary_bytes_never_raise_and_stay_within_bounds(data: bytes) -> None:
    printer = VirtualPrinter(P58)
    with bounded(len(data)):
        printer.feed(data)
        printer.read_reply()
    assert_no_internal_errors(printer)
    assert_still_answers(printer)


# Every command that declares how many bytes follow it (issue 13: FS q declaring 34 GB).
LENGTH_DECLARING = [
    b"\x1cq",  # FS q n [xL xH yL yH d...]...
    b"\x1d*",  # GS * x y d...
    b"\x1b&",  # ESC & y c1 c2 [x d...]...
    b"\x1dD0C0",  # GS D m fn a kc1 kc2 b c BMP
    b"\x1dv0",  # GS v 0 m xL xH yL yH d...
    b"\x1d8L",  # GS 8 L p1 p2 p3 p4 ...
    b"\x1d(L",  # GS ( L pL pH ...
    b"\x1d(k",  # GS ( k pL pH ...
    b"\x1b(A",  # ESC ( A pL pH ...
    b"\x1c(A",  # FS ( A pL pH ...
    b"\x1b*",  # ESC * m nL nH d...
    b"\x1dk",  # GS k m [n] d...
    b"\x1bD",  # ESC D n1...nk NUL
]


@settings(max_examples=300, deadline=None)
@given(
    command=st.sampled_from(LENGTH_DECLARING),
    sizes=st.binary(min_size=1, max_size=12),
    rest=st.binary(max_size=64),
    profile=st.sampled_from([P58, P80]),
)
def test_declared_sizes_are_bounded_by_the_printer_model(
    command: bytes, sizes: bytes, rest: bytes, profile: PrinterProfile
) -> None:
    data = command + sizes + rest
    printer = VirtualPrinter(profile)
    with bounded(len(data)):
        printer.feed(data)
    assert_no_internal_errors(printer)
    assert_still_answers(printer)


@settings(max_examples=200, deadline=None)
@given(data=st.one_of(st.binary(max_size=200), streams), cuts=st.lists(st.integers(0, 400)))
def test_chunking_never_changes_the_result(data: bytes, cuts: list[int]) -> None:
    whole = VirtualPrinter(P58)
    whole.feed(data)
    chunked = VirtualPrinter(P58)
    feed_in_chunks(chunked, data, cuts)
    assert chunked.receipts == whole.receipts
    assert chunked.errors == whole.errors
    assert chunked.pending_lines == whole.pending_lines
    assert chunked.read_reply(10_000) == whole.read_reply(10_000)
    assert chunked.drawer_kicks == whole.drawer_kicks


@settings(max_examples=200, deadline=None)
@given(garbage=st.one_of(st.binary(max_size=200), streams), cuts=st.lists(st.integers(0, 600)))
def test_valid_receipt_after_garbage_and_init_still_renders(
    garbage: bytes, cuts: list[int]
) -> None:
    clean = VirtualPrinter(P58)
    clean.feed(RECEIPT)
    (expected,) = clean.receipts

    printer = VirtualPrinter(P58)
    printer.feed(garbage)
    # A command the garbage left open consumes the bytes it declared, as on a
    # real printer; complete it the way a host would (with padding).
    while printer.awaiting:
        printer.feed(b"\x00" * printer.awaiting)
    feed_in_chunks(printer, b"\x1b@" + RECEIPT, cuts)
    assert_no_internal_errors(printer)
    last = printer.receipts[-1]
    # Lines the garbage printed before ESC @ share the paper; the receipt ends it.
    assert texts(last.lines[-len(expected.lines) :]) == texts(expected.lines)
    assert last.lines[-len(expected.lines) :] == expected.lines
    assert last.qr_codes[-1:] == ("https://qr.example/1",)
