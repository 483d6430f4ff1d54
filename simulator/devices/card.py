"""A virtual EMV contact card: ISO 7816-4 APDUs in, responses out.

The card runs a :class:`~simulator.devices.card_image.CardImage`: PSE and AID
selection, GET PROCESSING OPTIONS, READ RECORD, plaintext offline PIN
(VERIFY), GET DATA, GENERATE AC (ARQC/TC/AAC with the cryptogram methods the
issuer host shares, :mod:`simulator.wire.cryptogram`) and EXTERNAL
AUTHENTICATE. It never raises on bad input: malformed commands get the status
word a real card would give.

A card image with ``chip: false`` (a magnetic-stripe-only card, or a chip card
whose chip is dead) makes a *mute* card: :meth:`VirtualCard.power_on` gives an
empty ATR and :meth:`VirtualCard.process_apdu` answers nothing at all (``b""``,
not even a status word), which a reader reports as a protocol error. Such a
card can only be swiped: its track 2 is :attr:`CardImage.track2`.

State that survives power-off (the card's EEPROM): ATC, PIN try counter, last
online ATC. State that does not (RAM): the selected file, the transaction in
progress, the CVR.

The ATC counts transactions, not cryptograms: the card increments it once, at
GET PROCESSING OPTIONS, and both GENERATE ACs of that transaction carry the
same value. EMV 4.4 Book 2 defines the ATC as a counter "incremented at the
start of a transaction"; the Visa ICC Specification (VIS 1.5, GET PROCESSING
OPTIONS) says the command "is used by the terminal to signal the card that
transaction processing is beginning"; CCD and M/Chip cards increment it there
(python-emv, ``emv/card.py``: "Get Processing Options starts the transaction
on the card and increments the transaction counter"). The issuer checks the
ARQC and the terminal reports the TC under that one ATC.

Cryptogram Version Results (in the IAD at bytes 3..6: ``03`` + 3 bytes, the
VIS/PBOC layout), as this card sets them:

* byte 1: b8-b7 second AC type (``00`` AAC, ``01`` TC, ``10`` not requested),
  b6-b5 first AC type (``00`` AAC, ``10`` ARQC), b4 issuer authentication
  performed and failed, b3 offline PIN performed, b2 offline PIN failed,
  b1 unable to go online;
* byte 2: b7 PIN try limit exceeded, b3 issuer authentication not performed
  after online authorisation.
"""

from __future__ import annotations

import hmac

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import ApduFormatError, CommandApdu
from simulator.devices.card_image import PSE_SFI, Application, CardImage

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_WRONG_DATA = b"\x6a\x80"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_DATA_NOT_FOUND = b"\x6a\x88"
SW_CONDITIONS = b"\x69\x85"
SW_PIN_BLOCKED = b"\x69\x83"
SW_CARD_BLOCKED = b"\x6a\x81"
SW_APP_BLOCKED = b"\x62\x83"
SW_AUTH_FAILED = b"\x63\x00"
SW_NO_DIAGNOSIS = b"\x6f\x00"

CID_AAC = 0x00
CID_TC = 0x40
CID_ARQC = 0x80

# CVR bits (byte index within the 3 CVR bytes after its length byte).
CVR_SECOND_AC_NOT_REQUESTED = (0, 0x80)
CVR_SECOND_AC_TC = (0, 0x40)
CVR_FIRST_AC_ARQC = (0, 0x20)
CVR_ISSUER_AUTH_FAILED = (0, 0x08)
CVR_OFFLINE_PIN_PERFORMED = (0, 0x04)
CVR_OFFLINE_PIN_FAILED = (0, 0x02)
CVR_UNABLE_TO_GO_ONLINE = (0, 0x01)
CVR_PIN_TRY_LIMIT_EXCEEDED = (1, 0x40)
CVR_ISSUER_AUTH_NOT_PERFORMED = (1, 0x04)

_APPROVED_ARCS = frozenset({b"00", b"\x00\x00"})
_OFFLINE_ARCS = frozenset({b"Z1", b"Z3", b"Y1", b"Y3"})
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


class _Transaction:
    """RAM: what happened since the application was selected."""

    def __init__(self) -> None:
        self.gpo_done = False
        self.cvr = bytearray(3)
        self.first_ac: dict[str, bytes] | None = None  # the tags the first AC was computed on
        self.first_cid: int | None = None
        self.second_done = False
        self.issuer_authentication: bool | None = None  # via EXTERNAL AUTHENTICATE

    def set(self, bit: tuple[int, int]) -> None:
        self.cvr[bit[0]] |= bit[1]

    def clear(self, bit: tuple[int, int]) -> None:
        self.cvr[bit[0]] &= ~bit[1] & 0xFF


class VirtualCard:
    """One physical card made from a card image (each has its own counters)."""

    def __init__(self, image: CardImage) -> None:
        self.image = image
        self.atc = image.atc
        self.last_online_atc = 0
        self.pin_tries_left = image.pin_tries_left
        self.apdu_count = 0  # every command APDU since the card was made
        self.powered = False
        # Result of the last issuer authentication (None: not performed), kept for checks.
        self.issuer_authentication: bool | None = None
        self.last_error: str | None = None  # the internal error behind the last 6F00
        self._selected: Application | None = None
        self._pse_selected = False
        self._last_select: tuple[bytes, int] | None = None
        self._txn = _Transaction()
        self._pending: bytes = b""  # T=0: data waiting for GET RESPONSE

    # -- contacts ----------------------------------------------------------------------------------

    @property
    def mute(self) -> bool:
        """True for a card without a chip: no ATR, no answer to any APDU."""
        return not self.image.chip

    def power_on(self) -> bytes:
        """Cold reset: RAM state cleared, the ATR returned (empty for a mute card)."""
        self.powered = True
        self._selected = None
        self._pse_selected = False
        self._last_select = None
        self._txn = _Transaction()
        self._pending = b""
        return self.image.atr

    def power_off(self) -> None:
        self.powered = False
        self._selected = None
        self._pse_selected = False
        self._txn = _Transaction()
        self._pending = b""

    @property
    def selected_aid(self) -> str | None:
        return None if self._selected is None else self._selected.aid_hex

    @property
    def cvr(self) -> bytes:
        """The CVR of the transaction in progress (3 bytes)."""
        return bytes(self._txn.cvr)

    # -- APDU dispatch -----------------------------------------------------------------------------

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
            self._pending = b""
        if self.image.blocked and ins == cmd.INS_SELECT:
            return SW_CARD_BLOCKED
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

    def _answer(self, command: CommandApdu, data: bytes, sw: bytes = SW_OK) -> bytes:
        """Response data the T=0 way (61xx / 6Cxx) or directly (T=1)."""
        if self.image.protocol != "T=0" or not data:
            return data + sw
        if command.data:  # case 4 under T=0: the data waits for GET RESPONSE
            self._pending = data + sw
            return bytes([0x61, len(data) & 0xFF])
        if command.le is None or (command.le or 256) != len(data):
            return bytes([0x6C, len(data) & 0xFF])
        return data + sw

    def _get_response(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        if command.data:
            return SW_WRONG_LENGTH
        if not self._pending:
            return SW_CONDITIONS
        data, sw = self._pending[:-2], self._pending[-2:]
        le = command.le or 256
        if le > len(data):
            return bytes([0x6C, len(data) & 0xFF])
        if le < len(data):
            # ISO/IEC 7816-4, GET RESPONSE: a shorter Le takes the first Le bytes, and
            # '61XX' ("SW2 encodes the number of data bytes still available", 00: 256
            # or more) leaves the rest for the next GET RESPONSE. Not 6CXX: that would
            # tell the reader to ask again for everything.
            self._pending = data[le:] + sw
            return data[:le] + bytes([0x61, (len(data) - le) & 0xFF])
        self._pending = b""
        return data + sw

    # -- SELECT ------------------------------------------------------------------------------------

    def _select(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x04 or command.p2 not in (0x00, 0x02):
            return SW_WRONG_P1P2
        name = command.data
        if not 1 <= len(name) <= 16:
            return SW_WRONG_LENGTH
        if name == cmd.PSE_NAME and command.p2 == 0x00:
            if not self.image.pse:
                return SW_FILE_NOT_FOUND
            self._selected = None
            self._pse_selected = True
            self._txn = _Transaction()
            return self._answer(command, self._pse_fci())
        start = 0
        if command.p2 == 0x02:
            if self._last_select is None or self._last_select[0] != name:
                return SW_FILE_NOT_FOUND
            start = self._last_select[1] + 1
        apps = self.image.applications
        for index in range(start, len(apps)):
            app = apps[index]
            if app.aid.startswith(name):
                self._last_select = (name, index)
                self._selected = app
                self._pse_selected = False
                self._txn = _Transaction()
                sw = SW_APP_BLOCKED if app.blocked else SW_OK
                return self._answer(command, self._app_fci(app), sw)
        return SW_FILE_NOT_FOUND

    def _pse_fci(self) -> bytes:
        proprietary = (
            tlv.pack("88", bytes([PSE_SFI]))
            + tlv.pack("5F2D", self.image.language.encode("ascii"))
            + tlv.pack("9F11", b"\x01")
        )
        return tlv.pack("6F", tlv.pack("84", cmd.PSE_NAME) + tlv.pack("A5", proprietary))

    def _app_fci(self, app: Application) -> bytes:
        proprietary = tlv.pack("50", app.label.encode("ascii"))
        if app.priority:
            proprietary += tlv.pack("87", bytes([app.priority]))
        if app.pdol:
            proprietary += tlv.pack("9F38", app.pdol)
        proprietary += tlv.pack("5F2D", self.image.language.encode("ascii"))
        proprietary += tlv.pack("9F11", b"\x01")
        if app.preferred_name:
            proprietary += tlv.pack("9F12", app.preferred_name.encode("ascii"))
        return tlv.pack("6F", tlv.pack("84", app.aid) + tlv.pack("A5", proprietary))

    def _directory_record(self) -> bytes:
        entries = b""
        for app in self.image.applications:
            entry = tlv.pack("4F", app.aid) + tlv.pack("50", app.label.encode("ascii"))
            if app.preferred_name:
                entry += tlv.pack("9F12", app.preferred_name.encode("ascii"))
            if app.priority:
                entry += tlv.pack("87", bytes([app.priority]))
            entries += tlv.pack("61", entry)
        return tlv.pack("70", entries)

    # -- READ RECORD -------------------------------------------------------------------------------

    def _read_record(self, command: CommandApdu) -> bytes:
        if command.p1 == 0 or command.p2 & 0x07 != 0x04:
            return SW_WRONG_P1P2
        if command.data:
            return SW_WRONG_LENGTH
        sfi, number = command.p2 >> 3, command.p1
        if self._pse_selected:
            if sfi != PSE_SFI:
                return SW_FILE_NOT_FOUND
            if number != 1:
                return SW_RECORD_NOT_FOUND
            return self._answer(command, self._directory_record())
        app = self._selected
        if app is None:
            return SW_CONDITIONS
        record = app.records.get((sfi, number))
        if record is None:
            if any(key[0] == sfi for key in app.records):
                return SW_RECORD_NOT_FOUND
            return SW_FILE_NOT_FOUND
        return self._answer(command, record)

    # -- GET PROCESSING OPTIONS --------------------------------------------------------------------

    def _gpo(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        app = self._selected
        if app is None or self._txn.gpo_done or app.blocked:
            return SW_CONDITIONS
        data = command.data
        if len(data) < 2:
            return SW_WRONG_LENGTH
        if data[0] != 0x83:
            return SW_WRONG_DATA
        if data[1] != len(data) - 2 or data[1] != tlv.dol_length(app.pdol):
            return SW_WRONG_LENGTH
        if self.atc >= 0xFFFF:
            return SW_CONDITIONS  # ATC exhausted: the card can start no more transactions
        self.atc += 1
        self._txn.gpo_done = True
        if app.gpo_response is not None:
            return self._answer(command, app.gpo_response)
        body = tlv.pack("82", app.aip) + tlv.pack("94", app.afl)
        return self._answer(command, tlv.pack("77", body))

    # -- VERIFY ------------------------------------------------------------------------------------

    def _verify(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != 0x80:
            return SW_WRONG_P1P2  # only plaintext offline PIN (no PIN encipherment key)
        if len(command.data) != 8:
            return SW_WRONG_LENGTH
        if self._selected is None or not self._txn.gpo_done:
            return SW_CONDITIONS
        if self.pin_tries_left == 0:
            self._txn.set(CVR_PIN_TRY_LIMIT_EXCEEDED)
            return SW_PIN_BLOCKED
        pin = _pin_from_block(command.data)
        if pin is None:
            return SW_WRONG_DATA
        self._txn.set(CVR_OFFLINE_PIN_PERFORMED)
        if hmac.compare_digest(pin.encode(), self.image.pin.encode()):
            self.pin_tries_left = self.image.pin_try_limit
            self._txn.clear(CVR_OFFLINE_PIN_FAILED)
            return SW_OK
        self.pin_tries_left -= 1
        self._txn.set(CVR_OFFLINE_PIN_FAILED)
        if self.pin_tries_left == 0:
            self._txn.set(CVR_PIN_TRY_LIMIT_EXCEEDED)
        return bytes([0x63, 0xC0 | self.pin_tries_left])

    # -- GET DATA ----------------------------------------------------------------------------------

    def _get_data(self, command: CommandApdu) -> bytes:
        if command.data:
            return SW_WRONG_LENGTH
        if self._selected is None:
            return SW_CONDITIONS
        tag = (command.p1 << 8) | command.p2
        if tag == 0x9F17:
            value = tlv.pack("9F17", bytes([self.pin_tries_left]))
        elif tag == 0x9F36:
            value = tlv.pack("9F36", self.atc.to_bytes(2, "big"))
        elif tag == 0x9F13:
            value = tlv.pack("9F13", self.last_online_atc.to_bytes(2, "big"))
        else:
            return SW_DATA_NOT_FOUND
        return self._answer(command, value)

    # -- GENERATE AC -------------------------------------------------------------------------------

    def _generate_ac(self, command: CommandApdu) -> bytes:
        if command.p2 != 0x00 or command.p1 & ~(cmd.AC_TYPE_MASK | cmd.AC_CDA_REQUESTED) & 0xFF:
            return SW_WRONG_P1P2
        requested = command.p1 & cmd.AC_TYPE_MASK
        if requested == cmd.AC_TYPE_MASK:
            return SW_WRONG_P1P2
        app = self._selected
        txn = self._txn
        if app is None or not txn.gpo_done or txn.second_done:
            return SW_CONDITIONS
        if txn.first_ac is None:
            return self._first_ac(command, app, requested)
        if txn.first_cid != CID_ARQC:
            return SW_CONDITIONS
        if requested == cmd.AC_ARQC:
            return SW_WRONG_P1P2
        return self._second_ac(command, app, requested)

    def _first_ac(self, command: CommandApdu, app: Application, requested: int) -> bytes:
        txn = self._txn
        try:
            terminal = tlv.split_dol_data(app.cdol1, command.data)
        except EmvDataError:
            return SW_WRONG_LENGTH
        # An online-only card: a TC request is answered with an ARQC.
        cid = CID_AAC if requested == cmd.AC_AAC else CID_ARQC
        txn.set(CVR_SECOND_AC_NOT_REQUESTED)
        if cid == CID_ARQC:
            txn.set(CVR_FIRST_AC_ARQC)
        tags, response = self._cryptogram(app, terminal, cid)
        txn.first_ac = tags
        txn.first_cid = cid
        if cid != CID_ARQC:
            txn.second_done = True  # the transaction is over
        return self._answer(command, response)

    def _second_ac(self, command: CommandApdu, app: Application, requested: int) -> bytes:
        txn = self._txn
        assert txn.first_ac is not None
        try:
            terminal = tlv.split_dol_data(app.cdol2, command.data)
        except EmvDataError:
            return SW_WRONG_LENGTH
        arc = terminal.get("8A", b"")
        issuer_data = terminal.get("91", b"")
        performed: bool = txn.issuer_authentication is not None
        verified = bool(txn.issuer_authentication)
        if issuer_data.strip(b"\x00"):
            performed = True
            verified = self._arpc_ok(app, issuer_data, arc)
        if performed:
            self.issuer_authentication = verified
            if not verified:
                txn.set(CVR_ISSUER_AUTH_FAILED)
        else:
            self.issuer_authentication = None
            txn.set(CVR_ISSUER_AUTH_NOT_PERFORMED)
        if arc in _OFFLINE_ARCS:
            txn.set(CVR_UNABLE_TO_GO_ONLINE)
        else:
            self.last_online_atc = int.from_bytes(txn.first_ac["9F36"], "big")
        authenticated = verified if performed else not app.require_issuer_authentication
        approve = requested == cmd.AC_TC and arc in _APPROVED_ARCS and authenticated
        cid = CID_TC if approve else CID_AAC
        txn.clear(CVR_SECOND_AC_NOT_REQUESTED)
        if approve:
            txn.set(CVR_SECOND_AC_TC)
        values = dict(txn.first_ac)
        values.update(terminal)
        _, response = self._cryptogram(app, values, cid)
        txn.second_done = True
        return self._answer(command, response)

    def _cryptogram(
        self, app: Application, terminal: dict[str, bytes], cid: int
    ) -> tuple[dict[str, bytes], bytes]:
        iad = bytearray(app.iad)
        iad[3] = 0x03
        iad[4:7] = self._txn.cvr
        tags = dict(terminal)
        tags["82"] = app.aip
        tags["9F36"] = self.atc.to_bytes(2, "big")  # this transaction's, set at GPO
        tags["9F10"] = bytes(iad)
        ac = app.method.generate_ac(app.icc_master_key, tags)
        tags["9F26"] = ac
        body = (
            tlv.pack("9F27", bytes([cid]))
            + tlv.pack("9F36", tags["9F36"])
            + tlv.pack("9F26", ac)
            + tlv.pack("9F10", tags["9F10"])
        )
        return tags, tlv.pack("77", body)

    def _arpc_ok(self, app: Application, issuer_data: bytes, arc: bytes) -> bool:
        """ARPC method 1: 91 = ARPC (8) || ARC (2)."""
        assert self._txn.first_ac is not None
        if len(issuer_data) < 8:
            return False
        arpc = issuer_data[:8]
        issuer_arc = issuer_data[8:10] if len(issuer_data) >= 10 else arc
        try:
            expected = app.method.generate_arpc(app.icc_master_key, self._txn.first_ac, issuer_arc)
        except (EmvDataError, ValueError):
            return False
        return hmac.compare_digest(expected, arpc)

    # -- EXTERNAL AUTHENTICATE ---------------------------------------------------------------------

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        if not 8 <= len(command.data) <= 16:
            return SW_WRONG_LENGTH
        app = self._selected
        txn = self._txn
        if (
            app is None
            or txn.first_cid != CID_ARQC
            or txn.second_done
            or txn.issuer_authentication is not None
        ):
            return SW_CONDITIONS
        ok = self._arpc_ok(app, command.data, command.data[8:10])
        txn.issuer_authentication = ok
        if not ok:
            txn.set(CVR_ISSUER_AUTH_FAILED)
            return SW_AUTH_FAILED
        return SW_OK


def _pin_from_block(block: bytes) -> str | None:
    """The PIN of a plaintext PIN block ``2L PIN F..F``, or None if malformed."""
    text = block.hex().upper()
    if text[0] != "2":
        return None
    length = int(text[1], 16)
    if not 4 <= length <= 12:
        return None
    pin, padding = text[2 : 2 + length], text[2 + length :]
    if not pin.isdigit() or padding != "F" * len(padding):
        return None
    return pin


__all__ = ["CID_AAC", "CID_ARQC", "CID_TC", "VirtualCard"]
