"""Printer faults: injected at the virtual printer's port, met by the terminal's
print queue with a clear screen, a wait and a marked reprint -- never a second
payment."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import PrinterError
from drivers.printer import Cut, PrintDocument, Printer, PrinterStatus, TextLine
from drivers.printer.profile import PrinterProfile
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort
from simulator.errors import ScenarioError
from simulator.events import EventBus, EventPayload
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.display import Display, ScreenId, ScreenShown
from simulator.terminal.print_queue import (
    PrinterFaulted,
    PrinterRecovered,
    PrintJob,
    PrintQueue,
    Reprinting,
)
from simulator.wire.receipts import REPRINT_MARK, ReceiptTemplate

P58 = PrinterProfile.load("generic_58mm")
LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
FAULT_SCENARIOS = sorted(LIBRARY.glob("printer_*.yaml"))


def printer_events(bus: EventBus) -> list[type[EventPayload]]:
    """What the print queue said of the printer, in order."""
    handled = (PrinterFaulted, PrinterRecovered, Reprinting)
    return [type(e.payload) for e in bus.events if isinstance(e.payload, handled)]


# -- the port -------------------------------------------------------------------------


def test_paper_end_after_n_bytes_hits_at_that_byte() -> None:
    printer = VirtualPrinter(P58)
    port = PrinterPort(printer)
    port.inject(paper_end_after=11)
    port.feed(b"first line\nsecond line\n")  # the 11th byte ends the first line
    assert printer.faults.paper_out
    assert [line.text for line in printer.pending_lines] == ["first line"]
    assert any("second line" in error for error in printer.errors)
    assert port.bytes_fed == 23


def test_armed_faults_count_bytes_across_chunks() -> None:
    printer = VirtualPrinter(P58)
    port = PrinterPort(printer)
    port.inject(cover_open_after=5, offline_after=2)
    port.feed(b"abc")
    assert printer.faults.offline and not printer.faults.cover_open
    assert port.armed() == {"cover_open": 2}
    port.feed(b"de")
    assert not printer.faults.cover_open  # exactly five bytes got through ...
    port.feed(b"f")
    assert printer.faults.cover_open  # ... the sixth meets the open cover
    port.close_cover()
    port.set_online()
    assert not (printer.faults.cover_open or printer.faults.offline)


def test_setting_a_flag_disarms_its_delayed_fault() -> None:
    printer = VirtualPrinter(P58)
    port = PrinterPort(printer)
    port.inject(paper_end_after=3)
    port.inject(paper_end=False)
    port.feed(b"0123456789\n")
    assert not printer.faults.paper_out and port.armed() == {}


def test_refill_tears_off_the_partial_print() -> None:
    printer = VirtualPrinter(P58)
    port = PrinterPort(printer)
    port.feed(b"\x1b@whole receipt\n\x1dV\x00")
    port.inject(paper_end_after=len(b"\x1b@half \n"))
    port.feed(b"\x1b@half \nnever printed\n\x1dV\x00")
    assert printer.faults.paper_out and printer.pending_lines
    port.refill_paper()
    assert not printer.faults.paper_out and not printer.pending_lines
    assert len(port.torn_off) == 1
    assert [r.text.strip() for r in port.receipts()] == ["whole receipt"]


def test_paper_lines_left_runs_out_on_the_line() -> None:
    printer = VirtualPrinter(P58)
    port = PrinterPort(printer)
    port.inject(paper_lines_left=1)
    port.feed(b"one\ntwo\n")
    assert printer.faults.paper_out and [line.text for line in printer.pending_lines] == ["one"]


# -- the print queue ----------------------------------------------------------------------


class FlakyPrinter(Printer):
    """A printer whose status and failures a test scripts."""

    def __init__(self) -> None:
        self.state = PrinterStatus()
        self.fail_next = 0
        self.printed: list[PrintDocument] = []

    def status(self) -> PrinterStatus:
        return self.state

    def print_document(self, document: PrintDocument) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise PrinterError("I/O error")
        if not self.state.ready:
            raise PrinterError(str(self.state.problem()))
        self.printed.append(document)


def _job(name: str) -> PrintJob:
    def render(reprint: bool) -> PrintDocument:
        marker = (TextLine(REPRINT_MARK),) if reprint else ()
        return PrintDocument(title=name, items=(*marker, TextLine(name), Cut()))

    return PrintJob(render, title=name)


def _queue(printer: Printer, wait: float = 30.0) -> tuple[PrintQueue, EventBus, VirtualClock]:
    clock = VirtualClock()
    bus = EventBus(clock)
    return PrintQueue(printer, display=Display(bus), bus=bus, clock=clock, wait=wait), bus, clock


def test_a_job_that_outwaits_the_fault_stays_queued_and_prints_first_next_time() -> None:
    printer = FlakyPrinter()
    printer.state = PrinterStatus(paper_present=False)
    queue, bus, clock = _queue(printer, wait=30.0)
    with clock.actor():
        assert not queue.print([_job("merchant"), _job("customer")], screen=("RMB 1.00",))
    assert clock.monotonic() == pytest.approx(30.0)
    assert [job.title for job in queue.pending] == ["merchant", "customer"]
    assert printer_events(bus) == [PrinterFaulted]
    assert "小票未打印" in bus.of(ScreenShown)[-1].summary
    printer.state = PrinterStatus()
    with clock.actor():
        assert queue.print([_job("next sale")])
    assert [d.title for d in printer.printed] == ["merchant", "customer", "next sale"]
    assert not any(REPRINT_MARK in d.plain_text() for d in printer.printed)  # never started


def test_a_printer_that_fails_while_reporting_ready_is_given_up_on() -> None:
    printer = FlakyPrinter()
    printer.fail_next = 99
    queue, _, clock = _queue(printer)
    with clock.actor():
        assert not queue.print([_job("merchant")])
    assert queue.pending and printer.printed == []


def test_a_transient_failure_is_reprinted_with_the_marker() -> None:
    printer = FlakyPrinter()
    printer.fail_next = 1
    queue, bus, clock = _queue(printer)
    with clock.actor():
        assert queue.print([_job("merchant")])
    assert [REPRINT_MARK in d.plain_text() for d in printer.printed] == [True]
    assert printer_events(bus) == [Reprinting]


def test_the_fault_screen_says_what_to_do() -> None:
    printer = FlakyPrinter()
    printer.state = PrinterStatus(cover_open=True)
    queue, bus, clock = _queue(printer, wait=5.0)
    with clock.actor():
        queue.print([_job("merchant")], screen=("RMB 9.99",))
    fault_screen = next(e for e in bus.of(ScreenShown) if "打印机盖未关" in e.summary)
    assert fault_screen.payload.screen is ScreenId.PRINTER_FAULT
    assert "RMB 9.99" in fault_screen.summary and "Close the printer cover" in fault_screen.summary


# -- the reprint marker -----------------------------------------------------------------


def test_default_reprint_line_goes_on_top() -> None:
    template = ReceiptTemplate.load("sale")
    assert not template.places_reprint_mark
    values = dict.fromkeys(
        [
            "merchant_name",
            "merchant_id",
            "terminal_id",
            "masked_pan",
            "card_label",
            "batch_no",
            "stan",
            "auth_code",
            "rrn",
            "datetime",
            "order_no",
            "amount",
        ],
        "1",
    )
    plain = template.render("merchant", values, width=32)
    again = template.render("merchant", values, width=32, reprint=True)
    assert REPRINT_MARK not in plain.plain_text()
    assert again.plain_text().splitlines()[0] == f"*** {REPRINT_MARK} ***"
    assert again.items[1:] == plain.items
    assert again.title.endswith(", reprint)")


def test_a_template_can_place_the_reprint_marker(tmp_path: Path) -> None:
    path = tmp_path / "custom.yaml"
    path.write_text(
        "copies: {merchant: M}\n"
        "lines:\n"
        '  - {text: "HEADER"}\n'
        '  - {text: "-- {reprint} --", if: reprint}\n'
        "  - {cut: true}\n",
        encoding="utf-8",
    )
    template = ReceiptTemplate.load(str(path))
    assert template.places_reprint_mark
    assert template.render("merchant", {}, width=32).plain_text() == "HEADER"
    reprinted = template.render("merchant", {}, width=32, reprint=True).plain_text()
    assert reprinted == f"HEADER\n-- {REPRINT_MARK} --"


# -- the whole terminal ---------------------------------------------------------------------


def _sale_with(sim: Shop, fix: Callable[[PrinterPort], None]) -> None:
    reader, pad, port = sim.world.card_slot, sim.world.pin_pad, sim.world.printer_port
    assert reader is not None and pad is not None and port is not None
    card = cards.load("unionpay_debit")
    with sim.clock.actor():
        sale = sim.terminal.start_sale(1234)
        sim.clock.settle()
        reader.insert(sim.world.card(card))
        sim.clock.settle()
        pad.type_pin(card.pin)
        sim.clock.settle()
        reader.remove()
        sim.clock.settle()
        assert "打印机缺纸" in sim.terminal.display.screen.text()
        fix(port)
        result = sale.wait(3600)
    assert result is not None and result.approved


@pytest.mark.parametrize("transport", ["sim", "usb", "pty", "tcp"])
def test_paper_out_mid_receipt_is_reprinted_once_and_paid_once(
    transport: str, tmp_path: Path
) -> None:
    with Shop(TerminalConfig.load(), tmp_path, printer_transport=transport) as sim:
        port = sim.world.printer_port
        assert port is not None
        port.inject(paper_end_after=2000)  # past the logo, in the text
        _sale_with(sim, PrinterPort.refill_paper)
        receipts = [r.text for r in port.receipts()]
        assert len(receipts) == 2
        assert receipts[0].lstrip().startswith(f"*** {REPRINT_MARK} ***")
        assert REPRINT_MARK not in receipts[1]
        (torn,) = port.torn_off
        assert "POS签购单" in torn.text and REPRINT_MARK not in torn.text
        assert len(sim.terminal.journal.entries()) == 1
        assert [t.status for t in sim.gateway.ledger.transactions()] == ["approved"]
        kinds = printer_events(sim.bus)
        assert kinds.count(PrinterFaulted) == 1 and kinds.count(Reprinting) == 1
        assert kinds.index(PrinterFaulted) < kinds.index(PrinterRecovered) < kinds.index(Reprinting)
        assert sim.terminal.display.screen.id is ScreenId.PAID
        assert "打印机" not in sim.terminal.display.screen.text()


def test_the_library_has_the_fault_scenarios() -> None:
    names = {path.stem for path in FAULT_SCENARIOS}
    assert {"printer_paper_out", "printer_paper_out_mid_receipt", "printer_cover_open"} <= names


@pytest.mark.parametrize("transport", ["usb", "pty", "tcp"])
@pytest.mark.parametrize("path", FAULT_SCENARIOS, ids=[p.stem for p in FAULT_SCENARIOS])
def test_fault_scenarios_pass_over_each_transport(
    path: Path, transport: str, tmp_path: Path
) -> None:
    result = run_scenario(load_scenario(path), tmp_path, printer_transport=transport)
    assert result.passed, result.failure_text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("{}", "name at least one fault"),
        ("{paper_end: 1}", "expected true or false"),
        ("{paper_end_after: -1}", "a whole number from 0 to 1000000"),
        ("{paper_end_after: true}", "a whole number from 0 to 1000000"),
        ("{jam: true}", "unknown key"),
    ],
)
def test_bad_printer_fault_steps_say_what_is_wrong(
    value: str, problem: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nsteps:\n  - printer_fault: {value}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=problem):
        load_scenario(path)


@given(
    data=st.binary(max_size=300),
    after=st.integers(min_value=0, max_value=320),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
)
@settings(max_examples=60, deadline=None)
def test_a_delayed_fault_hits_at_its_byte_whatever_the_chunking(
    data: bytes, after: int, cuts: list[int]
) -> None:
    chunked = VirtualPrinter(P58)
    port = PrinterPort(chunked)
    port.inject(paper_end_after=after)
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    for start, stop in itertools.pairwise(bounds):
        port.feed(data[start:stop])
    reference = VirtualPrinter(P58)
    reference.feed(data[:after])
    if after == 0 or after < len(data):  # 0: at once; n == len(data): at the next byte
        reference.faults.paper_out = True
        reference.feed(data[after:])
    assert chunked.faults.paper_out == reference.faults.paper_out
    assert chunked.pending_lines == reference.pending_lines
    assert [r.text for r in chunked.receipts] == [r.text for r in reference.receipts]
