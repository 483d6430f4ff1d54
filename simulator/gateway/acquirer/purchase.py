"""``0200`` purchase -> ``0210`` (and ``0100`` pre-auth -> ``0110``): format, issuer
checks, the ledger, the reply.

A pre-authorisation (0100, DE3 ``030000``, :mod:`.preauth`) goes through the
same issuer checks as a purchase; it is recorded with its DE60.1 (``10``) and
holds the amount instead of charging it.

:func:`decide` runs the checks in the order docs/gateway.md gives, the first
one that fails deciding the answer:

1. format (DE39 ``30``, :func:`format_problems`): a missing or malformed
   required field, DE55 missing for a chip entry mode or unusable;
2. a retransmission (same DE41/DE11/DE7) gets the first answer again and is
   never charged twice (:meth:`.desk.Desk.retransmission`);
3. :meth:`Authoriser.authorise`, the issuer's side, returns a :class:`Verdict`:
   processing code (``12``), zero amount (``13``), issuer by BIN (``14``),
   the ARQC against the issuer's keys (``82``), the online PIN when DE52 is
   present (``55``/``75``/``63``, :mod:`simulator.gateway.pins`), then the
   magic amounts (:mod:`simulator.gateway.magic`, which may also mean no
   answer at all); approved otherwise.

The verdict is recorded in the ledger with the reply. An answered purchase
carries an RRN; an approved one an auth code; one whose ARQC verified an ARPC
in DE55 tag 91 (with the answer's ARC, so a declined card completes with an
AAC).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import attrs

from drivers.clock import Clock
from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from simulator.gateway.acquirer.desk import ECHO_0210, Decision, Desk
from simulator.gateway.acquirer.fields import (
    CHIP_ENTRY_MODES,
    CRYPTOGRAM_FAILED,
    INVALID_AMOUNT,
    INVALID_TRANSACTION,
    NO_TRANSMISSION_TIME,
    PREAUTH,
    PURCHASE,
    UNKNOWN_CARD,
    batch_of,
    digits,
    hex_bytes,
    icc_data,
    pan_of,
    pan_problems,
    preauth_type,
    track2_for_pin,
)
from simulator.gateway.issuers import Issuer, IssuerDirectory
from simulator.gateway.ledger import Status
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.pins import PinVerifier
from simulator.wire.iso8583 import response_mti
from simulator.wire.response_codes import APPROVED


@attrs.frozen
class Verdict:
    """The issuer's answer to a purchase: DE39 (None: no answer), the ledger status, why."""

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


@attrs.frozen
class Authoriser:
    """The issuer's checks of a well-formed purchase: card, ARQC, PIN, magic amounts."""

    issuers: IssuerDirectory
    magic: MagicAmounts
    pins: PinVerifier
    clock: Clock

    def authorise(self, req: Mapping[str, str], pan: str, icc: dict[str, bytes] | None) -> Verdict:
        supported = PREAUTH if req["t"] == "0100" else PURCHASE
        if req["3"] != supported:
            what = "pre-auth" if supported == PREAUTH else "purchase"
            note = f"processing code {req['3']} is not supported (only {supported} {what})"
            return Verdict(note, Status.DECLINED, INVALID_TRANSACTION)
        if int(req["4"]) == 0:
            return Verdict("zero amount", Status.DECLINED, INVALID_AMOUNT)
        issuer = self.issuers.lookup(pan)
        if issuer is None:
            return Verdict(f"no issuer for BIN {pan[:6]}", Status.DECLINED, UNKNOWN_CARD)
        tags = icc  # DE55, validated by the format checks
        icc_mk: bytes | None = None
        if tags is not None:
            psn = req.get("23", "000")[-2:]
            try:
                icc_mk = issuer.icc_master_key(pan, psn)
                expected = issuer.method.generate_ac(icc_mk, tags)
            except (EmvDataError, ValueError) as exc:
                note = f"ARQC cannot be checked: {exc}"
                return Verdict(note, Status.DECLINED, CRYPTOGRAM_FAILED, issuer)
            if not hmac.compare_digest(expected, tags["9F26"]):
                note = f"ARQC does not verify ({issuer.cryptogram_method}, PSN {psn})"
                return Verdict(note, Status.DECLINED, CRYPTOGRAM_FAILED, issuer)
        checked = "ARQC verified" if tags is not None else "no chip data"
        if "52" in req:
            pin = self.pins.check(
                tid=req["41"],
                pan=pan,
                de52=req["52"],
                track2=track2_for_pin(req, tags),
                issuer=issuer,
                today=self.clock.now().date(),
            )
            checked = f"{checked}; {pin.note}"
            if pin.code is not None:
                # The card still gets an ARPC (with this ARC) so it completes with an AAC.
                return Verdict(checked, Status.DECLINED, pin.code, issuer, tags, icc_mk)
        outcome = self.magic.outcome_for(req["4"])
        if outcome is None:
            return Verdict(f"{checked}; approved", Status.APPROVED, APPROVED, issuer, tags, icc_mk)
        note = f"{checked}; magic amount .{outcome.fen}: {outcome.meaning}"
        if outcome.response_code is None:
            return Verdict(note, Status.UNANSWERED, None, issuer, tags, icc_mk)
        code = outcome.response_code
        status = Status.APPROVED if code == APPROVED else Status.DECLINED
        return Verdict(note, status, code, issuer, tags, icc_mk)


def decide(desk: Desk, authoriser: Authoriser, req: Mapping[str, str]) -> Decision:
    icc, icc_problems = icc_data(req.get("55"))  # decoded once, checked and used
    problems = format_problems(desk, req, icc_problems)
    reply_mti = response_mti(req["t"])
    if problems:
        return desk.format_error(req, reply_mti, ECHO_0210, problems)
    pan = pan_of(req)
    assert pan is not None  # checked by the format checks
    tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
    with desk.lock:
        existing = desk.ledger.find(tid, stan, transmission)
        if existing is not None:
            return desk.retransmission(existing, req, pan)
        verdict = authoriser.authorise(req, pan, icc)
        reply: dict[str, str] | None = None
        rrn = auth_code = None
        if verdict.code is not None:
            rrn = desk.next_rrn()
            auth_code = desk.auth_code() if verdict.code == APPROVED else None
            reply = desk.reply(req, reply_mti, ECHO_0210, verdict.code)
            reply["37"] = rrn
            if auth_code is not None:
                reply["38"] = auth_code
            if verdict.arpc_inputs is not None:
                reply["55"] = arpc_data(*verdict.arpc_inputs, verdict.code)
        entry, created = desk.ledger.record_authorisation(
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
            mti=req["t"],
            processing_code=req["3"],
            issuer=None if verdict.issuer is None else verdict.issuer.name,
            note=verdict.note,
            response=reply,
            batch_no=batch_of(req),
            type_code=preauth_type(req),
        )
    if not created:  # another host on the same ledger got there first
        return desk.retransmission(entry, req, pan)
    return Decision(reply, verdict.note)


def format_problems(desk: Desk, req: Mapping[str, str], icc_problems: list[str]) -> list[str]:
    problems = desk.format_problems(req, (("22", 3, "entry mode"),))
    if "52" in req and not hex_bytes(req["52"], 8):
        problems.append("DE52 (PIN block) must be 8 bytes")
    if "23" in req and not digits(req["23"], 3):
        problems.append("DE23 (PAN sequence number) must be 3 digits")
    problems.extend(pan_problems(req))
    entry_mode = req.get("22", "")
    if "55" in req:
        problems.extend(icc_problems)
    elif entry_mode.startswith(CHIP_ENTRY_MODES):
        problems.append(f"DE55 (ICC data) is required for entry mode {entry_mode}")
    return problems


def arpc_data(issuer: Issuer, tags: Mapping[str, bytes], icc_mk: bytes, code: str) -> str:
    """DE55 for the reply: tag 91 = ARPC (8 bytes) || ARC (DE39 in ASCII)."""
    arc = code.encode("ascii")
    arpc = issuer.method.generate_arpc(icc_mk, tags, arc)
    return tlv.encode({"91": arpc + arc}).hex().upper()
