"""The terminal's EMV contact kernel (EMV 4.3 Books 1-4, the parts a purchase uses).

It talks only to a :class:`drivers.card_reader.CardReader`, so the same kernel
runs against the in-process virtual card, a virtual card behind pcscd, or a
real card in a real reader.

Flow, one method per step the acquiring app drives::

    kernel.read_card(amount)            # select, GPO, read records, restrictions
    kernel.verify_cardholder(pin_source)  # CVM list: offline/online PIN, signature
    kernel.first_generate_ac()          # ARQC (online-only terminal) -> DE55 data
    kernel.second_generate_ac(rc, iad)  # completion with the host's answer
    kernel.finish()                     # power the card down

What is deliberately not implemented: offline data authentication (SDA/DDA/
CDA: TVR "offline data authentication was not performed" is set), offline
enciphered PIN (treated as unsupported), issuer scripts, velocity checking
and random selection (the terminal is online-only, so they change nothing),
cardholder application confirmation (the highest-priority application is used).

Failures are typed: :class:`NoApplication`, :class:`CardBlocked`,
:class:`EmvProtocolError` (the card answered something malformed or
unexpected) and :class:`EmvSequenceError` (methods called out of order).
Driver errors (``NoCard``, ``CardRemoved``, ``CardProtocolError``) and the PIN
source's ``PinEntryCancelled`` / ``DeviceTimeout`` propagate unchanged.
"""

from __future__ import annotations

import contextlib
import enum
import random
from collections.abc import Callable
from datetime import datetime

import attrs

from drivers.card_reader import ApduResponse, CardReader
from drivers.errors import DriverError
from simulator.emv import apdu as cmd
from simulator.emv import tlv
from simulator.emv.apdu import status_text
from simulator.emv.tags import describe
from simulator.errors import EmvDataError, SimulatorError
from simulator.redact import mask_pan

# -- errors ------------------------------------------------------------------------------


class EmvError(SimulatorError):
    """The card transaction cannot go on; the message says why, for people."""


class NoApplication(EmvError):
    """No application on the card is one the terminal supports (or accepts now)."""


class CardBlocked(EmvError):
    """The card, or every matching application on it, is blocked."""


class EmvProtocolError(EmvError):
    """The card answered something malformed or unexpected."""


class EmvSequenceError(EmvError):
    """A kernel method was called out of order (a bug in the caller)."""


# -- configuration -------------------------------------------------------------------------


def _hex_validator(length: int) -> Callable[[object, attrs.Attribute[str], str], None]:
    def check(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{attribute.name} must be hex, got {value!r}") from None
        if len(raw) != length:
            raise ValueError(f"{attribute.name} must be {length} byte(s) of hex, got {value!r}")

    return check


def _aid_validator(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"AID must be hex, got {value!r}") from None
    if not 5 <= len(raw) <= 16:
        raise ValueError(f"AID must be 5-16 bytes, got {value!r}")


@attrs.frozen
class AidEntry:
    """One application the terminal supports."""

    aid: str = attrs.field(validator=_aid_validator)
    partial_match: bool = True  # the card's AID may be longer (ISO 7816-4 partial name)
    app_version: str = attrs.field(default="0030", validator=_hex_validator(2))  # 9F09


UNIONPAY_DEBIT = AidEntry("A000000333010101")
UNIONPAY_CREDIT = AidEntry("A000000333010102")
UNIONPAY_QUASI_CREDIT = AidEntry("A000000333010103")
VISA = AidEntry("A0000000031010", app_version="008C")
MASTERCARD = AidEntry("A0000000041010", app_version="0002")
DEFAULT_AIDS = (UNIONPAY_DEBIT, UNIONPAY_CREDIT, UNIONPAY_QUASI_CREDIT, VISA, MASTERCARD)


@attrs.frozen
class TerminalEmvConfig:
    terminal_country: str = attrs.field(default="0156", validator=_hex_validator(2))  # 9F1A
    currency: str = attrs.field(default="0156", validator=_hex_validator(2))  # 5F2A
    currency_exponent: int = 2  # 5F36
    terminal_type: str = attrs.field(default="22", validator=_hex_validator(1))  # 9F35
    capabilities: str = attrs.field(default="E0F8C8", validator=_hex_validator(3))  # 9F33
    additional_capabilities: str = attrs.field(  # 9F40
        default="F000F0A001", validator=_hex_validator(5)
    )
    ifd_serial: str = "POSSIM01"  # 9F1E, 8 ASCII characters
    aids: tuple[AidEntry, ...] = DEFAULT_AIDS
    floor_limit_fen: int = 0  # 9F1B; 0: every purchase goes online
    # Terminal action codes (the acquirer's half of IACs).
    tac_denial: str = attrs.field(default="0000000000", validator=_hex_validator(5))
    tac_online: str = attrs.field(default="0000000000", validator=_hex_validator(5))
    tac_default: str = attrs.field(default="0000000000", validator=_hex_validator(5))


# -- results -----------------------------------------------------------------------------------


@attrs.frozen
class CardData:
    """What the card told the terminal about itself. ``pan``/``track2`` never print."""

    aid: str
    label: str
    pan: str = attrs.field(repr=False)
    expiry: str  # YYMM
    psn: str  # 2 digits; "00" when the card has none (EMV Option A's default)
    track2: str = attrs.field(repr=False)  # ISO 7813 text, "=" separator (DE35)
    cardholder_name: str = attrs.field(repr=False)
    service_code: str
    preferred_name: str | None = None

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)


@attrs.frozen
class PinRequest:
    """Passed to the PIN source each time a PIN is needed."""

    tries_left: int | None  # from the card's PIN try counter; None if unknown
    retry: bool  # the previous PIN was wrong
    online: bool = False  # an online (enciphered) PIN, not checked by the card


class CvmOutcome(enum.Enum):
    OFFLINE_PIN = "offline_pin"
    ONLINE_PIN = "online_pin"
    SIGNATURE = "signature"
    NO_CVM = "no_cvm"
    FAILED = "failed"


@attrs.frozen
class CvmResult:
    outcome: CvmOutcome
    online_pin: str | None = attrs.field(default=None, repr=False)
    signature_required: bool = False  # also true for "plaintext PIN and signature"


@attrs.frozen
class FirstAc:
    cid: int  # 9F27: 0x80 ARQC, 0x40 TC, 0x00 AAC (bits 8-7)
    cryptogram: bytes
    atc: bytes
    icc_data: dict[str, bytes]  # tags for ISO 8583 DE55, in DE55 order

    @property
    def kind(self) -> str:
        return _cid_kind(self.cid)


@attrs.frozen
class SecondAc:
    cid: int
    approved: bool  # the card answered TC
    issuer_authentication: bool | None  # None: no issuer authentication data
    cryptogram: bytes = b""
    atc: bytes = b""

    @property
    def kind(self) -> str:
        return _cid_kind(self.cid)


# -- EMV constants ----------------------------------------------------------------------------

CID_TYPE_MASK = 0xC0
CID_AAC = 0x00
CID_TC = 0x40
CID_ARQC = 0x80

APPROVAL_CODES = frozenset({"00"})
UNABLE_TO_GO_ONLINE = "Z3"

# AIP byte 1
AIP_SDA = 0x40
AIP_DDA = 0x20
AIP_CVM = 0x10
AIP_TRM = 0x08
AIP_ISSUER_AUTH = 0x04
AIP_CDA = 0x01

# TVR (byte index, bit)
TVR_ODA_NOT_PERFORMED = (0, 0x80)
TVR_ICC_DATA_MISSING = (0, 0x20)
TVR_DIFFERENT_VERSIONS = (1, 0x80)
TVR_EXPIRED = (1, 0x40)
TVR_NOT_EFFECTIVE = (1, 0x20)
TVR_SERVICE_NOT_ALLOWED = (1, 0x10)
TVR_CV_NOT_SUCCESSFUL = (2, 0x80)
TVR_UNRECOGNISED_CVM = (2, 0x40)
TVR_PIN_TRY_LIMIT_EXCEEDED = (2, 0x20)
TVR_PIN_PAD_MISSING = (2, 0x10)
TVR_PIN_NOT_ENTERED = (2, 0x08)
TVR_ONLINE_PIN_ENTERED = (2, 0x04)
TVR_FLOOR_LIMIT_EXCEEDED = (3, 0x80)
TVR_ISSUER_AUTH_FAILED = (4, 0x40)

# TSI (byte index, bit)
TSI_CV_PERFORMED = (0, 0x40)
TSI_CRM_PERFORMED = (0, 0x20)
TSI_ISSUER_AUTH_PERFORMED = (0, 0x10)
TSI_TRM_PERFORMED = (0, 0x08)

# Terminal capabilities byte 2 (CVM capability)
CAP_PLAINTEXT_PIN = 0x80
CAP_ONLINE_PIN = 0x40
CAP_SIGNATURE = 0x20
CAP_ENCIPHERED_PIN_OFFLINE = 0x10
CAP_NO_CVM = 0x08

# CVM codes (b6-b1 of the first byte of a rule)
CVM_FAIL = 0x00
CVM_PLAINTEXT_PIN = 0x01
CVM_ONLINE_PIN = 0x02
CVM_PLAINTEXT_PIN_SIGNATURE = 0x03
CVM_ENCIPHERED_PIN = 0x04
CVM_ENCIPHERED_PIN_SIGNATURE = 0x05
CVM_SIGNATURE = 0x1E
CVM_NO_CVM = 0x1F
CVM_APPLY_NEXT_IF_FAILED = 0x40
CVM_RESULT_UNKNOWN = 0x00
CVM_RESULT_FAILED = 0x01
CVM_RESULT_SUCCESSFUL = 0x02
NO_CVM_PERFORMED = 0x3F

# ISO 8583 DE55 content, in order.
DE55_TAGS = (
    "9F26", "9F27", "9F10", "9F37", "9F36", "95", "9A", "9C", "9F02", "5F2A", "82", "9F1A",
    "9F03", "9F33", "9F34", "9F35", "9F1E", "84", "9F09", "9F41",
)  # fmt: skip
MANDATORY_CARD_TAGS = ("5A", "5F24", "8C", "8D")
_MAX_DIRECTORY_RECORDS = 32
_MAX_SELECT_NEXT = 16


def _cid_kind(cid: int) -> str:
    return {CID_AAC: "AAC", CID_TC: "TC", CID_ARQC: "ARQC"}.get(cid & CID_TYPE_MASK, "AAR")


@attrs.frozen
class _Candidate:
    aid: bytes
    label: str
    priority: int
    order: int
    entry: AidEntry
    preferred_name: str | None = None

    @property
    def rank(self) -> tuple[int, int]:
        priority = self.priority & 0x0F
        return (priority if priority else 16, self.order)


class _Stage(enum.IntEnum):
    NEW = 0
    READ = 1
    FIRST_AC = 2
    SECOND_AC = 3


# -- the kernel -------------------------------------------------------------------------------


class EmvKernel:
    def __init__(
        self,
        reader: CardReader,
        config: TerminalEmvConfig,
        rng: random.Random,
        when: Callable[[], datetime],
    ) -> None:
        self._reader = reader
        self._config = config
        self._rng = rng
        self._when = when
        self._connected = False
        self._stage = _Stage.NEW
        self._tvr = bytearray(5)
        self._tsi = bytearray(2)
        self._cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
        self._terminal: dict[str, bytes] = {}
        self._card: dict[str, bytes] = {}
        self._record_tags: set[str] = set()  # from GPO and records: must not repeat
        self._aid = b""
        self._aip = b"\x00\x00"
        self._card_data: CardData | None = None
        self._first: FirstAc | None = None

    # -- state for receipts, journals and tests ----------------------------------------------------

    @property
    def tvr(self) -> bytes:
        return bytes(self._tvr)

    @property
    def tsi(self) -> bytes:
        return bytes(self._tsi)

    @property
    def cvm_results(self) -> bytes:
        return self._cvm_results

    @property
    def aip(self) -> bytes:
        return self._aip

    @property
    def card_data(self) -> CardData | None:
        return self._card_data

    def card_tag(self, tag: str) -> bytes | None:
        """A data element the card returned (FCI, GPO, records), by tag."""
        return self._card.get(tag.upper())

    # -- 1. application selection, GPO, read application data --------------------------------------

    def read_card(
        self, amount_fen: int, transaction_type: int = 0x00, transaction_sequence: int = 1
    ) -> CardData:
        if self._stage is not _Stage.NEW:
            raise EmvSequenceError("read_card() runs once per kernel: make a new EmvKernel")
        if not 0 <= amount_fen < 10**12:
            raise ValueError(f"amount {amount_fen} fen does not fit EMV's n12")
        if not 0 <= transaction_type <= 0xFF:
            raise ValueError(f"transaction type {transaction_type} is not one byte")
        self._reader.connect()
        self._connected = True
        self._terminal = self._terminal_data(amount_fen, transaction_type, transaction_sequence)

        candidates = self._candidates()
        if not candidates:
            offered = ", ".join(entry.aid for entry in self._config.aids)
            raise NoApplication(
                f"no application on the card matches the terminal's AID list ({offered})"
            )
        self._final_selection(candidates)
        afl = self._card.get("94", b"")
        self._read_records(afl)
        missing = [tag for tag in MANDATORY_CARD_TAGS if tag not in self._card]
        if missing:
            raise EmvProtocolError(
                "the card's records lack mandatory data "
                + ", ".join(describe(tag) for tag in missing)
                + ": the transaction is terminated"
            )
        self._card_data = self._make_card_data()
        self._offline_data_authentication()
        self._processing_restrictions()
        self._terminal_risk_management(amount_fen)
        self._stage = _Stage.READ
        return self._card_data

    def _terminal_data(self, amount_fen: int, kind: int, sequence: int) -> dict[str, bytes]:
        config = self._config
        now = self._when()
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
            "9F37": self._rng.getrandbits(32).to_bytes(4, "big"),
            "9F35": bytes.fromhex(config.terminal_type),
            "9F33": bytes.fromhex(config.capabilities),
            "9F40": bytes.fromhex(config.additional_capabilities),
            "9F1E": config.ifd_serial.encode("ascii", "replace")[:8].ljust(8, b" "),
            "9F41": bytes.fromhex(f"{sequence % 10**8:08d}"),
            "9F1B": min(config.floor_limit_fen, 0xFFFFFFFF).to_bytes(4, "big"),
        }

    def _dol_values(self) -> dict[str, bytes]:
        values = dict(self._card)
        values.update(self._terminal)
        values["95"] = bytes(self._tvr)
        values["9B"] = bytes(self._tsi)
        values["9F34"] = self._cvm_results
        return values

    def _candidates(self) -> list[_Candidate]:
        found = self._candidates_from_pse()
        if not found:
            found = self._candidates_from_aid_list()
        return sorted(found, key=lambda candidate: candidate.rank)

    def _candidates_from_pse(self) -> list[_Candidate]:
        response = self._send(cmd.select(cmd.PSE_NAME))
        if response.sw == 0x6A81:
            raise CardBlocked("the card is blocked (SELECT answered 6A81)")
        if not response.ok:
            return []  # no PSE (6A82), PSE blocked (6283) ...: use the AID list
        fci = self._parse_template(response.data, "6F", "the PSE's FCI")
        sfi_object = fci.find("88")
        if sfi_object is None or len(sfi_object.value) != 1 or not 1 <= sfi_object.value[0] <= 30:
            raise EmvProtocolError("the PSE's FCI has no valid SFI (88) for its directory")
        sfi = sfi_object.value[0]
        found: list[_Candidate] = []
        for number in range(1, _MAX_DIRECTORY_RECORDS + 1):
            record = self._send(cmd.read_record(sfi, number))
            if record.sw == 0x6A83:
                break
            if not record.ok:
                return []  # directory unreadable: the AID list will do
            template = self._parse_template(
                record.data, "70", f"PSE directory record {number} (SFI {sfi})"
            )
            for entry in template.children or ():
                if entry.tag != "61":
                    continue
                candidate = self._directory_entry(entry, len(found))
                if candidate is not None:
                    found.append(candidate)
        return found

    def _directory_entry(self, entry: tlv.TlvObject, order: int) -> _Candidate | None:
        adf = entry.find("4F")
        if adf is None or not 5 <= len(adf.value) <= 16:
            raise EmvProtocolError("a PSE directory entry (61) has no valid ADF name (4F)")
        for supported in self._config.aids:
            aid = bytes.fromhex(supported.aid)
            if adf.value == aid or (supported.partial_match and adf.value.startswith(aid)):
                label = entry.find("50")
                priority = entry.find("87")
                preferred = entry.find("9F12")
                return _Candidate(
                    aid=adf.value,
                    label=_text(label.value) if label else "",
                    priority=priority.value[0] if priority and priority.value else 0,
                    order=order,
                    entry=supported,
                    preferred_name=_text(preferred.value) if preferred else None,
                )
        return None

    def _candidates_from_aid_list(self) -> list[_Candidate]:
        found: list[_Candidate] = []
        for supported in self._config.aids:
            aid = bytes.fromhex(supported.aid)
            next_occurrence = False
            for _ in range(_MAX_SELECT_NEXT):
                response = self._send(cmd.select(aid, next_occurrence=next_occurrence))
                if response.sw == 0x6A81:
                    raise CardBlocked("the card is blocked (SELECT answered 6A81)")
                if response.sw not in (0x9000, 0x6283):
                    break
                fci = self._parse_template(response.data, "6F", f"the FCI of {aid.hex().upper()}")
                df_name = fci.find("84")
                if df_name is None:
                    raise EmvProtocolError(f"the FCI of {aid.hex().upper()} has no DF name (84)")
                if not df_name.value.startswith(aid):
                    break
                exact = df_name.value == aid
                if response.ok and (exact or supported.partial_match):
                    label = fci.find("50")
                    priority = fci.find("87")
                    preferred = fci.find("9F12")
                    found.append(
                        _Candidate(
                            aid=df_name.value,
                            label=_text(label.value) if label else "",
                            priority=priority.value[0] if priority and priority.value else 0,
                            order=len(found),
                            entry=supported,
                            preferred_name=_text(preferred.value) if preferred else None,
                        )
                    )
                if exact:
                    break
                next_occurrence = True
        return found

    def _final_selection(self, candidates: list[_Candidate]) -> None:
        blocked: list[str] = []
        refused: list[str] = []
        for candidate in candidates:
            aid_hex = candidate.aid.hex().upper()
            response = self._send(cmd.select(candidate.aid))
            if response.sw == 0x6283:
                blocked.append(aid_hex)
                continue
            if response.sw == 0x6A81:
                raise CardBlocked("the card is blocked (SELECT answered 6A81)")
            if not response.ok:
                refused.append(f"{aid_hex} (SELECT {response.sw:04X})")
                continue
            fci = self._parse_template(response.data, "6F", f"the FCI of {aid_hex}")
            df_name = fci.find("84")
            if df_name is None:
                raise EmvProtocolError(f"the FCI of {aid_hex} has no DF name (84)")
            if df_name.value != candidate.aid:
                refused.append(f"{aid_hex} (FCI names another application)")
                continue
            fci_tags = self._primitives(fci, f"the FCI of {aid_hex}")
            self._card = dict(fci_tags)
            pdol = fci_tags.get("9F38", b"")
            self._terminal["9F09"] = bytes.fromhex(candidate.entry.app_version)
            self._terminal["84"] = candidate.aid
            self._terminal["4F"] = candidate.aid
            try:
                pdol_data = tlv.build_dol_data(pdol, self._dol_values())
            except EmvDataError as exc:
                raise EmvProtocolError(
                    f"the PDOL (9F38) of {aid_hex} is malformed: {exc}"
                ) from None
            gpo = self._send(cmd.get_processing_options(pdol_data))
            if gpo.sw == 0x6985:
                refused.append(f"{aid_hex} (GPO: conditions of use not satisfied)")
                continue
            if not gpo.ok:
                raise EmvProtocolError(
                    f"GET PROCESSING OPTIONS for {aid_hex} failed: SW {gpo.sw:04X} "
                    f"({status_text(gpo.sw)})"
                )
            self._card["84"] = candidate.aid
            if "50" not in self._card and candidate.label:
                self._card["50"] = candidate.label.encode("ascii", "replace")
            self._aid = candidate.aid
            self._parse_gpo(gpo.data)
            return
        if blocked and not refused:
            raise CardBlocked(
                f"the card's application(s) {', '.join(blocked)} are blocked: "
                "the cardholder should contact the issuer"
            )
        reasons = ", ".join(blocked + refused)
        raise NoApplication(f"no application on the card accepted this transaction: {reasons}")

    def _parse_gpo(self, data: bytes) -> None:
        objects = self._parse(data, "the GPO response")
        if len(objects) != 1:
            raise EmvProtocolError("the GPO response is not a single template (80 or 77)")
        template = objects[0]
        if template.tag == "80" and template.children is None:
            if len(template.value) < 2 or (len(template.value) - 2) % 4:
                raise EmvProtocolError("the GPO response (format 1) is not AIP + AFL entries")
            aip, afl = template.value[:2], template.value[2:]
        elif template.tag == "77":
            tags = self._primitives(template, "the GPO response")
            if "82" not in tags or "94" not in tags:
                raise EmvProtocolError("the GPO response (format 2) lacks AIP (82) or AFL (94)")
            aip, afl = tags["82"], tags["94"]
            self._card.update(tags)
            self._record_tags.update(tags)
        else:
            raise EmvProtocolError(
                f"the GPO response starts with tag {template.tag}, expected 80 or 77"
            )
        if len(aip) != 2:
            raise EmvProtocolError(f"the AIP (82) is {len(aip)} bytes, expected 2")
        self._aip = aip
        self._card["82"] = aip
        self._card["94"] = afl
        self._record_tags.update(("82", "94"))

    def _read_records(self, afl: bytes) -> None:
        if not afl or len(afl) % 4:
            raise EmvProtocolError(
                f"the AFL (94) {afl.hex().upper() or '(empty)'} is not a list of 4-byte entries"
            )
        for offset in range(0, len(afl), 4):
            sfi_byte, first, last, oda = afl[offset : offset + 4]
            sfi = sfi_byte >> 3
            if sfi_byte & 0x07 or not 1 <= sfi <= 30 or first == 0 or last < first:
                raise EmvProtocolError(
                    f"AFL entry {afl[offset : offset + 4].hex().upper()} is invalid"
                )
            if oda > last - first + 1:
                raise EmvProtocolError(
                    f"AFL entry {afl[offset : offset + 4].hex().upper()} counts more ODA records "
                    "than it lists"
                )
            for number in range(first, last + 1):
                response = self._send(cmd.read_record(sfi, number))
                if not response.ok:
                    raise EmvProtocolError(
                        f"READ RECORD SFI {sfi} record {number} (from the AFL) failed: "
                        f"SW {response.sw:04X} ({status_text(response.sw)})"
                    )
                if sfi > 10:
                    continue  # proprietary file: not TLV to the kernel
                where = f"record {number} of SFI {sfi}"
                template = self._parse_template(response.data, "70", where)
                for tag, value in self._primitives(template, where).items():
                    if tag in self._record_tags:
                        raise EmvProtocolError(
                            f"{where} repeats {describe(tag)}: the transaction is terminated"
                        )
                    self._record_tags.add(tag)
                    self._card[tag] = value

    def _make_card_data(self) -> CardData:
        pan = self._card["5A"].hex().upper().rstrip("F")
        if not (pan.isdigit() and 12 <= len(pan) <= 19):
            raise EmvProtocolError("the card's PAN (5A) is not 12-19 digits")
        expiry_date = self._card["5F24"].hex()
        if len(expiry_date) != 6 or not expiry_date.isdigit():
            raise EmvProtocolError("the card's expiry date (5F24) is not YYMMDD")
        psn_raw = self._card.get("5F34")
        psn = psn_raw.hex() if psn_raw else "00"
        if len(psn) != 2 or not psn.isdigit():
            raise EmvProtocolError("the card's PAN sequence number (5F34) is not 2 digits")
        service = self._card.get("5F30", b"").hex()
        service_code = service[-3:] if len(service) == 4 and service.isdigit() else ""
        track2_raw = self._card.get("57")
        if track2_raw is not None:
            track2 = track2_raw.hex().upper().rstrip("F")
            if "D" not in track2 or not track2.replace("D", "", 1).isdigit():
                raise EmvProtocolError("the card's track 2 equivalent data (57) is malformed")
            track2 = track2.replace("D", "=", 1)
            if not service_code:
                service_code = track2.partition("=")[2][4:7]
        else:
            track2 = f"{pan}={expiry_date[:4]}{service_code or '000'}"
        label = _text(self._card.get("50", b""))
        preferred = self._card.get("9F12")
        return CardData(
            aid=self._aid.hex().upper(),
            label=label,
            pan=pan,
            expiry=expiry_date[:4],
            psn=psn,
            track2=track2,
            cardholder_name=_text(self._card.get("5F20", b"")).strip(),
            service_code=service_code,
            preferred_name=_text(preferred) if preferred else None,
        )

    # -- 2. offline data authentication, processing restrictions, risk management ------------------

    def _offline_data_authentication(self) -> None:
        # possim's kernel performs no SDA/DDA/CDA (see the module docstring).
        self._set(self._tvr, TVR_ODA_NOT_PERFORMED)

    def _processing_restrictions(self) -> None:
        card_version = self._card.get("9F08")
        terminal_version = self._terminal.get("9F09")
        if card_version is not None and card_version != terminal_version:
            self._set(self._tvr, TVR_DIFFERENT_VERSIONS)
        today = self._terminal["9A"].hex()
        expiry = self._card["5F24"].hex()
        if _date_key(expiry) < _date_key(today):
            self._set(self._tvr, TVR_EXPIRED)
        effective = self._card.get("5F25")
        if (
            effective is not None
            and effective.hex().isdigit()
            and _date_key(effective.hex()) > _date_key(today)
        ):
            self._set(self._tvr, TVR_NOT_EFFECTIVE)
        usage = self._card.get("9F07")
        if usage is not None and len(usage) >= 2 and not self._usage_allowed(usage):
            self._set(self._tvr, TVR_SERVICE_NOT_ALLOWED)

    def _usage_allowed(self, usage: bytes) -> bool:
        """Application Usage Control (9F07) for goods and services at a POS."""
        if not usage[0] & 0x01:  # valid at terminals other than ATMs
            return False
        issuer_country = self._card.get("5F28")
        domestic = issuer_country is None or issuer_country == self._terminal["9F1A"]
        kind = self._terminal["9C"][0]
        if kind == 0x01:  # cash
            return bool(usage[0] & (0x80 if domestic else 0x40))
        goods_or_services = 0x20 | 0x08 if domestic else 0x10 | 0x04
        if not usage[0] & goods_or_services:
            return False
        if kind == 0x09:  # purchase with cashback
            return bool(usage[1] & (0x80 if domestic else 0x40))
        return True

    def _terminal_risk_management(self, amount_fen: int) -> None:
        if not self._aip[0] & AIP_TRM:
            return
        if amount_fen >= self._config.floor_limit_fen:
            self._set(self._tvr, TVR_FLOOR_LIMIT_EXCEEDED)
        self._set(self._tsi, TSI_TRM_PERFORMED)

    # -- 3. cardholder verification ----------------------------------------------------------------

    def verify_cardholder(self, pin_source: Callable[[PinRequest], str]) -> CvmResult:
        if self._stage is not _Stage.READ:
            raise EmvSequenceError(
                "verify_cardholder() comes after read_card() and before GENERATE AC"
            )
        if not self._aip[0] & AIP_CVM:
            self._cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
            return CvmResult(CvmOutcome.NO_CVM)
        cvm_list = self._card.get("8E", b"")
        if len(cvm_list) < 10:
            self._set(self._tvr, TVR_ICC_DATA_MISSING)
            self._cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
            return CvmResult(CvmOutcome.NO_CVM)
        if len(cvm_list) % 2:
            raise EmvProtocolError("the CVM list (8E) has an odd number of bytes")
        self._set(self._tsi, TSI_CV_PERFORMED)
        amount_x = int.from_bytes(cvm_list[0:4], "big")
        amount_y = int.from_bytes(cvm_list[4:8], "big")
        rules = [(cvm_list[i], cvm_list[i + 1]) for i in range(8, len(cvm_list), 2)]
        last_failed: tuple[int, int] | None = None
        for index, (code, condition) in enumerate(rules):
            method = code & 0x3F
            if not self._condition_met(condition, method, amount_x, amount_y):
                continue
            result = self._perform_cvm(method, pin_source)
            if result is not None:
                outcome, online_pin, signature, status = result
                self._cvm_results = bytes([code, condition, status])
                return CvmResult(outcome, online_pin, signature)
            last_failed = (code, condition)
            if code & CVM_APPLY_NEXT_IF_FAILED and index + 1 < len(rules):
                continue
            break
        self._set(self._tvr, TVR_CV_NOT_SUCCESSFUL)
        if last_failed is None:
            self._cvm_results = bytes([NO_CVM_PERFORMED, 0x00, CVM_RESULT_FAILED])
        else:
            self._cvm_results = bytes([*last_failed, CVM_RESULT_FAILED])
        return CvmResult(CvmOutcome.FAILED)

    def _supports(self, method: int) -> bool:
        caps = bytes.fromhex(self._config.capabilities)[1]
        return {
            CVM_FAIL: True,
            CVM_PLAINTEXT_PIN: bool(caps & CAP_PLAINTEXT_PIN),
            CVM_ONLINE_PIN: bool(caps & CAP_ONLINE_PIN),
            CVM_PLAINTEXT_PIN_SIGNATURE: bool(caps & CAP_PLAINTEXT_PIN and caps & CAP_SIGNATURE),
            # Offline enciphered PIN needs ICC public-key cryptography possim lacks.
            CVM_ENCIPHERED_PIN: False,
            CVM_ENCIPHERED_PIN_SIGNATURE: False,
            CVM_SIGNATURE: bool(caps & CAP_SIGNATURE),
            CVM_NO_CVM: bool(caps & CAP_NO_CVM),
        }.get(method, False)

    def _condition_met(self, condition: int, method: int, x: int, y: int) -> bool:
        kind = self._terminal["9C"][0]
        terminal_type = self._terminal["9F35"][0] & 0x0F
        unattended = terminal_type in (4, 5, 6)
        cash = kind == 0x01
        cashback = kind == 0x09
        amount = int(self._terminal["9F02"].hex())
        same_currency = self._card.get("9F42") == self._terminal["5F2A"]
        if condition == 0x00:
            return True
        if condition == 0x01:
            return cash and unattended
        if condition == 0x02:
            return not cash and not cashback
        if condition == 0x03:
            return self._supports(method)
        if condition == 0x04:
            return cash and not unattended
        if condition == 0x05:
            return cashback
        if condition in (0x06, 0x07, 0x08, 0x09):
            if not same_currency:
                return False
            limit = x if condition in (0x06, 0x07) else y
            return amount < limit if condition in (0x06, 0x08) else amount > limit
        return False

    def _perform_cvm(
        self, method: int, pin_source: Callable[[PinRequest], str]
    ) -> tuple[CvmOutcome, str | None, bool, int] | None:
        """(outcome, online PIN, signature needed, CVM result byte) or None if it failed."""
        known = (
            CVM_FAIL, CVM_PLAINTEXT_PIN, CVM_ONLINE_PIN, CVM_PLAINTEXT_PIN_SIGNATURE,
            CVM_ENCIPHERED_PIN, CVM_ENCIPHERED_PIN_SIGNATURE, CVM_SIGNATURE, CVM_NO_CVM,
        )  # fmt: skip
        if method not in known:
            self._set(self._tvr, TVR_UNRECOGNISED_CVM)
            return None
        if method == CVM_FAIL:
            return None
        if not self._supports(method):
            if method in (CVM_PLAINTEXT_PIN, CVM_ONLINE_PIN, CVM_PLAINTEXT_PIN_SIGNATURE,
                          CVM_ENCIPHERED_PIN, CVM_ENCIPHERED_PIN_SIGNATURE):  # fmt: skip
                self._set(self._tvr, TVR_PIN_PAD_MISSING)
            return None
        if method == CVM_SIGNATURE:
            return (CvmOutcome.SIGNATURE, None, True, CVM_RESULT_UNKNOWN)
        if method == CVM_NO_CVM:
            return (CvmOutcome.NO_CVM, None, False, CVM_RESULT_SUCCESSFUL)
        if method == CVM_ONLINE_PIN:
            pin = pin_source(PinRequest(tries_left=None, retry=False, online=True))
            if not pin:
                self._set(self._tvr, TVR_PIN_NOT_ENTERED)
                return None
            self._set(self._tvr, TVR_ONLINE_PIN_ENTERED)
            return (CvmOutcome.ONLINE_PIN, pin, False, CVM_RESULT_UNKNOWN)
        # plaintext offline PIN, alone or with a signature
        if not self._offline_pin(pin_source):
            return None
        if method == CVM_PLAINTEXT_PIN_SIGNATURE:
            return (CvmOutcome.OFFLINE_PIN, None, True, CVM_RESULT_UNKNOWN)
        return (CvmOutcome.OFFLINE_PIN, None, False, CVM_RESULT_SUCCESSFUL)

    def _offline_pin(self, pin_source: Callable[[PinRequest], str]) -> bool:
        tries = self._pin_try_counter()
        if tries == 0:
            self._set(self._tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
            return False
        retry = False
        while True:
            pin = pin_source(PinRequest(tries_left=tries, retry=retry))
            if not pin:
                self._set(self._tvr, TVR_PIN_NOT_ENTERED)
                return False
            response = self._send(cmd.verify_plaintext(pin))
            if response.ok:
                return True
            if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
                tries = response.sw2 & 0x0F
                if tries == 0:
                    self._set(self._tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
                    return False
                retry = True
                continue
            if response.sw in (0x6983, 0x6984):
                self._set(self._tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
                return False
            return False  # any other refusal: this CVM failed

    def _pin_try_counter(self) -> int | None:
        response = self._send(cmd.get_data(0x9F17))
        if not response.ok:
            return None
        try:
            tags = {obj.tag: obj.value for obj in tlv.parse(response.data)}
        except EmvDataError:
            return None
        value = tags.get("9F17")
        return value[0] if value is not None and len(value) == 1 else None

    # -- 4. terminal action analysis and the first GENERATE AC -------------------------------------

    def first_generate_ac(self) -> FirstAc:
        if self._stage is not _Stage.READ:
            raise EmvSequenceError("first_generate_ac() comes once, after read_card()")
        denial = _or(self._card.get("9F0E", bytes(5)), bytes.fromhex(self._config.tac_denial))
        # An online-only terminal asks every purchase to go online unless it must deny it.
        reference = cmd.AC_AAC if _intersects(self._tvr, denial) else cmd.AC_ARQC
        cdol1 = self._card["8C"]
        values = self._dol_values()
        try:
            data = tlv.build_dol_data(cdol1, values)
            sent = tlv.split_dol_data(cdol1, data)
        except EmvDataError as exc:
            raise EmvProtocolError(f"the card's CDOL1 (8C) is malformed: {exc}") from None
        response = self._send(cmd.generate_ac(reference, data))
        self._set(self._tsi, TSI_CRM_PERFORMED)
        self._stage = _Stage.FIRST_AC
        if not response.ok:
            raise EmvProtocolError(
                f"the card refused the first GENERATE AC: SW {response.sw:04X} "
                f"({status_text(response.sw)})"
            )
        cid, atc, ac, iad, extra = self._parse_ac_response(response.data, "first GENERATE AC")
        kind = cid & CID_TYPE_MASK
        if kind == 0xC0 or (reference == cmd.AC_AAC and kind != CID_AAC) or kind == CID_TC:
            raise EmvProtocolError(
                f"the card answered {_cid_kind(cid)} to a request for "
                f"{_cid_kind(reference)}: a card may only lower the cryptogram type"
            )
        self._card.update(extra)
        values.update(sent)
        values.update({"9F26": ac, "9F27": bytes([cid]), "9F36": atc})
        if iad is not None:
            values["9F10"] = iad
        icc_data = {tag: values[tag] for tag in DE55_TAGS if tag in values}
        self._first = FirstAc(cid=cid, cryptogram=ac, atc=atc, icc_data=icc_data)
        return self._first

    def _parse_ac_response(
        self, data: bytes, what: str
    ) -> tuple[int, bytes, bytes, bytes | None, dict[str, bytes]]:
        objects = self._parse(data, f"the {what} response")
        if len(objects) != 1:
            raise EmvProtocolError(f"the {what} response is not a single template (80 or 77)")
        template = objects[0]
        extra: dict[str, bytes] = {}
        if template.tag == "80" and template.children is None:
            value = template.value
            if len(value) < 11:
                raise EmvProtocolError(f"the {what} response (format 1) is {len(value)} bytes")
            cid_bytes, atc, ac = value[0:1], value[1:3], value[3:11]
            iad: bytes | None = value[11:] or None
        elif template.tag == "77":
            tags = self._primitives(template, f"the {what} response")
            missing = [tag for tag in ("9F27", "9F36", "9F26") if tag not in tags]
            if missing:
                raise EmvProtocolError(
                    f"the {what} response lacks " + ", ".join(describe(tag) for tag in missing)
                )
            cid_bytes, atc, ac, iad = tags["9F27"], tags["9F36"], tags["9F26"], tags.get("9F10")
            extra = {
                tag: value
                for tag, value in tags.items()
                if tag not in ("9F27", "9F36", "9F26", "9F10")
            }
        else:
            raise EmvProtocolError(
                f"the {what} response starts with tag {template.tag}, expected 80 or 77"
            )
        if len(cid_bytes) != 1 or len(atc) != 2 or len(ac) != 8:
            raise EmvProtocolError(
                f"the {what} response has a malformed CID (1 byte), ATC (2) or cryptogram (8)"
            )
        return cid_bytes[0], atc, ac, iad, extra

    # -- 5. completion -----------------------------------------------------------------------------

    def second_generate_ac(
        self, response_code: str | None, issuer_auth_data: bytes | None
    ) -> SecondAc:
        first = self._first
        if self._stage is not _Stage.FIRST_AC or first is None:
            raise EmvSequenceError("second_generate_ac() comes once, after first_generate_ac()")
        if first.cid & CID_TYPE_MASK != CID_ARQC:
            raise EmvSequenceError(
                f"the card answered {first.kind} to the first GENERATE AC: "
                "there is nothing to complete"
            )
        arc = UNABLE_TO_GO_ONLINE if response_code is None else response_code
        if len(arc) != 2 or not arc.isascii():
            raise ValueError(f"an authorisation response code is 2 characters, got {arc!r}")
        self._stage = _Stage.SECOND_AC
        self._terminal["8A"] = arc.encode("ascii")
        issuer_authentication: bool | None = None
        by_external_authenticate = False
        if issuer_auth_data:
            self._terminal["91"] = bytes(issuer_auth_data)
            self._set(self._tsi, TSI_ISSUER_AUTH_PERFORMED)
            if self._aip[0] & AIP_ISSUER_AUTH:
                by_external_authenticate = True
                response = self._send(cmd.external_authenticate(bytes(issuer_auth_data)))
                issuer_authentication = response.ok
                if not response.ok:
                    self._set(self._tvr, TVR_ISSUER_AUTH_FAILED)
        approve = response_code is not None and response_code in APPROVAL_CODES
        reference = cmd.AC_TC if approve else cmd.AC_AAC
        cdol2 = self._card["8D"]
        try:
            data = tlv.build_dol_data(cdol2, self._dol_values())
        except EmvDataError as exc:
            raise EmvProtocolError(f"the card's CDOL2 (8D) is malformed: {exc}") from None
        response = self._send(cmd.generate_ac(reference, data))
        if not response.ok:
            raise EmvProtocolError(
                f"the card refused the second GENERATE AC: SW {response.sw:04X} "
                f"({status_text(response.sw)})"
            )
        cid, atc, ac, iad, _extra = self._parse_ac_response(response.data, "second GENERATE AC")
        kind = cid & CID_TYPE_MASK
        if kind not in (CID_TC, CID_AAC) or (reference == cmd.AC_AAC and kind != CID_AAC):
            raise EmvProtocolError(
                f"the card answered {_cid_kind(cid)} to the second GENERATE AC "
                f"(asked for {_cid_kind(reference)})"
            )
        if issuer_auth_data and not by_external_authenticate:
            issuer_authentication = _issuer_authentication_from_iad(iad)
            if issuer_authentication is None and reference == cmd.AC_TC and kind == CID_AAC:
                issuer_authentication = False
            if issuer_authentication is False:
                self._set(self._tvr, TVR_ISSUER_AUTH_FAILED)
        return SecondAc(
            cid=cid,
            approved=kind == CID_TC,
            issuer_authentication=issuer_authentication,
            cryptogram=ac,
            atc=atc,
        )

    def finish(self) -> None:
        """Power the card down. Safe to call at any point, and more than once."""
        if not self._connected:
            return
        self._connected = False
        # A card already gone has nothing to power down.
        with contextlib.suppress(DriverError):
            self._reader.disconnect()

    # -- helpers -----------------------------------------------------------------------------------

    def _send(self, apdu: bytes) -> ApduResponse:
        return self._reader.transmit(apdu)

    @staticmethod
    def _set(register: bytearray, bit: tuple[int, int]) -> None:
        register[bit[0]] |= bit[1]

    @staticmethod
    def _parse(data: bytes, what: str) -> list[tlv.TlvObject]:
        try:
            return tlv.parse(data)
        except EmvDataError as exc:
            raise EmvProtocolError(f"{what} is not valid TLV: {exc}") from None

    def _parse_template(self, data: bytes, tag: str, what: str) -> tlv.TlvObject:
        objects = self._parse(data, what)
        if len(objects) != 1 or objects[0].tag != tag or objects[0].children is None:
            found = ", ".join(obj.tag for obj in objects) or "nothing"
            raise EmvProtocolError(f"{what} should be one {describe(tag)} template, found {found}")
        return objects[0]

    @staticmethod
    def _primitives(template: tlv.TlvObject, what: str) -> dict[str, bytes]:
        tags: dict[str, bytes] = {}
        for obj in template.primitives():
            if obj.tag in tags:
                raise EmvProtocolError(f"{what} repeats {describe(obj.tag)}")
            tags[obj.tag] = obj.value
        return tags


def _issuer_authentication_from_iad(iad: bytes | None) -> bool | None:
    """Issuer authentication as the card's CVR (IAD bytes 3..6) reports it."""
    if iad is None or len(iad) < 7 or iad[3] != 0x03:
        return None
    cvr = iad[4:7]
    if cvr[0] & 0x08:  # issuer authentication performed and failed
        return False
    if cvr[1] & 0x04:  # issuer authentication not performed
        return None
    return True


def _text(value: bytes) -> str:
    return value.decode("ascii", "replace")


def _date_key(yymmdd: str) -> str:
    """YYMMDD -> YYYYMMDD with EMV's century rule (YY < 50 -> 20YY)."""
    year = int(yymmdd[:2])
    return f"{2000 + year if year < 50 else 1900 + year}{yymmdd[2:]}"


def _or(left: bytes, right: bytes) -> bytes:
    return bytes(
        a | b for a, b in zip(left.ljust(5, b"\x00"), right.ljust(5, b"\x00"), strict=False)
    )


def _intersects(register: bytes | bytearray, mask: bytes) -> bool:
    return any(a & b for a, b in zip(register, mask, strict=False))


__all__ = [
    "APPROVAL_CODES",
    "DE55_TAGS",
    "DEFAULT_AIDS",
    "AidEntry",
    "CardBlocked",
    "CardData",
    "CvmOutcome",
    "CvmResult",
    "EmvError",
    "EmvKernel",
    "EmvProtocolError",
    "EmvSequenceError",
    "FirstAc",
    "NoApplication",
    "PinRequest",
    "SecondAc",
    "TerminalEmvConfig",
]
