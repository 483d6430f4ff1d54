"""The terminal's EMV contact kernel (EMV 4.3 Books 1-4, the parts a purchase uses).

It talks only to a :class:`drivers.card_reader.CardReader`, so the same kernel
runs against the in-process virtual card, a virtual card behind pcscd, or a
real card in a real reader.

Flow, one method per step the acquiring app drives::

    kernel.read_card(amount, chooser=...)  # select (cardholder may choose), GPO, records, risk
    kernel.verify_cardholder(pin_source)   # CVM list: offline/online PIN, signature
    kernel.first_generate_ac()             # ARQC (online-only terminal) -> DE55 data
    kernel.second_generate_ac(rc, iad)     # completion with the host's answer
    kernel.finish()                        # power the card down

The stages live in sibling modules (selection, records, risk, cvm,
generate_ac); this facade owns the :class:`Session` and the order. What is
deliberately not implemented (docs/emv.md): offline data authentication
(TVR "ODA not performed" is set), offline enciphered PIN, issuer scripts,
velocity checking and random selection (the terminal is online-only).

Failures are typed (:mod:`simulator.terminal.emv.errors`). Driver errors
(``NoCard``, ``CardRemoved``, ``CardProtocolError``) and the PIN source's
``PinEntryCancelled`` / ``DeviceTimeout`` propagate unchanged.
"""

from __future__ import annotations

import contextlib
import enum
import random
from collections.abc import Callable
from datetime import datetime

from drivers.card_reader import CardReader
from drivers.errors import DriverError
from drivers.wire.emv_tags import describe
from simulator.terminal.emv import cvm, generate_ac, records, risk, selection
from simulator.terminal.emv.config import TerminalEmvConfig
from simulator.terminal.emv.constants import MANDATORY_CARD_TAGS
from simulator.terminal.emv.errors import EmvProtocolError, EmvSequenceError, NoApplication
from simulator.terminal.emv.results import (
    ApplicationChooser,
    CardData,
    CvmResult,
    FirstAc,
    PinSource,
    SecondAc,
)
from simulator.terminal.emv.session import Session


class _Stage(enum.IntEnum):
    NEW = 0
    READ = 1
    FIRST_AC = 2
    SECOND_AC = 3


class EmvKernel:
    def __init__(
        self,
        reader: CardReader,
        config: TerminalEmvConfig,
        rng: random.Random,
        when: Callable[[], datetime],
    ) -> None:
        self._session = Session(reader, config, rng, when)
        self._connected = False
        self._stage = _Stage.NEW
        self._card_data: CardData | None = None
        self._first: FirstAc | None = None

    # -- state for receipts, journals and tests ----------------------------------------------------

    @property
    def tvr(self) -> bytes:
        return bytes(self._session.tvr)

    @property
    def tsi(self) -> bytes:
        return bytes(self._session.tsi)

    @property
    def cvm_results(self) -> bytes:
        return self._session.cvm_results

    @property
    def aip(self) -> bytes:
        return self._session.aip

    @property
    def card_data(self) -> CardData | None:
        return self._card_data

    def card_tag(self, tag: str) -> bytes | None:
        """A data element the card returned (FCI, GPO, records), by tag."""
        return self._session.card.get(tag.upper())

    # -- 1. application selection, GPO, read application data, restrictions, risk ---------------

    def read_card(
        self,
        amount_fen: int,
        transaction_type: int = 0x00,
        transaction_sequence: int = 1,
        *,
        chooser: ApplicationChooser | None = None,
    ) -> CardData:
        """``chooser`` lets the cardholder pick among several applications (or
        confirm one that asks for it); without one the highest priority wins."""
        if self._stage is not _Stage.NEW:
            raise EmvSequenceError("read_card() runs once per kernel: make a new EmvKernel")
        if not 0 <= amount_fen < 10**12:
            raise ValueError(f"amount {amount_fen} fen does not fit EMV's n12")
        if not 0 <= transaction_type <= 0xFF:
            raise ValueError(f"transaction type {transaction_type} is not one byte")
        session = self._session
        session.reader.connect()
        self._connected = True
        session.terminal = terminal_data(
            session, amount_fen, transaction_type, transaction_sequence
        )
        candidates = selection.candidate_list(session)
        if not candidates:
            offered = ", ".join(entry.aid for entry in session.config.aids)
            raise NoApplication(
                f"no application on the card matches the terminal's AID list ({offered})"
            )
        selection.final_selection(session, candidates, chooser)
        records.read_records(session, session.card.get("94", b""))
        missing = [tag for tag in MANDATORY_CARD_TAGS if tag not in session.card]
        if missing:
            raise EmvProtocolError(
                "the card's records lack mandatory data "
                + ", ".join(describe(tag) for tag in missing)
                + ": the transaction is terminated"
            )
        self._card_data = records.make_card_data(session)
        risk.offline_data_authentication(session)
        risk.processing_restrictions(session)
        risk.terminal_risk_management(session, amount_fen)
        self._stage = _Stage.READ
        return self._card_data

    # -- 2. cardholder verification ----------------------------------------------------------------

    def verify_cardholder(self, pin_source: PinSource) -> CvmResult:
        if self._stage is not _Stage.READ:
            raise EmvSequenceError(
                "verify_cardholder() comes after read_card() and before GENERATE AC"
            )
        return cvm.verify_cardholder(self._session, pin_source)

    # -- 3. terminal action analysis and the first GENERATE AC -------------------------------------

    def first_generate_ac(self) -> FirstAc:
        if self._stage is not _Stage.READ:
            raise EmvSequenceError("first_generate_ac() comes once, after read_card()")
        self._stage = _Stage.FIRST_AC
        self._first = generate_ac.first_generate_ac(self._session)
        return self._first

    # -- 4. completion -----------------------------------------------------------------------------

    def second_generate_ac(
        self, response_code: str | None, issuer_auth_data: bytes | None
    ) -> SecondAc:
        first = self._first
        if self._stage is not _Stage.FIRST_AC or first is None:
            raise EmvSequenceError("second_generate_ac() comes once, after first_generate_ac()")
        self._stage = _Stage.SECOND_AC
        return generate_ac.second_generate_ac(self._session, first, response_code, issuer_auth_data)

    def finish(self) -> None:
        """Power the card down. Safe to call at any point, and more than once."""
        if not self._connected:
            return
        self._connected = False
        # A card already gone has nothing to power down.
        with contextlib.suppress(DriverError):
            self._session.reader.disconnect()


def terminal_data(session: Session, amount_fen: int, kind: int, sequence: int) -> dict[str, bytes]:
    config = session.config
    now = session.when()
    return {
        "9F02": bytes.fromhex(f"{amount_fen:012d}"),
        "81": (amount_fen & 0xFFFFFFFF).to_bytes(4, "big"),
        "9F03": bytes(6),
        "9F04": bytes(4),
        "9F1A": bytes.fromhex(config.terminal_country),
        "5F2A": bytes.fromhex(config.currency),
        "5F36": bytes([config.currency_exponent]),
        "9A": bytes.fromhex(now.strftime("%y%m%d")),
        "9F21": bytes.fromhex(now.strftime("%H%M%S")),
        "9C": bytes([kind]),
        "9F37": session.rng.getrandbits(32).to_bytes(4, "big"),
        "9F35": bytes.fromhex(config.terminal_type),
        "9F33": bytes.fromhex(config.capabilities),
        "9F40": bytes.fromhex(config.additional_capabilities),
        "9F1E": config.ifd_serial.encode("ascii", "replace")[:8].ljust(8, b" "),
        "9F41": bytes.fromhex(f"{sequence % 10**8:08d}"),
        "9F1B": min(config.floor_limit_fen, 0xFFFFFFFF).to_bytes(4, "big"),
    }
