"""Hypothesis: no byte stream crashes the interpreter or the renderers, or takes
more memory or CPU than its size allows (printer_fuzz_bounds.py); unknown
commands are reported and skipped by their known length, and the rest of the
stream still prints."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from printer_fuzz_bounds import assert_still_answers, bounded

from drivers.printer.profile import PrinterProfile
from simulator.bench.samples import python_escpos_receipt, sale_receipt
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.render.png import PaperRenderer

P58 = PrinterProfile.load("generic_58mm")
RENDERER = PaperRenderer(P58)
RECEIPT = python_escpos_receipt()
SALE = sale_receipt(P58, qr=True)
FRAGMENTS = [
    b"\x1b",
    b"\x1d",
    b"\x1c",
    b"\x10\x04",
    b"\x10\x05",
    b"\x1b@",
    b"\x1b!\x38",
    b"\x1d!\x11",
    b"\x1b3\x10",
    b"\x1bJ\x40",
    b"\x1b*!\x02\x00",
    b"\x1b&\x03AB",
    b"\x1b(A",
    b"\x1c(C",
    b"\x1cq\x01",
    b"\x1d*\x01\x01",
    b"\x1d(k",
    b"\x1d(k\x03\x001E",
    b"\x1d(k\x03\x001C",
    b"\x1d(L",
    b"\x1d8L",
    b"\x1dv0\x00",
    b"\x1dkI",
    b"\x1dk\x02",
    b"\x1dH",
    b"\x1dh",
    b"\x1dw",
    b"\x1dV",
    b"\x1c&",
    b"\x1c.",
    "金额".encode("gb18030"),
    b"\n",
]
streams = st.lists(st.one_of(st.binary(max_size=16), st.sampled_from(FRAGMENTS)), max_size=40).map(
    b"".join
)
# Commands this interpreter does not simulate, but whose length it knows.
ESC_UNKNOWN = sorted(set(range(0x21, 0x7F)) - set(b"@!EG-MatdJKe23A+prV=URB $\\%?cfSLWTim{D*&("))


def print_everything(printer: VirtualPrinter) -> None:
    """Render every receipt and the uncut rest, to text and to pixels."""
    rest = printer.tear_off()
    for receipt in [*printer.receipts, *([rest] if rest else [])]:
        assert isinstance(receipt.text, str)
        image = RENDERER.render(receipt)
        assert image.width == 384


def assert_no_internal_errors(printer: VirtualPrinter) -> None:
    assert [e for e in printer.errors if "internal error" in e] == []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(st.binary(max_size=500), streams))
def test_random_bytes_never_crash_interpreter_or_renderers(data: bytes) -> None:
    printer = VirtualPrinter(P58)
    with bounded(len(data)):
        printer.feed(data)
        print_everything(printer)
    assert_no_internal_errors(printer)
    assert_still_answers(printer)


@settings(max_examples=100, deadline=None)
@given(cut=st.integers(0, len(SALE)))
def test_truncated_receipts_never_crash(cut: int) -> None:
    printer = VirtualPrinter(P58)
    printer.feed(SALE[:cut])
    assert_no_internal_errors(printer)
    print_everything(printer)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    insertions=st.lists(
        st.tuples(st.integers(0, len(RECEIPT)), st.one_of(st.binary(max_size=8), streams)),
        max_size=4,
    ),
    deletions=st.lists(st.integers(0, len(RECEIPT) - 1), max_size=4),
)
def test_valid_stream_with_random_insertions_and_deletions(
    insertions: list[tuple[int, bytes]], deletions: list[int]
) -> None:
    data = bytearray(RECEIPT)
    for index in sorted(set(deletions), reverse=True):
        del data[index]
    for index, extra in sorted(insertions, reverse=True):
        data[index:index] = extra
    printer = VirtualPrinter(P58)
    with bounded(len(data)):
        printer.feed(bytes(data))
        print_everything(printer)
    assert_no_internal_errors(printer)
    assert_still_answers(printer)


@settings(max_examples=150, deadline=None)
@given(
    command=st.one_of(
        st.tuples(st.just(b"\x1b("), st.binary(min_size=1, max_size=1), st.binary(max_size=40)),
        st.tuples(st.just(b"\x1c("), st.binary(min_size=1, max_size=1), st.binary(max_size=40)),
        st.tuples(
            st.just(b"\x1d("),
            st.sampled_from([b"A", b"C", b"D", b"E", b"H", b"K", b"M", b"N", b"P", b"Q"]),
            st.binary(max_size=40),
        ),
    )
)
def test_length_prefixed_unknowns_are_skipped_by_their_length(
    command: tuple[bytes, bytes, bytes],
) -> None:
    prefix, code, body = command
    unknown = prefix + code + len(body).to_bytes(2, "little") + body
    clean = VirtualPrinter(P58)
    clean.feed(RECEIPT)
    printer = VirtualPrinter(P58)
    printer.feed(unknown + RECEIPT)
    assert len(printer.diagnostics) == 1
    assert printer.diagnostics[0].offset == 0
    assert "skipped" in printer.diagnostics[0].problem
    assert printer.receipts == clean.receipts


@settings(max_examples=100, deadline=None)
@given(code=st.sampled_from(ESC_UNKNOWN))
def test_unknown_esc_commands_are_reported_and_skipped(code: int) -> None:
    printer = VirtualPrinter(P58)
    printer.feed(bytes([0x1B, code]) + b"after\n\x1dV\x00")
    assert [d.offset for d in printer.diagnostics] == [0]
    assert "unknown command" in printer.diagnostics[0].problem
    assert [line.text for line in printer.receipts[0].lines] == ["after"]
