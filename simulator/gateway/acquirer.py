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
  and are never charged twice.
* ``0400``/``0401`` reversal: finds the original by DE41 + DE90 and undoes it.
* ``0800`` network management: sign-on/sign-off/echo.
* any other request or advice MTI: answered with DE39 ``12``.
"""

from __future__ import annotations

import hmac
import random
import re
import threading
from collections.abc import Mapping

import attrs

from drivers.clock import Clock
from simulator.emv import cryptogram, tlv
from simulator.errors import EmvDataError
from simulator.gateway.issuers import Issuer, IssuerDirectory
from simulator.gateway.ledger import Ledger, LedgerEntry, Status
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.pins import PinVerifier, TerminalKeys
from simulator.redact import mask_pan
from simulator.wire.iso8583 import Iso8583Codec
from simulator.wire.response_codes import APPROVED

# Fields each reply copies from its request (when present and well-formed).
ECHO_0210 = ("3", "4", "7", "11", "12", "13", "41", "42", "49")
ECHO_0410 = ("3", "4", "7", "11", "12", "13", "41", "42", "49", "90")
ECHO_0810 = ("7", "11", "41", "42", "70")
ECHO_OTHER = ("3", "4", "7", "11", "12", "13", "41", "42", "49")

PURCHASE = "000000"
NO_TRANSMISSION_TIME = "0000000000"  # DE7 absent: the key (and DE90) use zeros
NETWORK_CODES = {"001": "sign-on", "002": "sign-off", "301": "echo test"}
CHIP_ENTRY_MODES = ("05", "07")  # contact chip, contactless chip

FORMAT_ERROR = "30"
INVALID_TRANSACTION = "12"
INVALID_AMOUNT = "13"
UNKNOWN_CARD = "14"
CRYPTOGRAM_FAILED = "82"
DUPLICATE_TRANSMISSION = "94"

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


def is_request(mti: str) -> bool:
    """Requests and advices (function digit 0 or 2) expect a response (digit + 1)."""
    return _digits(mti, 4) and mti[2] in "02"


def response_mti(mti: str) -> str:
    return f"{mti[:2]}{int(mti[2]) + 1}0"


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

    def _retransmission(self, entry: LedgerEntry, req: Mapping[str, str], pan: str) -> Decision:
        same = (
            entry.amount == int(req["4"])
            and entry.currency == req["49"]
            and entry.mid == req["42"]
            and entry.processing_code == req["3"]
            and entry.masked_pan == mask_pan(pan)
        )
        if not same:
            reply = self._reply(req, "0210", ECHO_0210, DUPLICATE_TRANSMISSION)
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

    def _purchase_format_problems(
        self, req: Mapping[str, str], icc_problems: list[str]
    ) -> list[str]:
        problems: list[str] = []
        for key, count, name in (
            ("3", 6, "processing code"),
            ("4", 12, "amount"),
            ("11", 6, "STAN"),
            ("22", 3, "entry mode"),
            ("49", 3, "currency"),
        ):
            if not _digits(req.get(key), count):
                problems.append(f"DE{key} ({name}) must be {count} digits")
        if "7" in req and not _digits(req["7"], 10):
            problems.append("DE7 (transmission date-time) must be 10 digits")
        if "52" in req and not _hex_bytes(req["52"], 8):
            problems.append("DE52 (PIN block) must be 8 bytes")
        if "23" in req and not _digits(req["23"], 3):
            problems.append("DE23 (PAN sequence number) must be 3 digits")
        if not self._fits("41", req.get("41")):
            problems.append("DE41 (terminal id) must be 8 characters")
        if not self._fits("42", req.get("42")):
            problems.append("DE42 (merchant id) must be 15 characters")
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
        return f"{self._rng.randrange(1_000_000):06d}"

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
            before = self._ledger.find(req["41"], stan, transmission)
            after = self._ledger.reverse(req["41"], stan, transmission)
        what = f"original {original_mti} STAN {stan} DE7 {transmission}"
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
