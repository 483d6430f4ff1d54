"""The acquirer host's decisions: ISO 8583 fields in, ISO 8583 fields out.

:class:`AcquirerHost` is transport-free -- the TCP server (``server.py``), an
in-process transport or a test can all call :meth:`AcquirerHost.handle` with a
decoded message and send back whatever it returns (``None``: send nothing).

* ``0200`` purchase: format checks (DE39 ``30``), issuer by BIN (``14``), ARQC
  check against the issuer's keys (``82``), online PIN check when DE52 is
  present (``55``/``75``/``63``, :mod:`simulator.gateway.pins`), then the magic
  amounts; approved
  replies carry an RRN, an auth code and, when the ARQC verified, an ARPC in
  DE55 tag 91. Retransmissions (same DE41/DE11/DE7) get the first answer again
  and are never charged twice. Auth codes come from ``rng`` (seeded in
  simulations, the OS's ``SystemRandom`` for ``possim gateway serve``) and are
  never one the ledger already holds, so a restart does not re-issue them.
* ``0200`` processing code ``200000``: void of a sale in the same batch, by
  the sale's RRN (DE37); ``0220`` processing code ``200000``: refund (partial
  allowed) by the sale's RRN; ``0500`` batch close: the terminal's totals (DE48)
  against the ledger's for its batch (DE60). Rules and codes:
  docs/settlement.md.
* ``0400``/``0401`` reversal: finds the original by DE41 + DE90 and undoes it
  (a sale, a void or a refund alike) -- except a sale that an approved void or
  refund already offsets: that reversal is refused (DE39 ``12``, the sale's RRN
  and auth code in DE37/DE38) and the sale stands (docs/settlement.md).
* ``0800`` network management: sign-on/sign-off/echo.
* any other request or advice MTI: answered with DE39 ``12``.

Every card row records the batch number from DE60 (CUP style: DE60.1 message
type code n2, DE60.2 batch number n6). A reply decided and recorded but lost
on the way back is a fault of the transport (:mod:`simulator.gateway.faults`).
"""

from __future__ import annotations

import hmac
import random
import re
import threading
from collections.abc import Mapping

import attrs

from drivers.clock import Clock
from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire.masking import mask_pan
from simulator.gateway.issuers import Issuer, IssuerDirectory
from simulator.gateway.ledger import (
    REFUND,
    VOID,
    Ledger,
    LedgerEntry,
    Status,
)
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.pins import PinVerifier, TerminalKeys
from simulator.wire import cryptogram
from simulator.wire.batch_totals import (
    DE48_LENGTH,
    SETTLE_BALANCED,
    SETTLE_OUT_OF_BALANCE,
    BatchTotals,
    decode_de48,
    encode_de48,
)
from simulator.wire.iso8583 import Iso8583Codec, is_request, response_mti
from simulator.wire.response_codes import APPROVED

# Fields each reply copies from its request (when present and well-formed).
ECHO_0210 = ("3", "4", "7", "11", "12", "13", "41", "42", "49")
ECHO_0410 = ("3", "4", "7", "11", "12", "13", "41", "42", "49", "90")
ECHO_0810 = ("7", "11", "41", "42", "70")
ECHO_OTHER = ("3", "4", "7", "11", "12", "13", "41", "42", "49")
ECHO_VOID = ("3", "4", "7", "11", "12", "13", "41", "42", "49", "60", "61")
ECHO_0510 = ("7", "11", "12", "13", "41", "42", "49", "60")

PURCHASE = "000000"
VOID_OR_REFUND = "200000"
NO_TRANSMISSION_TIME = "0000000000"  # DE7 absent: the key (and DE90) use zeros
NETWORK_CODES = {"001": "sign-on", "002": "sign-off", "301": "echo test"}
CHIP_ENTRY_MODES = ("05", "07")  # contact chip, contactless chip

FORMAT_ERROR = "30"
INVALID_TRANSACTION = "12"
INVALID_AMOUNT = "13"
UNKNOWN_CARD = "14"
CRYPTOGRAM_FAILED = "82"
DUPLICATE_TRANSMISSION = "94"
ORIGINAL_NOT_FOUND = "25"
EXCEEDS_AMOUNT = "61"
ORIGINAL_AMOUNT_INCORRECT = "64"

# Draws for an auth code the ledger has not issued yet: with half the million
# codes used, all of them collide with a chance of 2^-100.
AUTH_CODE_DRAWS = 100

_RRN = re.compile(r"^[0-9A-Za-z]{12}$")
_TRACK2_PAN = re.compile(r"^(\d{12,19})[=Dd]")
_PAN = re.compile(r"^\d{12,19}$")
_DE90 = re.compile(r"^\d{20}")


def _digits(value: str | None, count: int) -> bool:
    return value is not None and len(value) == count and value.isascii() and value.isdigit()


def _hex_bytes(value: str, count: int) -> bool:
    try:
        return len(bytes.fromhex(value)) == count
    except ValueError:
        return False


def track2_for_pin(req: Mapping[str, str], icc: Mapping[str, bytes] | None) -> str | None:
    """Track 2 for the PIN offset: DE35, else the chip's tag 57 from DE55."""
    if "35" in req:
        return req["35"]
    if icc is not None and "57" in icc:
        return icc["57"].hex().upper().rstrip("F")
    return None


def batch_of(req: Mapping[str, str]) -> str:
    """DE60.2, the terminal's batch number ('' when DE60 is absent or too short)."""
    de60 = req.get("60", "")
    batch = de60[2:8]
    return batch if _digits(batch, 6) else ""


def message_kind(req: Mapping[str, str]) -> str:
    """sale, void, refund, reversal, settle, network or other."""
    mti, code = req.get("t", ""), req.get("3", "")
    if mti == "0200":
        return "void" if code == VOID_OR_REFUND else "sale"
    return {
        "0220": "refund",
        "0400": "reversal",
        "0401": "reversal",
        "0500": "settle",
        "0800": "network",
    }.get(mti, "other")


@attrs.frozen
class Decision:
    """What the host does with one message: the reply (None = silence) and why."""

    reply: dict[str, str] | None
    note: str


@attrs.frozen
class _Verdict:
    note: str
    status: Status
    code: str | None  # DE39; None: no answer
    issuer: Issuer | None = None
    tags: dict[str, bytes] | None = None  # ICC data whose ARQC verified
    icc_mk: bytes | None = attrs.field(default=None, repr=False)

    @property
    def arpc_inputs(self) -> tuple[Issuer, dict[str, bytes], bytes] | None:
        if self.issuer is None or self.tags is None or self.icc_mk is None:
            return None
        return (self.issuer, self.tags, self.icc_mk)


def _totals_text(totals: BatchTotals) -> str:
    return (
        f"debit {totals.debit_count}/{totals.debit_total} fen, "
        f"credit {totals.credit_count}/{totals.credit_total} fen"
    )


def _arpc_data(issuer: Issuer, tags: Mapping[str, bytes], icc_mk: bytes, code: str) -> str:
    """DE55 for the reply: tag 91 = ARPC (8 bytes) || ARC (DE39 in ASCII)."""
    arc = code.encode("ascii")
    arpc = issuer.method.generate_arpc(icc_mk, tags, arc)
    return tlv.encode({"91": arpc + arc}).hex().upper()


class AcquirerHost:
    def __init__(
        self,
        ledger: Ledger,
        issuers: IssuerDirectory,
        magic: MagicAmounts,
        clock: Clock,
        rng: random.Random,
        codec: Iso8583Codec,
        pins: PinVerifier | None = None,
    ) -> None:
        self._ledger = ledger
        self._pins = pins if pins is not None else PinVerifier(TerminalKeys.load())
        self._issuers = issuers
        self._magic = magic
        self._clock = clock
        self._rng = rng
        self._codec = codec
        self._lock = threading.Lock()
        self._rrn_counter = ledger.last_id()

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    def handle(self, fields: Mapping[str, str]) -> dict[str, str] | None:
        """The reply to one decoded message, or None to send nothing."""
        return self.decide(fields).reply

    def decide(self, fields: Mapping[str, str]) -> Decision:
        mti = fields.get("t", "")
        if not _digits(mti, 4):
            return Decision(None, f"MTI {mti!r} is not 4 digits; nothing to answer")
        if mti == "0200" and fields.get("3") == VOID_OR_REFUND:
            return self._void_or_refund(fields)
        if mti == "0220" and fields.get("3") == VOID_OR_REFUND:
            return self._void_or_refund(fields)
        if mti == "0500":
            return self._settle(fields)
        if mti == "0200":
            return self._purchase(fields)
        if mti in ("0400", "0401"):
            return self._reversal(fields)
        if mti == "0800":
            return self._network(fields)
        if is_request(mti):
            reply = self._reply(fields, response_mti(mti), ECHO_OTHER, INVALID_TRANSACTION)
            return Decision(reply, f"message type {mti} is not supported")
        return Decision(None, f"{mti} is not a request; nothing to answer")

    # -- 0200 purchase -----------------------------------------------------------

    def _purchase(self, req: Mapping[str, str]) -> Decision:
        icc, icc_problems = self._icc_data(req.get("55"))  # decoded once, checked and used
        problems = self._purchase_format_problems(req, icc_problems)
        if problems:
            rejection = self._reply(req, "0210", ECHO_0210, FORMAT_ERROR)
            return Decision(rejection, "format error: " + "; ".join(problems))
        pan = self._pan(req)
        assert pan is not None  # checked by the format checks
        tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
        with self._lock:
            existing = self._ledger.find(tid, stan, transmission)
            if existing is not None:
                return self._retransmission(existing, req, pan)
            verdict = self._authorise(req, pan, icc)
            reply: dict[str, str] | None = None
            rrn = auth_code = None
            if verdict.code is not None:
                rrn = self._next_rrn()
                auth_code = self._auth_code() if verdict.code == APPROVED else None
                reply = self._reply(req, "0210", ECHO_0210, verdict.code)
                reply["37"] = rrn
                if auth_code is not None:
                    reply["38"] = auth_code
                if verdict.arpc_inputs is not None:
                    reply["55"] = _arpc_data(*verdict.arpc_inputs, verdict.code)
            entry, created = self._ledger.record_authorisation(
                tid=tid,
                stan=stan,
                transmission=transmission,
                mid=req["42"],
                amount=int(req["4"]),
                currency=req["49"],
                pan=pan,
                status=verdict.status,
                response_code=verdict.code,
                rrn=rrn,
                auth_code=auth_code,
                processing_code=req["3"],
                issuer=None if verdict.issuer is None else verdict.issuer.name,
                note=verdict.note,
                response=reply,
                batch_no=batch_of(req),
            )
        if not created:  # another host on the same ledger got there first
            return self._retransmission(entry, req, pan)
        return Decision(reply, verdict.note)

    def _authorise(
        self, req: Mapping[str, str], pan: str, icc: dict[str, bytes] | None
    ) -> _Verdict:
        if req["3"] != PURCHASE:
            note = f"processing code {req['3']} is not supported (only {PURCHASE} purchase)"
            return _Verdict(note, Status.DECLINED, INVALID_TRANSACTION)
        if int(req["4"]) == 0:
            return _Verdict("zero amount", Status.DECLINED, INVALID_AMOUNT)
        issuer = self._issuers.lookup(pan)
        if issuer is None:
            return _Verdict(f"no issuer for BIN {pan[:6]}", Status.DECLINED, UNKNOWN_CARD)
        tags = icc  # DE55, validated by the format checks
        icc_mk: bytes | None = None
        if tags is not None:
            psn = req.get("23", "000")[-2:]
            try:
                icc_mk = issuer.icc_master_key(pan, psn)
                expected = issuer.method.generate_ac(icc_mk, tags)
            except (EmvDataError, ValueError) as exc:
                note = f"ARQC cannot be checked: {exc}"
                return _Verdict(note, Status.DECLINED, CRYPTOGRAM_FAILED, issuer)
            if not hmac.compare_digest(expected, tags["9F26"]):
                note = f"ARQC does not verify ({issuer.cryptogram_method}, PSN {psn})"
                return _Verdict(note, Status.DECLINED, CRYPTOGRAM_FAILED, issuer)
        checked = "ARQC verified" if tags is not None else "no chip data"
        if "52" in req:
            pin = self._pins.check(
                tid=req["41"],
                pan=pan,
                de52=req["52"],
                track2=track2_for_pin(req, tags),
                issuer=issuer,
                today=self._clock.now().date(),
            )
            checked = f"{checked}; {pin.note}"
            if pin.code is not None:
                # The card still gets an ARPC (with this ARC) so it completes with an AAC.
                return _Verdict(checked, Status.DECLINED, pin.code, issuer, tags, icc_mk)
        outcome = self._magic.outcome_for(req["4"])
        if outcome is None:
            return _Verdict(f"{checked}; approved", Status.APPROVED, APPROVED, issuer, tags, icc_mk)
        note = f"{checked}; magic amount .{outcome.fen}: {outcome.meaning}"
        if outcome.response_code is None:
            return _Verdict(note, Status.UNANSWERED, None, issuer, tags, icc_mk)
        code = outcome.response_code
        status = Status.APPROVED if code == APPROVED else Status.DECLINED
        return _Verdict(note, status, code, issuer, tags, icc_mk)

    def _retransmission(
        self, entry: LedgerEntry, req: Mapping[str, str], pan: str | None
    ) -> Decision:
        same = (
            entry.mti == req["t"]
            and entry.amount == int(req["4"])
            and entry.currency == req["49"]
            and entry.mid == req["42"]
            and entry.processing_code == req["3"]
            and (pan is None or entry.masked_pan == mask_pan(pan))
        )
        if not same:
            reply = self._reply(req, response_mti(req["t"]), ECHO_0210, DUPLICATE_TRANSMISSION)
            return Decision(
                reply,
                f"TID {entry.tid} STAN {entry.stan} DE7 {entry.transmission} already names a "
                "different transaction",
            )
        if entry.response is None:
            return Decision(None, "retransmission of an unanswered request: still no answer")
        return Decision(
            dict(entry.response),
            f"retransmission: same answer as the first time (ledger status {entry.status})",
        )

    def _common_format_problems(
        self, req: Mapping[str, str], extra_digits: tuple[tuple[str, int, str], ...] = ()
    ) -> list[str]:
        """What every purchase, void and refund request must carry, and how."""
        problems: list[str] = []
        for key, count, name in (
            ("3", 6, "processing code"),
            ("4", 12, "amount"),
            ("11", 6, "STAN"),
            ("49", 3, "currency"),
            *extra_digits,
        ):
            if not _digits(req.get(key), count):
                problems.append(f"DE{key} ({name}) must be {count} digits")
        if "7" in req and not _digits(req["7"], 10):
            problems.append("DE7 (transmission date-time) must be 10 digits")
        if not self._fits("41", req.get("41")):
            problems.append("DE41 (terminal id) must be 8 characters")
        if not self._fits("42", req.get("42")):
            problems.append("DE42 (merchant id) must be 15 characters")
        return problems

    def _purchase_format_problems(
        self, req: Mapping[str, str], icc_problems: list[str]
    ) -> list[str]:
        problems = self._common_format_problems(req, (("22", 3, "entry mode"),))
        if "52" in req and not _hex_bytes(req["52"], 8):
            problems.append("DE52 (PIN block) must be 8 bytes")
        if "23" in req and not _digits(req["23"], 3):
            problems.append("DE23 (PAN sequence number) must be 3 digits")
        problems.extend(self._pan_problems(req))
        entry_mode = req.get("22", "")
        if "55" in req:
            problems.extend(icc_problems)
        elif entry_mode.startswith(CHIP_ENTRY_MODES):
            problems.append(f"DE55 (ICC data) is required for entry mode {entry_mode}")
        return problems

    @staticmethod
    def _pan_problems(req: Mapping[str, str]) -> list[str]:
        pan = req.get("2")
        track2 = req.get("35")
        if pan is None and track2 is None:
            return ["DE2 (PAN) or DE35 (track 2) is required"]
        if pan is not None and not (pan.isascii() and _PAN.match(pan)):
            return ["DE2 (PAN) must be 12-19 digits"]
        if track2 is not None:
            match = _TRACK2_PAN.match(track2) if track2.isascii() else None
            if match is None:
                return ["DE35 (track 2) does not start with a PAN and a separator"]
            if pan is not None and match.group(1) != pan:
                return ["DE35 (track 2) and DE2 (PAN) disagree"]
        return []

    @staticmethod
    def _icc_data(de55: str | None) -> tuple[dict[str, bytes] | None, list[str]]:
        """DE55's tags (None if absent or unusable) and what is wrong with them."""
        if de55 is None:
            return None, []
        try:
            data = bytes.fromhex(de55)
        except ValueError:
            return None, ["DE55 (ICC data) is not binary data"]
        try:
            tags = tlv.decode_flat(data)
        except EmvDataError as exc:
            return None, [f"DE55 (ICC data): {exc}"]
        needed = ("9F26", *cryptogram.AC_INPUT_TAGS, "9F10")
        missing = [tag for tag in needed if tag not in tags]
        if missing:
            return None, [f"DE55 (ICC data) lacks tag(s) {', '.join(missing)}"]
        if len(tags["9F26"]) != 8:
            return None, ["DE55 tag 9F26 (ARQC) must be 8 bytes"]
        return tags, []

    @staticmethod
    def _pan(req: Mapping[str, str]) -> str | None:
        if "2" in req:
            return req["2"]
        match = _TRACK2_PAN.match(req.get("35", ""))
        return match.group(1) if match else None

    def _next_rrn(self) -> str:
        self._rrn_counter += 1
        return f"{self._clock.now():%y%m%d}{self._rrn_counter % 1_000_000:06d}"

    def _auth_code(self) -> str:
        """Six digits this ledger has never issued (the ledger outlives the process)."""
        for _ in range(AUTH_CODE_DRAWS):
            code = f"{self._rng.randrange(1_000_000):06d}"
            if not self._ledger.auth_code_issued(code):
                return code
        # A ledger holding nearly all million codes: repeat one rather than refuse
        # the sale (docs/reliability.md).
        return code

    # -- 0200/200000 void, 0220/200000 refund ---------------------------------------

    def _void_or_refund(self, req: Mapping[str, str]) -> Decision:
        void = req["t"] == "0200"
        reply_mti = response_mti(req["t"])
        problems = self._void_refund_format_problems(req, void)
        if problems:
            rejection = self._reply(req, reply_mti, ECHO_VOID, FORMAT_ERROR)
            return Decision(rejection, "format error: " + "; ".join(problems))
        pan = None if void else self._pan(req)
        tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
        original_rrn = req["37"]
        with self._lock:
            existing = self._ledger.find(tid, stan, transmission)
            if existing is not None:
                return self._retransmission(existing, req, pan)
            original = self._ledger.find_sale(original_rrn)
            if original is not None and original.mid != req["42"]:
                original = None  # another merchant's sale is not this merchant's to undo
            code, note = (
                self._void_verdict(req, original) if void else self._refund_verdict(req, original)
            )
            reply = self._reply(req, reply_mti, ECHO_VOID, code)
            rrn = auth_code = None
            if code == APPROVED:
                assert original is not None
                rrn = self._next_rrn()
                # The void keeps the sale's authorisation; a refund gets none of its own.
                auth_code = original.auth_code if void else None
                reply["37"] = rrn
                if auth_code:
                    reply["38"] = auth_code
            mti, processing_code = VOID if void else REFUND
            entry, created = self._ledger.record_authorisation(
                tid=tid,
                stan=stan,
                transmission=transmission,
                mid=req["42"],
                amount=int(req["4"]),
                currency=req["49"],
                pan=pan if pan is not None else ("" if original is None else original.masked_pan),
                status=Status.APPROVED if code == APPROVED else Status.DECLINED,
                response_code=code,
                rrn=rrn,
                auth_code=auth_code,
                mti=mti,
                processing_code=processing_code,
                issuer=None if original is None else original.issuer,
                note=note,
                response=reply,
                batch_no=batch_of(req),
                original_rrn=original_rrn,
            )
        if not created:
            return self._retransmission(entry, req, pan)
        return Decision(reply, note)

    def _void_verdict(self, req: Mapping[str, str], sale: LedgerEntry | None) -> tuple[str, str]:
        rrn = req["37"]
        if sale is None:
            return ORIGINAL_NOT_FOUND, f"void: no sale with RRN {rrn}"
        if "38" in req and req["38"] != (sale.auth_code or ""):
            return ORIGINAL_NOT_FOUND, f"void: sale {rrn} has another auth code"
        if sale.tid != req["41"]:
            return INVALID_TRANSACTION, f"void: sale {rrn} was made on terminal {sale.tid}"
        if sale.status is not Status.APPROVED:
            return INVALID_TRANSACTION, f"void: sale {rrn} is {sale.status}, nothing to void"
        if sale.batch_no != batch_of(req):
            return INVALID_TRANSACTION, (
                f"void: sale {rrn} is in batch {sale.batch_no or '(none)'}, not the open batch "
                f"{batch_of(req)}: refund it instead"
            )
        offsets = [e for e in self._ledger.offsets(rrn) if e.status is Status.APPROVED]
        if any(e.kind == "void" for e in offsets):
            return DUPLICATE_TRANSMISSION, f"void: sale {rrn} is already voided"
        if any(e.kind == "refund" for e in offsets):
            return INVALID_TRANSACTION, f"void: sale {rrn} is already (partly) refunded"
        if int(req["4"]) != sale.amount:
            return ORIGINAL_AMOUNT_INCORRECT, (
                f"void: amount {int(req['4'])} fen is not the sale's {sale.amount} fen"
            )
        return APPROVED, f"void of sale {rrn} ({sale.amount} fen) approved"

    def _refund_verdict(self, req: Mapping[str, str], sale: LedgerEntry | None) -> tuple[str, str]:
        rrn = req["37"]
        pan = self._pan(req)
        if sale is None:
            return ORIGINAL_NOT_FOUND, f"refund: no sale with RRN {rrn}"
        if pan is None or mask_pan(pan) != sale.masked_pan:
            return ORIGINAL_NOT_FOUND, f"refund: sale {rrn} was paid with another card"
        if sale.status is not Status.APPROVED:
            return INVALID_TRANSACTION, f"refund: sale {rrn} is {sale.status}, nothing to refund"
        offsets = [e for e in self._ledger.offsets(rrn) if e.status is Status.APPROVED]
        if any(e.kind == "void" for e in offsets):
            return INVALID_TRANSACTION, f"refund: sale {rrn} is voided"
        amount = int(req["4"])
        if amount == 0:
            return INVALID_AMOUNT, "refund: zero amount"
        left = sale.amount - sum(e.amount for e in offsets if e.kind == "refund")
        if amount > left:
            return EXCEEDS_AMOUNT, (
                f"refund: {amount} fen is more than the {left} fen left of sale {rrn}"
            )
        return APPROVED, f"refund of {amount} fen of sale {rrn} approved ({left - amount} left)"

    def _void_refund_format_problems(self, req: Mapping[str, str], void: bool) -> list[str]:
        problems = self._common_format_problems(req)
        if req.get("3") != VOID_OR_REFUND:
            problems.append(f"DE3 (processing code) must be {VOID_OR_REFUND}")
        if not _RRN.match(req.get("37", "")):
            problems.append("DE37 (the sale's RRN) must be 12 characters")
        if "38" in req and not self._fits("38", req["38"]):
            problems.append("DE38 (the sale's auth code) must be 6 characters")
        if void and not batch_of(req):
            problems.append("DE60 (message type and batch number) is required for a void")
        if not void:
            if not _digits(req.get("22"), 3):
                problems.append("DE22 (entry mode) must be 3 digits")
            problems.extend(self._pan_problems(req))
        return problems

    # -- 0500 batch close ------------------------------------------------------------

    def _settle(self, req: Mapping[str, str]) -> Decision:
        problems: list[str] = []
        if not _digits(req.get("11"), 6):
            problems.append("DE11 (STAN) must be 6 digits")
        if "7" in req and not _digits(req["7"], 10):
            problems.append("DE7 (transmission date-time) must be 10 digits")
        if not self._fits("41", req.get("41")):
            problems.append("DE41 (terminal id) must be 8 characters")
        if not self._fits("42", req.get("42")):
            problems.append("DE42 (merchant id) must be 15 characters")
        if not batch_of(req):
            problems.append("DE60 (message type and batch number) is required")
        decoded = decode_de48(req.get("48", ""))
        if decoded is None:
            problems.append(f"DE48 (batch totals) must be {DE48_LENGTH} digits")
        if problems or decoded is None:
            reply = self._reply(req, "0510", ECHO_0510, FORMAT_ERROR)
            return Decision(reply, "format error: " + "; ".join(problems))
        sent, _ = decoded
        tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
        batch = batch_of(req)
        with self._lock:
            existing = self._ledger.find_settlement(tid, stan, transmission)
            if existing is None:
                host = self._ledger.batch_totals(tid, batch)
                result = SETTLE_BALANCED if host == sent else SETTLE_OUT_OF_BALANCE
                reply = self._reply(req, "0510", ECHO_0510, APPROVED)
                reply["48"] = encode_de48(sent, result)
                existing, _ = self._ledger.record_settlement(
                    tid=tid,
                    mid=req["42"],
                    batch_no=batch,
                    stan=stan,
                    transmission=transmission,
                    sent=sent,
                    host=host,
                    response=reply,
                )
            elif existing.batch_no != batch or existing.sent != sent:
                reply = self._reply(req, "0510", ECHO_0510, DUPLICATE_TRANSMISSION)
                return Decision(reply, f"TID {tid} STAN {stan} already closed another batch")
            else:
                assert existing.response is not None
                return Decision(dict(existing.response), "retransmission: same settlement answer")
        assert existing.response is not None
        note = f"batch {batch} {existing.result.replace('_', ' ')}"
        if existing.result != "balanced":
            note += f" (terminal {_totals_text(sent)}; host {_totals_text(existing.host)})"
        return Decision(dict(existing.response), note)

    # -- 0400 reversal -----------------------------------------------------------

    def _reversal(self, req: Mapping[str, str]) -> Decision:
        problems: list[str] = []
        if not _digits(req.get("11"), 6):
            problems.append("DE11 (STAN) must be 6 digits")
        if not self._fits("41", req.get("41")):
            problems.append("DE41 (terminal id) must be 8 characters")
        de90 = req.get("90", "")
        if not (de90.isascii() and _DE90.match(de90)):
            problems.append("DE90 (original data elements) must start with MTI, STAN and DE7")
        if problems:
            reply = self._reply(req, "0410", ECHO_0410, FORMAT_ERROR)
            return Decision(reply, "format error: " + "; ".join(problems))
        original_mti, stan, transmission = de90[:4], de90[4:10], de90[10:20]
        with self._lock:
            outcome = self._ledger.reverse(req["41"], stan, transmission)
        before, after = outcome.before, outcome.after
        what = f"original {original_mti} STAN {stan} DE7 {transmission}"
        if outcome.refused is not None and before is not None:
            # The original stands: say which (RRN, auth code) so the terminal can book it.
            reply = self._reply(req, "0410", ECHO_0410, INVALID_TRANSACTION)
            if before.rrn:
                reply["37"] = before.rrn
            if before.auth_code:
                reply["38"] = before.auth_code
            return Decision(reply, f"{what} stands, reversal refused: {outcome.refused}")
        if before is None or after is None:
            note = f"{what} not found: nothing to undo"
        elif before.status is Status.APPROVED:
            note = f"{what} reversed ({after.amount} fen released)"
        elif before.status is Status.REVERSED:
            note = f"{what} was already reversed"
        else:
            note = f"{what} was {before.status}: nothing to undo"
        return Decision(self._reply(req, "0410", ECHO_0410, APPROVED), note)

    # -- 0800 network management -------------------------------------------------

    def _network(self, req: Mapping[str, str]) -> Decision:
        code = req.get("70")
        if not _digits(code, 3):
            reply = self._reply(req, "0810", ECHO_0810, FORMAT_ERROR)
            return Decision(reply, "format error: DE70 (network management code) is required")
        assert code is not None
        name = NETWORK_CODES.get(code)
        if name is None:
            reply = self._reply(req, "0810", ECHO_0810, INVALID_TRANSACTION)
            return Decision(reply, f"network management code {code} is not supported")
        return Decision(self._reply(req, "0810", ECHO_0810, APPROVED), name)

    # -- replies -----------------------------------------------------------------

    def _reply(
        self, req: Mapping[str, str], mti: str, echo: tuple[str, ...], code: str
    ) -> dict[str, str]:
        reply = {"t": mti}
        for key in echo:
            value = req.get(key)
            if value is not None and self._fits(key, value):
                reply[key] = value
        reply["39"] = code
        return reply

    def _fits(self, key: str, value: str | None) -> bool:
        """Would ``value`` encode as field ``key`` under the codec's spec?"""
        spec = self._codec.spec.fields.get(key)
        if value is None or spec is None:
            return False
        if spec["data_enc"] == "b":
            try:
                length = len(bytes.fromhex(value))
            except ValueError:
                return False
        else:
            if not value.isascii() or not value.isprintable():
                return False
            length = len(value)
        max_len = int(spec["max_len"])
        if int(spec["len_type"]) == 0:
            return length == max_len
        return 0 < length <= max_len
