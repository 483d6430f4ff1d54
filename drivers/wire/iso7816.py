"""ISO 7816-4 command APDUs for EMV: parsing, building, naming and redaction.

The card uses :meth:`CommandApdu.parse`, the kernel the builders, and traces
the naming and redaction helpers. Redaction rules (see :mod:`drivers.wire.masking`):

* command data of VERIFY and the other PIN commands never appears: each hex
  digit becomes ``*``;
* in responses, PANs (``5A``) show as masked PANs (first 6 / last 4), track
  data (``57``, ``9F6B``) as the masked PAN followed by ``*``; track 1 data
  (``56``), track discretionary data (``9F1F``, ``9F20``) and the cardholder
  name (``5F20``) become ``*``;
* a proprietary tag (one not in :data:`drivers.wire.emv_tags.TAG_NAMES`) whose
  value holds a run of 12 or more decimal digits is hidden with ``*``;
* a response that is not TLV is shown unchanged unless it holds a run of 12 or
  more decimal digits that could be a PAN -- then it is ``[REDACTED]``.

Example, a SELECT of the PSE as a trace shows it:

>>> apdu = select(PSE_NAME)
>>> describe_command(apdu), redact_command(apdu)
('SELECT 1PAY.SYS.DDF01', '00A404000E315041592E5359532E444446303100')
"""

from __future__ import annotations

import re

import attrs

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire.emv_tags import TAG_NAMES
from drivers.wire.masking import REDACTED, mask_pan

PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"

INS_SELECT = 0xA4
INS_READ_RECORD = 0xB2
INS_GET_PROCESSING_OPTIONS = 0xA8
INS_VERIFY = 0x20
INS_GENERATE_AC = 0xAE
INS_GET_DATA = 0xCA
INS_GET_RESPONSE = 0xC0
INS_EXTERNAL_AUTHENTICATE = 0x82

# P1 of GENERATE AC: the cryptogram type requested.
AC_AAC = 0x00
AC_TC = 0x40
AC_ARQC = 0x80
AC_TYPE_MASK = 0xC0
AC_CDA_REQUESTED = 0x10

_INS_NAMES: dict[int, str] = {
    0x04: "DEACTIVATE FILE",
    0x0E: "ERASE BINARY",
    0x16: "CARD BLOCK",
    0x18: "APPLICATION UNBLOCK",
    0x1E: "APPLICATION BLOCK",
    0x20: "VERIFY",
    0x24: "PIN CHANGE/UNBLOCK",
    0x2C: "RESET RETRY COUNTER",
    0x44: "ACTIVATE FILE",
    0x70: "MANAGE CHANNEL",
    0x82: "EXTERNAL AUTHENTICATE",
    0x84: "GET CHALLENGE",
    0x88: "INTERNAL AUTHENTICATE",
    0xA4: "SELECT",
    0xA8: "GET PROCESSING OPTIONS",
    0xAE: "GENERATE AC",
    0xB0: "READ BINARY",
    0xB2: "READ RECORD",
    0xC0: "GET RESPONSE",
    0xCA: "GET DATA",
    0xCB: "GET DATA",
    0xD6: "UPDATE BINARY",
    0xDA: "PUT DATA",
    0xDC: "UPDATE RECORD",
    0xE2: "APPEND RECORD",
}

# Commands whose data field carries PIN material (plaintext or enciphered).
_PIN_INS = frozenset({0x20, 0x24, 0x2C})

_STATUS_TEXT: dict[int, str] = {
    0x9000: "OK",
    0x6283: "selected file invalidated (application blocked)",
    0x6300: "authentication failed",
    0x6581: "memory failure",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6983: "authentication method blocked (PIN blocked)",
    0x6984: "referenced data invalidated",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported (card blocked)",
    0x6A82: "file or application not found",
    0x6A83: "record not found",
    0x6A86: "incorrect parameters P1-P2",
    0x6A88: "referenced data not found",
    0x6D00: "instruction not supported",
    0x6E00: "class not supported",
    0x6F00: "no precise diagnosis",
}


class ApduFormatError(ValueError):
    """A command APDU that is not a valid ISO 7816-4 short APDU."""


@attrs.frozen
class CommandApdu:
    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None  # None: no Le field; 0 means "up to 256"

    @classmethod
    def parse(cls, apdu: bytes) -> CommandApdu:
        """Short APDUs, cases 1-4; raises :class:`ApduFormatError` otherwise.

        >>> CommandApdu.parse(bytes.fromhex("00B2010C00"))
        CommandApdu(cla=0, ins=178, p1=1, p2=12, data=b'', le=0)
        >>> try:
        ...     CommandApdu.parse(bytes.fromhex("00A4040005A0"))
        ... except ApduFormatError as exc:
        ...     print(exc)
        Lc 5 does not match the 1 bytes that follow it
        """
        apdu = bytes(apdu)
        if len(apdu) < 4:
            raise ApduFormatError(f"an APDU needs at least 4 bytes, got {len(apdu)}")
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0])
        lc = body[0]
        if lc == 0:
            raise ApduFormatError("Lc of 0 with a body (extended APDUs are not supported)")
        if len(body) == 1 + lc:
            return cls(cla, ins, p1, p2, data=body[1:])
        if len(body) == 2 + lc:
            return cls(cla, ins, p1, p2, data=body[1:-1], le=body[-1])
        raise ApduFormatError(f"Lc {lc} does not match the {len(body) - 1} bytes that follow it")

    def encode(self) -> bytes:
        out = bytes([self.cla, self.ins, self.p1, self.p2])
        if self.data:
            out += bytes([len(self.data)]) + self.data
        if self.le is not None:
            out += bytes([self.le])
        return out


# -- builders (terminal side) ------------------------------------------------------


def select(name: bytes, *, next_occurrence: bool = False) -> bytes:
    return CommandApdu(0x00, INS_SELECT, 0x04, 0x02 if next_occurrence else 0x00, name, 0).encode()


def get_processing_options(pdol_data: bytes) -> bytes:
    template = tlv.pack("83", pdol_data)
    return CommandApdu(0x80, INS_GET_PROCESSING_OPTIONS, 0, 0, template, 0).encode()


def read_record(sfi: int, record: int) -> bytes:
    return CommandApdu(0x00, INS_READ_RECORD, record, (sfi << 3) | 0x04, le=0).encode()


def plaintext_pin_block(pin: str) -> bytes:
    """EMV plaintext offline PIN block: ``2L`` + BCD PIN, F-padded to 8 bytes."""
    if not (pin.isascii() and pin.isdigit() and 4 <= len(pin) <= 12):
        raise ValueError("an offline PIN is 4 to 12 digits")
    return bytes.fromhex(f"2{len(pin):X}{pin}".ljust(16, "F"))


def verify_plaintext(pin: str) -> bytes:
    return CommandApdu(0x00, INS_VERIFY, 0x00, 0x80, plaintext_pin_block(pin)).encode()


def get_data(tag: int) -> bytes:
    return CommandApdu(0x80, INS_GET_DATA, tag >> 8, tag & 0xFF, le=0).encode()


def generate_ac(reference: int, cdol_data: bytes) -> bytes:
    return CommandApdu(0x80, INS_GENERATE_AC, reference, 0x00, cdol_data, 0).encode()


def external_authenticate(issuer_authentication_data: bytes) -> bytes:
    return CommandApdu(0x00, INS_EXTERNAL_AUTHENTICATE, 0, 0, issuer_authentication_data).encode()


# -- naming ------------------------------------------------------------------------


def command_name(apdu: bytes) -> str:
    """``"SELECT"``, ``"GENERATE AC"`` ...; ``"INS 12"`` for unknown instructions."""
    if len(apdu) < 2:
        return "MALFORMED APDU"
    ins = apdu[1]
    return _INS_NAMES.get(ins, f"INS {ins:02X}")


def describe_command(apdu: bytes) -> str:
    """A one-line, PIN-free description.

    >>> describe_command(read_record(2, 1))
    'READ RECORD SFI 2 record 1'
    """
    name = command_name(apdu)
    try:
        command = CommandApdu.parse(apdu)
    except ApduFormatError:
        return name
    if command.ins == INS_SELECT:
        if command.data in (PSE_NAME, PPSE_NAME):
            return f"{name} {command.data.decode('ascii')}"
        suffix = " (next)" if command.p2 & 0x03 == 0x02 else ""
        return f"{name} {command.data.hex().upper()}{suffix}"
    if command.ins == INS_READ_RECORD:
        return f"{name} SFI {command.p2 >> 3} record {command.p1}"
    if command.ins == INS_GENERATE_AC:
        kind = {AC_AAC: "AAC", AC_TC: "TC", AC_ARQC: "ARQC"}.get(command.p1 & AC_TYPE_MASK, "RFU")
        return f"{name} ({kind})"
    if command.ins in (INS_GET_DATA, 0xCB):
        return f"{name} {command.p1:02X}{command.p2:02X}"
    if command.ins == INS_VERIFY:
        return f"{name} ({'plaintext' if command.p2 == 0x80 else 'enciphered'} PIN)"
    return name


def status_text(sw: int) -> str:
    """The meaning of a status word (ISO 7816-4 5.1.3, EMV Book 3 6.3.5).

    >>> status_text(0x63C2)
    'verification failed, 2 tries left'
    >>> status_text(0x6A82)
    'file or application not found'
    """
    if sw & 0xFFF0 == 0x63C0:
        return f"verification failed, {sw & 0x0F} tries left"
    if sw >> 8 == 0x61:
        return f"{sw & 0xFF} response bytes available"
    if sw >> 8 == 0x6C:
        return f"wrong Le: {sw & 0xFF} bytes available"
    return _STATUS_TEXT.get(sw, "unknown status")


# -- redaction ---------------------------------------------------------------------


def redact_command(apdu: bytes) -> str:
    """Hex of the command with any PIN material replaced by ``*``.

    >>> redact_command(verify_plaintext("1234"))
    '0020008008****************'
    """
    apdu = bytes(apdu)
    if len(apdu) >= 2 and apdu[1] in _PIN_INS:
        # Keep the header and Lc; hide everything after them, even when the
        # APDU is malformed.
        visible = apdu[:5]
        hidden = len(apdu) - len(visible)
        return visible.hex().upper() + "*" * (2 * hidden)
    return apdu.hex().upper()


_PAN_TAGS = frozenset({"5A"})
_TRACK2_TAGS = frozenset({"57", "9F6B"})
_HIDDEN_TAGS = frozenset({"56", "9F1F", "9F20", "5F20", "9F0B", "5F53", "99"})
SENSITIVE_TAGS = _PAN_TAGS | _TRACK2_TAGS | _HIDDEN_TAGS
_PAN_LIKE_RUN = re.compile(r"[0-9]{12,}")


def redact_response(command: bytes, response: bytes) -> str:
    """Hex of a raw response (data + SW1 SW2) with card data masked.

    >>> pan = tlv.pack("5A", bytes.fromhex("6212345678901234"))
    >>> redact_response(read_record(1, 1), tlv.pack("70", pan) + bytes.fromhex("9000"))
    '700A5A08621234******12349000'
    """
    response = bytes(response)
    if len(response) < 2:
        return _redact_opaque(response.hex().upper())
    data, sw = response[:-2], response[-2:].hex().upper()
    if not data:
        return sw
    return redact_tlv(data) + sw


def redact_tlv(data: bytes) -> str:
    """Hex of TLV data (no status word) with card data masked."""
    try:
        objects = tlv.parse(bytes(data))
    except EmvDataError:
        return _redact_opaque(data.hex().upper())
    return "".join(_redact_object(obj) for obj in objects)


def _redact_opaque(hex_text: str) -> str:
    return REDACTED if _PAN_LIKE_RUN.search(hex_text) else hex_text


def _redact_object(obj: tlv.TlvObject) -> str:
    header = obj.header.hex().upper()
    if obj.children is not None:
        return header + "".join(_redact_object(child) for child in obj.children)
    return header + _redacted_value(obj.tag, obj.value.hex().upper())


def _redacted_value(tag: str, value: str) -> str:
    """The hex ``value`` of primitive ``tag`` as a trace may show it."""
    if tag in _PAN_TAGS:
        return _masked_bcd_pan(value)
    if tag in _TRACK2_TAGS:
        pan, separator, _rest = value.partition("D")
        masked = _masked_bcd_pan(pan)
        return masked + separator + "*" * (len(value) - len(masked) - len(separator))
    if tag in _HIDDEN_TAGS:
        return "*" * len(value)
    if tag not in TAG_NAMES and _PAN_LIKE_RUN.search(value):
        # A proprietary tag with a PAN-like digit run: hide it.
        return "*" * len(value)
    return value


def _masked_bcd_pan(value: str) -> str:
    """The hex of a BCD PAN (maybe F-padded) -> masked, same length."""
    digits = value.rstrip("F")
    masked = mask_pan(digits)
    if masked == REDACTED:
        return "*" * len(value)
    return masked + "F" * (len(value) - len(digits))
