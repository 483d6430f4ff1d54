"""Malformed card answers raise typed errors only, at every kernel stage; and a
card pulled out after any APDU never leaves an approved charge behind."""

from __future__ import annotations

import contextlib
import random
import tempfile
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_helpers import insert, remove, run_sale, simulation

from drivers.card_reader import CardPresented, CardReader
from drivers.errors import DriverError
from drivers.wire import ber_tlv as tlv
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.card_reader import SimCardReader
from simulator.gateway.ledger import LedgerEntry, Status
from simulator.shop import Shop
from simulator.terminal.emv import EmvError, EmvKernel, TerminalEmvConfig
from simulator.terminal.journal import JournalEntry, TxnState

DEBIT = cards.load("unionpay_debit")
# Errors the kernel may let out: its own and the reader's. Anything else
# (IndexError, KeyError, ValueError, struct.error ...) is a kernel bug.
TYPED = (EmvError, DriverError)

SWS = st.sampled_from(
    [b"\x90\x00", b"\x90\x00", b"\x6a\x82", b"\x62\x83", b"\x63\xc1", b"\x61\x05"]
)
TAGS = st.sampled_from(
    ["4F", "50", "57", "5A", "5F24", "5F34", "61", "6F", "70", "77", "80", "82", "84", "87",
     "88", "8C", "8D", "8E", "94", "9F10", "9F12", "9F17", "9F26", "9F27", "9F36", "9F38", "A5"]
)  # fmt: skip


@st.composite
def tlv_blobs(draw: st.DrawFn, depth: int = 2) -> bytes:
    """Well-formed TLV with arbitrary tags and values: gets past the parser."""
    items = []
    for _ in range(draw(st.integers(0, 4))):
        tag = draw(TAGS)
        constructed = int(tag[:2], 16) & 0x20
        if constructed and depth > 0:
            value = draw(tlv_blobs(depth - 1))
        else:
            value = draw(st.binary(max_size=20))
        items.append(tlv.pack(tag, value))
    return b"".join(items)


ANSWERS = st.one_of(
    st.binary(max_size=30),  # anything, even shorter than SW1 SW2
    st.tuples(st.binary(max_size=30), SWS).map(lambda t: t[0] + t[1]),
    st.tuples(tlv_blobs(), SWS).map(lambda t: t[0] + t[1]),
)


class ScriptedReader(CardReader):
    """A reader whose 'card' answers whatever the test scripted, then 6A82."""

    def __init__(self, answers: list[bytes]) -> None:
        self.answers = list(answers)

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        return None

    def card_present(self) -> bool:
        return True

    def connect(self) -> bytes:
        return b"\x3b\x00"

    def disconnect(self) -> None:
        pass

    def _transmit_raw(self, apdu: bytes) -> bytes:
        return self.answers.pop(0) if self.answers else b"\x6a\x82"


def drive(reader: CardReader, chooser_pick: int = 0) -> None:
    clock = VirtualClock()
    kernel = EmvKernel(reader, TerminalEmvConfig(), random.Random(1), clock.now)
    try:
        kernel.read_card(100, chooser=lambda choices: min(chooser_pick, len(choices) - 1))
        kernel.verify_cardholder(lambda request: "1234")
        first = kernel.first_generate_ac()
        if first.kind == "ARQC":
            kernel.second_generate_ac("00", b"\x00" * 10)
    finally:
        kernel.finish()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers=st.lists(ANSWERS, max_size=12), pick=st.integers(0, 3))
def test_scripted_garbage_raises_only_typed_errors(answers: list[bytes], pick: int) -> None:
    with contextlib.suppress(*TYPED):  # anything else fails the test
        drive(ScriptedReader(answers), pick)


class Corrupting(SimCardReader):
    """The real card, but its answer number ``position`` is replaced."""

    def __init__(self, clock: VirtualClock, position: int, answer: bytes) -> None:
        super().__init__(clock)
        self.position, self.answer, self.count = position, answer, 0

    def _transmit_raw(self, apdu: bytes) -> bytes:
        response = super()._transmit_raw(apdu)
        self.count += 1
        return self.answer if self.count - 1 == self.position else response


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(position=st.integers(0, 14), answer=ANSWERS)
def test_each_stage_of_a_real_card_survives_a_malformed_answer(
    position: int, answer: bytes
) -> None:
    reader = Corrupting(VirtualClock(), position, answer)
    reader.insert(VirtualCard(DEBIT))
    with contextlib.suppress(*TYPED):
        drive(reader)


def _pull_after(after: int) -> Callable[[Shop], object]:
    def arm(sim: Shop) -> object:
        reader = sim.world.card_reader
        assert reader is not None
        reader.remove_after(after)
        return None

    return arm


def _pin_if_asked(sim: Shop) -> object:
    pad = sim.world.pin_pad
    assert pad is not None
    return pad.type_pin(DEBIT.pin) if pad.awaiting_pin else None


def _purchase_pulled_after(
    workdir: Path, after: int, seed: int = 0
) -> tuple[bool, list[LedgerEntry], list[JournalEntry]]:
    with simulation(workdir, seed) as sim:
        result = run_sale(sim, 1234, _pull_after(after), insert(DEBIT), _pin_if_asked, remove)
        return result.approved, sim.gateway.ledger.transactions(), sim.terminal.journal.entries()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(after=st.integers(0, 16), seed=st.integers(0, 3))
def test_card_pulled_after_any_apdu_leaves_no_approved_charge(after: int, seed: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        approved, ledger, journal = _purchase_pulled_after(Path(workdir), after, seed)
    charged = [entry for entry in ledger if entry.status is Status.APPROVED]
    journal_approved = [entry for entry in journal if entry.state is TxnState.APPROVED]
    if approved:  # the card stayed in for the whole purchase
        assert len(charged) == len(journal_approved) == 1
        return
    assert charged == [] and journal_approved == []
    # Whatever reached the host was reversed there, and the journal agrees.
    assert all(entry.state is not TxnState.REVERSAL_PENDING for entry in journal)
    reversed_here = {entry.stan for entry in journal if entry.state is TxnState.REVERSED}
    reversed_there = {entry.stan for entry in ledger if entry.status is Status.REVERSED}
    assert reversed_here == reversed_there


def test_card_pulled_before_the_second_generate_ac_is_reversed(tmp_path: Path) -> None:
    # SELECT PSE, 2 x READ RECORD, SELECT, GPO, 3 x READ RECORD, GET DATA, VERIFY,
    # GENERATE AC: 11 answers; the 12th command (second GENERATE AC) finds no card.
    approved, ledger, journal = _purchase_pulled_after(tmp_path, 11)
    assert not approved
    (entry,) = journal
    (charge,) = ledger
    assert entry.state is TxnState.REVERSED and entry.response_code == "00"
    assert charge.status is Status.REVERSED
