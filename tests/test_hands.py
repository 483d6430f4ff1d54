"""The seam between a harness and the shop: ``Hands`` acts, ``ShopView`` reads.

A device the terminal reaches for real refuses a person's action with one typed
error, :class:`~simulator.hands.NotSimulated`, whoever acts: a test through the
``pos`` fixture (it raises), a scenario step (it fails at its line), the TUI's
person at the counter (shown as an error). The "real" printer here is a network
printer on loopback (possim's own, behind ``tcp://``): the terminal prints to it
through python-escpos's ``Network`` class, exactly as to a shop's printer.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.printer.profile import PrinterProfile
from simulator.devices import cards
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.transports.tcp import TcpPrinter
from simulator.hands import NotSimulated, PrinterFaults
from simulator.hands.devices import PrinterFaultsChanged, PrinterHandled
from simulator.scenario.model import ExpectationFailed
from simulator.scenario.pos import Pos, with_devices
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.tui.counter import Counter

CARD = cards.load("unionpay_debit")


@pytest.fixture
def network_printer() -> Iterator[tuple[str, VirtualPrinter]]:
    """A printer the terminal reaches over TCP 9100: real, as far as possim can tell."""
    printer = VirtualPrinter(PrinterProfile.load("generic_58mm"))
    with TcpPrinter(PrinterPort(printer)) as network:
        yield network.url, printer


def _with_printer(url: str) -> TerminalConfig:
    return with_devices(TerminalConfig.load(), {"printer": url})


def test_a_real_printer_refuses_every_hand_on_it(
    tmp_path: Path, network_printer: tuple[str, VirtualPrinter]
) -> None:
    url, printer = network_printer
    with Shop(_with_printer(url), tmp_path) as shop:
        hands = shop.hands

        def paper_end() -> None:
            hands.printer_faults(PrinterFaults(paper_end=True))

        acts: tuple[tuple[Callable[[], None], str], ...] = (
            (paper_end, "inject its faults"),
            (hands.take_paper_out, "take its paper out"),
            (hands.refill_paper, "refill its paper"),
            (hands.open_cover, "open its cover"),
            (hands.close_cover, "close its cover"),
        )
        for act, what in acts:
            with pytest.raises(NotSimulated) as caught:
                act()
            assert str(caught.value) == (
                f"the printer is {url}, not simulated: cannot {what} (a sim:// printer can)"
            )
            assert (caught.value.device, caught.value.url) == ("printer", url)
        # Refused before anything happened: no fault event, and the real printer prints.
        handled = (PrinterHandled, PrinterFaultsChanged)
        assert not [e for e in shop.view.events() if isinstance(e.payload, handled)]
        assert shop.pay_by_card(1234, CARD).approved
        assert shop.view.printer_faults() == {}
    assert len(printer.receipts) == 2


def test_the_pos_fixture_lets_it_raise_and_a_step_fails_at_the_callers_line(
    tmp_path: Path, network_printer: tuple[str, VirtualPrinter]
) -> None:
    url, _ = network_printer
    with Pos(tmp_path, config=_with_printer(url)) as pos:
        with pytest.raises(NotSimulated, match="the printer is tcp://"):
            pos.hands.refill_paper()
        with pytest.raises(ExpectationFailed) as caught:
            pos.step("printer_fault", {"paper_end": True})
        failure = caught.value
        assert failure.step is not None and failure.step.line == _line_of('pos.step("printer_f')
        assert failure.message == (
            f"the printer is {url}, not simulated: cannot inject its faults (a sim:// printer can)"
        )


def _line_of(text: str) -> int:
    """The line of this file that holds ``text`` (the first one)."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, 1) if text in line)


def test_the_counter_shows_it_to_the_person(
    tmp_path: Path, network_printer: tuple[str, VirtualPrinter]
) -> None:
    url, _ = network_printer
    with Shop(_with_printer(url), tmp_path) as shop:
        counter = Counter(shop)
        errors: list[BaseException] = []
        shown = threading.Event()

        def show(error: BaseException) -> None:
            errors.append(error)
            shown.set()

        counter.on_error.append(show)
        counter.start()
        try:
            counter.toggle_paper()
            assert shown.wait(30.0)
        finally:
            counter.stop()
    (error,) = errors
    assert isinstance(error, NotSimulated) and "cannot take its paper out" in str(error)


def test_the_hands_events_name_who_acted(tmp_path: Path) -> None:
    with Shop(TerminalConfig.load(), tmp_path) as shop:
        shop.hands.take_paper_out()
        shop.hands.by("counter").refill_paper()
        shop.hands.printer_faults(PrinterFaults(cover_open_after=5, paper_near_end=True))
        faults = [(e.source, e.kind, e.summary, e.detail) for e in shop.view.events()]
        payloads = [e.payload for e in shop.view.events()]
    assert faults == [
        ("scenario", "printer_fault", "paper roll taken out", {}),
        ("counter", "printer_fault", "paper refilled", {}),
        (
            "scenario",
            "printer_fault",
            "printer fault: printer paper_near_end=True, cover_open_after=5",
            {"paper_near_end": True, "cover_open_after": 5},
        ),
    ]
    assert payloads[-1] == PrinterFaultsChanged(
        PrinterFaults(cover_open_after=5, paper_near_end=True)
    )


def test_the_view_reads_streams_after_a_cursor(tmp_path: Path) -> None:
    with Shop(TerminalConfig.load(), tmp_path) as shop:
        assert shop.pay_by_card(1234, CARD).approved
        first = shop.view.screens()
        cursor = first[-1].seq
        assert shop.pay_by_card(2000, CARD).approved
        later = shop.view.screens(after=cursor)
        assert [s.payload.screen for s in later] == [s.payload.screen for s in first]
        assert all(s.seq > cursor for s in later)
        messages = shop.view.iso8583()
        assert [m.payload.mti for m in messages] == ["0200", "0210"] * 2
        assert messages[1].payload.value("39") == "00" and messages[0].payload.value("52") is None
        receipts = shop.view.receipts()
        assert [r.kind for r in receipts] == ["sale"] * 4
        assert "RMB 20.00" in receipts[-1].text
        assert shop.view.charged_fen() == {"card": 3234, "wechat": 0, "alipay": 0, "unionpay_qr": 0}


def test_the_view_reads_a_qr_payment(tmp_path: Path) -> None:
    with Pos(tmp_path) as pos:
        assert pos.pay_by_qr("12.34", wallet="alipay").approved
        calls = pos.view.http_calls()
        assert [(c.payload.direction, c.payload.method) for c in calls[:2]] == [
            ("out", "POST"),
            ("in", None),
        ]
        assert calls[1].payload.status == 200
        assert [n.payload.verdict for n in pos.view.notifies()] == ["accepted"]
        assert pos.view.charged_fen()["alipay"] == 1234
        sale = pos.view.last_qr_sale()
        assert sale is not None and pos.view.qr_order(sale.out_trade_no)["trade_state"] == "SUCCESS"
        assert [r.kind for r in pos.view.receipts()] == ["qr_slip", "sale", "sale"]
