"""A virtual EMV contact card: ISO 7816-4 APDUs in, responses out.

The card runs a :class:`~simulator.devices.card_image.CardImage`: PSE and AID
selection, GET PROCESSING OPTIONS, READ RECORD, plaintext offline PIN
(VERIFY), GET DATA, GENERATE AC (ARQC/TC/AAC with the cryptogram methods the
issuer host shares, :mod:`simulator.wire.cryptogram`) and EXTERNAL
AUTHENTICATE. It never raises on bad input: malformed commands get the status
word a real card would give, and an internal error is ``6F 00`` (its text in
:attr:`VirtualCard.last_error`).

A card image with ``chip: false`` (a magnetic-stripe-only card, or a chip card
whose chip is dead) makes a *mute* card: :meth:`VirtualCard.power_on` gives an
empty ATR and :meth:`VirtualCard.process_apdu` answers nothing at all (``b""``,
not even a status word), which a reader reports as a protocol error. Such a
card can only be swiped: its track 2 is :attr:`CardImage.track2`.

State that survives power-off (the card's EEPROM): ATC, PIN try counter, last
online ATC. State that does not (RAM): the selected file, the transaction in
progress, the CVR (:mod:`.state`).

The ATC counts transactions, not cryptograms: the card increments it once, at
GET PROCESSING OPTIONS, and both GENERATE ACs of that transaction carry the
same value. EMV 4.4 Book 2 defines the ATC as a counter "incremented at the
start of a transaction"; the Visa ICC Specification (VIS 1.5, GET PROCESSING
OPTIONS) says the command "is used by the terminal to signal the card that
transaction processing is beginning"; CCD and M/Chip cards increment it there
(python-emv, ``emv/card.py``: "Get Processing Options starts the transaction
on the card and increments the transaction counter"). The issuer checks the
ARQC and the terminal reports the TC under that one ATC.

:class:`VirtualCard` is the APDU dispatcher (class and instruction checks,
the routing by INS); each thing the card does is a mixin module stating its
commands and rules:

===================  ==========================================================
:mod:`.state`        EEPROM and RAM, power on/off, the CVR bits
:mod:`.responses`    response data the T=0 way (61xx/6Cxx) and GET RESPONSE
:mod:`.selection`    SELECT: the PSE and applications, their FCIs
:mod:`.records`      GET PROCESSING OPTIONS, READ RECORD, GET DATA
:mod:`.verify`       VERIFY: plaintext offline PIN, the try counter
:mod:`.cryptograms`  GENERATE AC, EXTERNAL AUTHENTICATE, the ARPC check
:mod:`.contactless`  in a reader's field: the PPSE, the quick kernels' GPO
:mod:`.status`       the status words and CID values
===================  ==========================================================

>>> from simulator.devices import cards
>>> card = VirtualCard(cards.load("unionpay_debit"))
>>> card.power_on().hex().upper()
'3B888001504F5353494D555017'
>>> card.process_apdu(bytes.fromhex("00A404000E315041592E5359532E444446303100"))[-2:].hex()
'9000'
>>> card.process_apdu(bytes.fromhex("80CA9F1700")).hex().upper()  # PIN tries left, no app
'6985'
"""

from __future__ import annotations

from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import ApduFormatError, CommandApdu
from simulator.devices.card.cryptograms import Cryptograms
from simulator.devices.card.records import Records
from simulator.devices.card.selection import Selection
from simulator.devices.card.status import (
    CID_AAC,
    CID_ARQC,
    CID_TC,
    SW_CLA_NOT_SUPPORTED,
    SW_CONDITIONS,
    SW_INS_NOT_SUPPORTED,
    SW_NO_DIAGNOSIS,
    SW_WRONG_LENGTH,
)
from simulator.devices.card.verify import PinVerification

_KNOWN_CLASSES = frozenset({0x00, 0x80})
_COMMANDS: dict[int, int] = {  # INS -> the CLA EMV uses for it
    cmd.INS_SELECT: 0x00,
    cmd.INS_READ_RECORD: 0x00,
    cmd.INS_VERIFY: 0x00,
    cmd.INS_EXTERNAL_AUTHENTICATE: 0x00,
    cmd.INS_GET_RESPONSE: 0x00,
    cmd.INS_GET_PROCESSING_OPTIONS: 0x80,
    cmd.INS_GENERATE_AC: 0x80,
    cmd.INS_GET_DATA: 0x80,
}


class VirtualCard(Selection, Records, PinVerification, Cryptograms):
    # Records brings :mod:`.contactless` (the quick kernels' GPO) before Cryptograms.
    """One physical card made from a card image (each has its own counters)."""

    def process_apdu(self, apdu: bytes) -> bytes:
        """One command APDU -> response data + SW1 SW2. Never raises.

        A mute card (``chip: false``) answers ``b""``: no response at all.
        """
        self.apdu_count += 1
        if self.mute:
            return b""
        try:
            return self._process(bytes(apdu))
        except Exception as exc:  # a card answers; it does not crash the reader
            self.last_error = f"{type(exc).__name__}: {exc}"
            return SW_NO_DIAGNOSIS

    def _process(self, raw: bytes) -> bytes:
        if not self.powered:
            return SW_CONDITIONS
        if len(raw) < 4:
            return SW_WRONG_LENGTH
        cla, ins = raw[0], raw[1]
        if cla not in _KNOWN_CLASSES:
            return SW_CLA_NOT_SUPPORTED
        if ins not in _COMMANDS:
            return SW_INS_NOT_SUPPORTED
        if _COMMANDS[ins] != cla:
            return SW_CLA_NOT_SUPPORTED
        try:
            command = CommandApdu.parse(raw)
        except ApduFormatError:
            return SW_WRONG_LENGTH
        if ins != cmd.INS_GET_RESPONSE:
            self._pending = b""  # what waited for GET RESPONSE is gone (.responses)
        handler = {
            cmd.INS_SELECT: self._select,
            cmd.INS_READ_RECORD: self._read_record,
            cmd.INS_GET_PROCESSING_OPTIONS: self._gpo,
            cmd.INS_VERIFY: self._verify,
            cmd.INS_GET_DATA: self._get_data,
            cmd.INS_GENERATE_AC: self._generate_ac,
            cmd.INS_EXTERNAL_AUTHENTICATE: self._external_authenticate,
            cmd.INS_GET_RESPONSE: self._get_response,
        }[ins]
        return handler(command)


__all__ = ["CID_AAC", "CID_ARQC", "CID_TC", "CollidingCards", "VirtualCard"]


class CollidingCards(VirtualCard):
    """Two cards in a reader's field at once (ISO/IEC 14443-3 anticollision fails
    for a PC/SC reader that takes one card): it activates neither -- no ATR, no
    answer, as a mute card (the reader shows "present one card only")."""

    @property
    def mute(self) -> bool:
        return True
