"""The shortcuts taken for throughput (``possim bench purchase``) change nothing
anyone can observe: same bytes or same paper, same traces, same durability."""

from __future__ import annotations

import random
import socket
import sqlite3
import struct
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs
from escpos.printer import Dummy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.clock import RealClock
from drivers.printer import Align, Barcode, Cut, Feed, PrintDocument, PrintItem, QrCode, TextLine
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as apdu
from simulator.clock import VirtualClock
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import InProcessEscpos
from simulator.devices.printer.paper import RenderedReceipt
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload, Problem
from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.ledger import Ledger, Status
from simulator.gateway.server import GatewayServer
from simulator.terminal.journal import Journal, TxnState
from simulator.wire.iso8583 import Iso8583Codec

P58 = PrinterProfile.load("generic_58mm")

# -- the ESC/POS driver ------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60))
def test_ascii_shortcut_sends_what_python_escpos_sends(text: str) -> None:
    ours, theirs = Dummy(profile="default"), Dummy(profile="default")
    for job in (ours, theirs):
        job.text("announce the code page first\n")
        job.clear()
    EscposPrinter._text(ours, text + "\n")
    theirs.text(text + "\n")
    assert ours.output == theirs.output


class OneStretchPerLine(EscposPrinter):
    """The driver as it was: FS & ... FS . around every line of wide text."""

    def _wide(self, line: TextLine) -> bool:
        return False


TEXTS = [
    "POS签购单",
    "商户名称 MERCHANT NAME",
    "plain ascii",
    "金额：12元",
    "café £5",
    "",
    "消费 SALE",
    "tab\there",
    "possim测试商户",
]
LINES = st.builds(
    TextLine,
    st.sampled_from(TEXTS),
    st.sampled_from(list(Align)),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
ITEMS: st.SearchStrategy[PrintItem] = st.one_of(
    LINES,
    LINES,
    LINES,
    st.builds(Feed, st.integers(1, 3)),
    st.builds(Barcode, st.just("20240101")),
    st.builds(QrCode, st.sampled_from(["https://qr.example/1", "码"])),
)


def paper(
    printer_class: type[EscposPrinter], profile: PrinterProfile, document: PrintDocument
) -> tuple[list[RenderedReceipt], list[str]]:
    virtual = VirtualPrinter(profile)
    printer_class(InProcessEscpos(virtual), profile=profile).print_document(document)
    return virtual.receipts, virtual.errors


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(ITEMS, max_size=12),
    strict=st.booleans(),
)
def test_consecutive_chinese_lines_print_the_same_paper(
    items: list[PrintItem], strict: bool
) -> None:
    profile = attrs.evolve(P58, cjk_needs_fs_ampersand=True) if strict else P58
    document = PrintDocument("t", (*items, Cut()))
    assert paper(EscposPrinter, profile, document) == paper(OneStretchPerLine, profile, document)


def test_consecutive_chinese_lines_share_one_chinese_mode_stretch() -> None:
    device = Dummy()
    EscposPrinter(device, profile=P58).print_document(
        PrintDocument(
            "t",
            (
                TextLine("商户名称 MERCHANT"),
                TextLine("终端编号 TID"),
                TextLine("金额 AMOUNT", double_height=True),
                TextLine("plain"),
                Cut(),
            ),
        )
    )
    output = device.output
    assert output.count(b"\x1c&") == 1
    # The size changed (and ESC ! came in between): FS ! again, still in Chinese mode.
    assert output.count(b"\x1c!") == 2
    # ... and leaves it before the line of plain text.
    assert "金额 AMOUNT".encode("gb18030") + b"\x1c.\n" in output
    assert output.index(b"\x1c.\n", output.index(b"\x1c&")) < output.index(b"plain")


# -- APDU trace redaction ------------------------------------------------------------

PAN = "6214830000123655"
CARD_DATA_TAGS = ["5A", "57", "9F6B", "DF01"]  # PAN, track 2s, a proprietary tag
OTHER_TAGS = ["50", "9F26", "82", "94", "9F10"]
PRIMITIVE = st.one_of(
    st.builds(
        tlv.pack,
        st.sampled_from(CARD_DATA_TAGS),
        st.sampled_from([bytes.fromhex(PAN), bytes.fromhex(PAN + "D29121010000000000000F")]),
    ),
    st.builds(tlv.pack, st.sampled_from(OTHER_TAGS), st.binary(max_size=20)),
)
TLV = st.recursive(
    PRIMITIVE,
    lambda inner: st.builds(
        lambda tag, parts: tlv.pack(tag, b"".join(parts)),
        st.sampled_from(["70", "77", "6F", "A5", "BF0C", "61"]),
        st.lists(inner, max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=TLV)
def test_traced_card_responses_never_show_a_full_pan(data: bytes) -> None:
    redacted = apdu.redact_tlv(data)
    assert PAN not in redacted
    if tlv.pack("5A", bytes.fromhex(PAN)) in data:
        assert "621483******3655" in redacted  # masked, not blanked


# -- journal and ledger ----------------------------------------------------------------


def test_begin_allocates_the_stan_in_its_own_commit(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", VirtualClock())
    statements: list[str] = []
    with journal._store.reading() as db:
        db.set_trace_callback(statements.append)
    entry = journal.begin(
        order_no="O1",
        transmission="0115023000",
        amount_fen=1234,
        currency="156",
        masked_pan="621483******3655",
        entry_mode="051",
    )
    assert entry.stan == "000001"
    assert statements.count("COMMIT") == 1
    # Committed: another connection (a process after a crash) sees the row.
    other = sqlite3.connect(tmp_path / "j.sqlite")
    assert other.execute("SELECT stan FROM transactions").fetchall() == [("000001",)]
    assert journal.update(entry.id, TxnState.APPROVED) == journal.get(entry.id)


def test_pending_reversals_are_found_through_an_index(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite", VirtualClock())
    with journal._store.reading() as db:
        plan = db.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM transactions WHERE state=? ORDER BY id",
            (TxnState.REVERSAL_PENDING.value,),
        ).fetchall()
    assert "transactions_reversal_pending" in str(plan)


def test_ledger_returns_the_row_as_stored(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "l.sqlite", VirtualClock())
    entry, created = ledger.record_authorisation(
        tid="POSSIM01",
        stan="000001",
        transmission="0115023000",
        mid="898310048990001",
        amount=1234,
        currency="156",
        pan="6214830000123655",
        status=Status.APPROVED,
        response_code="00",
        rrn="260115000001",
        auth_code="123456",
        issuer="unionpay",
        note="ok",
        response={"t": "0210", "39": "00"},
    )
    assert created
    assert entry == ledger.find("POSSIM01", "000001", "0115023000")
    again, created = ledger.record_authorisation(
        tid="POSSIM01",
        stan="000001",
        transmission="0115023000",
        mid="898310048990001",
        amount=1234,
        currency="156",
        pan="6214830000123655",
        status=Status.DECLINED,
        response_code="05",
    )
    assert not created and again == entry


# -- event bus and clock -------------------------------------------------------------------


@attrs.frozen
class Carried(EventPayload):
    source: ClassVar[str] = "x"
    kind: ClassVar[str] = "y"

    pan: str = attrs.field(metadata=SUMMARY_ONLY)
    data: Mapping[str, Any]

    def summary(self) -> str:
        return f"pan {self.pan}"


def test_bus_masks_a_track_2_whole_even_though_it_holds_the_pan() -> None:
    bus = EventBus(VirtualClock())
    pan, track2 = "6214830000123655", "6214830000123655D29121010000000000000"
    bus.add_secret(pan, "621483******3655")
    bus.add_secret(track2, "621483******3655=[REDACTED]")
    event = bus.publish(Carried(pan, {"t2": [track2]}))
    assert event.summary == "pan 621483******3655"
    assert event.detail == {"data": {"t2": ["621483******3655=[REDACTED]"]}}
    assert event.payload == Carried("621483******3655", {"t2": ["621483******3655=[REDACTED]"]})


def test_settle_returns_once_a_ready_waiter_has_left() -> None:
    clock = VirtualClock(stall_timeout=5)
    flag = threading.Event()
    done = threading.Event()

    def waiter() -> None:  # not an actor: nobody counts it busy once it leaves
        clock.wait_until(flag.is_set, None)
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    with clock.actor():
        clock.settle()  # the waiter is registered and idle
        flag.set()
        clock.notify()
        clock.settle()  # must not wait for a wake-up that never comes
    thread.join(5)
    assert done.is_set()


def test_progress_without_wake_ups_is_not_a_stall() -> None:
    clock = VirtualClock(stall_timeout=0.2)
    ready = threading.Event()
    stop = threading.Event()

    def busy() -> None:
        # An actor changing state for longer than the stall timeout; its
        # notifications wake nobody (nothing they wait for holds yet).
        with clock.actor():
            while not stop.wait(0.02):
                clock.notify()
            ready.set()
            clock.notify()

    worker = threading.Thread(target=busy)
    with clock.actor():
        worker.start()
    timer = threading.Timer(0.6, stop.set)
    timer.start()
    assert clock.wait_until(ready.is_set, None)
    worker.join(5)


# -- gateway ------------------------------------------------------------------------------


def test_a_frame_that_stops_halfway_is_dropped_after_the_frame_timeout(tmp_path: Path) -> None:
    clock = RealClock()
    bus = EventBus(clock)
    builtin = BuiltinGateway(tmp_path / "l.sqlite", clock=clock, bus=bus, rng=random.Random(0))
    server = GatewayServer(
        builtin.acquirer,
        Iso8583Codec(builtin.spec),
        builtin.framing,
        clock,
        bus,
        frame_timeout=0.2,
    )
    host, port = server.start()
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.sendall(struct.pack(">H", 50) + b"0200")
            sock.settimeout(5)
            assert sock.recv(16) == b""  # the server gave up on the frame
        errors = [event.summary for event in bus.of(Problem)]
        assert any("incomplete after 0.2 s" in summary for summary in errors)
    finally:
        server.stop()
        builtin.ledger.close()
