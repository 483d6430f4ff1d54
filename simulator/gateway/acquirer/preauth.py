"""The pre-authorisation family: pre-auth, its void, completion (request or advice), its void.

Messages (CUP style, docs/gateway.md gives the sources), told apart by MTI,
DE3 and DE60.1:

==========================  ======  ========  =======  ===========================
what                        MTI     DE3       DE60.1   money
==========================  ======  ========  =======  ===========================
pre-auth                    0100    030000    10       held, not charged
pre-auth void               0100    200000    11       hold released
completion (online)         0200    000000    20       charged
completion advice           0220    000000    24       charged
completion void             0200    200000    21       credited back
==========================  ======  ========  =======  ===========================

A pre-auth goes through the purchase's issuer checks (:mod:`.purchase`). The
others name their original by its RRN (DE37) and auth code (DE38, required)
and are decided here, the first rule that fails deciding the answer:

* pre-auth void: the pre-auth exists for this merchant with that auth code
  (``25``), was approved (``12``), is not completed (``12``: void the
  completion first), not already voided (``94``), and the amount is the
  pre-auth's (``64``).
* completion: the pre-auth exists for this merchant with that auth code
  (``25``), was approved (``12``), is not voided (``12``), is within its
  validity (:class:`~simulator.gateway.preauth_rules.PreauthRules`, else
  ``25``: the hold is released), not completed already (``94``; a voided
  completion does not count), the amount is not zero (``13``) and at most the
  pre-auth plus the acquirer's tolerance (``61``). An approved completion keeps
  the pre-auth's auth code.
* completion void: the completion exists for this merchant with that auth code
  (``25``), was made on this terminal, approved and in the open batch
  (``12``), is not voided already (``94``), and the amount is the
  completion's (``64``). The pre-auth can then be completed (or voided) again.

Every row is recorded with its DE60.1 (``type_code``) and the original's RRN;
a retransmission gets the first answer (:meth:`.desk.Desk.retransmission`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from simulator.gateway.acquirer import purchase
from simulator.gateway.acquirer.desk import ECHO_VOID, Decision, Desk
from simulator.gateway.acquirer.fields import (
    DUPLICATE_TRANSMISSION,
    EXCEEDS_AMOUNT,
    INVALID_AMOUNT,
    INVALID_TRANSACTION,
    NO_TRANSMISSION_TIME,
    ORIGINAL_AMOUNT_INCORRECT,
    ORIGINAL_NOT_FOUND,
    PURCHASE,
    RRN,
    TYPE_COMPLETION,
    TYPE_COMPLETION_ADVICE,
    TYPE_COMPLETION_VOID,
    TYPE_PREAUTH,
    TYPE_PREAUTH_VOID,
    VOID_OR_REFUND,
    batch_of,
    preauth_type,
)
from simulator.gateway.ledger import LedgerEntry, Status
from simulator.gateway.preauth_rules import PreauthRules
from simulator.wire.iso8583 import response_mti
from simulator.wire.response_codes import APPROVED

COMPLETIONS = (TYPE_COMPLETION, TYPE_COMPLETION_ADVICE)
# DE3 each follow-up must carry.
_PROCESSING_CODES = {
    TYPE_PREAUTH_VOID: VOID_OR_REFUND,
    TYPE_COMPLETION: PURCHASE,
    TYPE_COMPLETION_ADVICE: PURCHASE,
    TYPE_COMPLETION_VOID: VOID_OR_REFUND,
}
_NAMES = {
    TYPE_PREAUTH_VOID: "pre-auth void",
    TYPE_COMPLETION: "completion",
    TYPE_COMPLETION_ADVICE: "completion advice",
    TYPE_COMPLETION_VOID: "completion void",
}


def handles(req: Mapping[str, str]) -> bool:
    """Is this request of the pre-authorisation family?"""
    return bool(preauth_type(req))


def decide(
    desk: Desk, authoriser: purchase.Authoriser, rules: PreauthRules, req: Mapping[str, str]
) -> Decision:
    family = preauth_type(req)
    if family == TYPE_PREAUTH:
        return purchase.decide(desk, authoriser, req)
    reply_mti = response_mti(req["t"])
    problems = format_problems(desk, req, family)
    if problems:
        return desk.format_error(req, reply_mti, ECHO_VOID, problems)
    tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
    original_rrn = req["37"]
    ledger = desk.ledger
    with desk.lock:
        existing = ledger.find(tid, stan, transmission)
        if existing is not None:
            return desk.retransmission(existing, req, None)
        wanted = COMPLETIONS if family == TYPE_COMPLETION_VOID else (TYPE_PREAUTH,)
        original = ledger.find_of_type(original_rrn, *wanted)
        if original is not None and original.mid != req["42"]:
            original = None  # another merchant's is not this merchant's to touch
        code, note = _verdict(desk, rules, req, family, original)
        reply = desk.reply(req, reply_mti, ECHO_VOID, code)
        rrn = auth_code = None
        if code == APPROVED:
            assert original is not None
            rrn = desk.next_rrn()
            auth_code = original.auth_code  # the authorisation the follow-up stands on
            reply["37"] = rrn
            if auth_code:
                reply["38"] = auth_code
        entry, created = ledger.record_authorisation(
            tid=tid,
            stan=stan,
            transmission=transmission,
            mid=req["42"],
            amount=int(req["4"]),
            currency=req["49"],
            pan="" if original is None else original.masked_pan,
            status=Status.APPROVED if code == APPROVED else Status.DECLINED,
            response_code=code,
            rrn=rrn,
            auth_code=auth_code,
            mti=req["t"],
            processing_code=req["3"],
            issuer=None if original is None else original.issuer,
            note=note,
            response=reply,
            batch_no=batch_of(req),
            original_rrn=original_rrn,
            type_code=family,
        )
    if not created:
        return desk.retransmission(entry, req, None)
    return Decision(reply, note)


def _verdict(
    desk: Desk,
    rules: PreauthRules,
    req: Mapping[str, str],
    family: str,
    original: LedgerEntry | None,
) -> tuple[str, str]:
    name = _NAMES[family]
    rrn = req["37"]
    what = "completion" if family == TYPE_COMPLETION_VOID else "pre-auth"
    if original is None:
        return ORIGINAL_NOT_FOUND, f"{name}: no {what} with RRN {rrn}"
    if req["38"] != (original.auth_code or ""):
        return ORIGINAL_NOT_FOUND, f"{name}: {what} {rrn} has another auth code"
    if original.status is not Status.APPROVED:
        return INVALID_TRANSACTION, f"{name}: {what} {rrn} is {original.status}"
    if family == TYPE_COMPLETION_VOID:
        return completion_void_verdict(desk, req, original)
    if family == TYPE_PREAUTH_VOID:
        return preauth_void_verdict(desk, req, original)
    return completion_verdict(desk, rules, req, original)


def _standing(desk: Desk, original: LedgerEntry) -> list[LedgerEntry]:
    """The approved rows that name ``original``, less completions voided since."""
    rows = [e for e in desk.ledger.offsets(original.rrn or "") if e.status is Status.APPROVED]
    return [e for e in rows if not (e.kind == "preauth_completion" and _voided(desk, e))]


def _voided(desk: Desk, completion: LedgerEntry) -> bool:
    return any(
        e.kind == "preauth_completion_void" and e.status is Status.APPROVED
        for e in desk.ledger.offsets(completion.rrn or "")
    )


def preauth_void_verdict(
    desk: Desk, req: Mapping[str, str], preauth: LedgerEntry
) -> tuple[str, str]:
    rrn = preauth.rrn
    standing = _standing(desk, preauth)
    if any(e.kind == "preauth_completion" for e in standing):
        return INVALID_TRANSACTION, (
            f"pre-auth void: pre-auth {rrn} is completed; void the completion first"
        )
    if any(e.kind == "preauth_void" for e in standing):
        return DUPLICATE_TRANSMISSION, f"pre-auth void: pre-auth {rrn} is already voided"
    if int(req["4"]) != preauth.amount:
        return ORIGINAL_AMOUNT_INCORRECT, (
            f"pre-auth void: amount {int(req['4'])} fen is not the pre-auth's {preauth.amount} fen"
        )
    return APPROVED, f"pre-auth void of {rrn} ({preauth.amount} fen released) approved"


def completion_verdict(
    desk: Desk, rules: PreauthRules, req: Mapping[str, str], preauth: LedgerEntry
) -> tuple[str, str]:
    rrn = preauth.rrn
    standing = _standing(desk, preauth)
    if any(e.kind == "preauth_void" for e in standing):
        return INVALID_TRANSACTION, f"completion: pre-auth {rrn} is voided"
    expires = preauth.created_at + timedelta(days=rules.validity_days)
    if desk.clock.now() >= expires:
        return ORIGINAL_NOT_FOUND, (
            f"completion: pre-auth {rrn} expired on {expires:%Y-%m-%d} "
            f"({rules.validity_days} days): the hold is released"
        )
    if any(e.kind == "preauth_completion" for e in standing):
        return DUPLICATE_TRANSMISSION, f"completion: pre-auth {rrn} is already completed"
    amount = int(req["4"])
    if amount == 0:
        return INVALID_AMOUNT, "completion: zero amount"
    limit = rules.completion_limit(preauth.amount)
    if amount > limit:
        return EXCEEDS_AMOUNT, (
            f"completion: {amount} fen is more than {limit} fen, the pre-auth's "
            f"{preauth.amount} fen + {rules.completion_tolerance_percent}%"
        )
    return APPROVED, (
        f"completion of pre-auth {rrn}: {amount} fen of {preauth.amount} fen approved"
    )


def completion_void_verdict(
    desk: Desk, req: Mapping[str, str], completion: LedgerEntry
) -> tuple[str, str]:
    rrn = completion.rrn
    if completion.tid != req["41"]:
        return INVALID_TRANSACTION, (
            f"completion void: completion {rrn} was made on terminal {completion.tid}"
        )
    if completion.batch_no != batch_of(req):
        return INVALID_TRANSACTION, (
            f"completion void: completion {rrn} is in batch {completion.batch_no or '(none)'}, "
            f"not the open batch {batch_of(req)}"
        )
    offsets = [e for e in desk.ledger.offsets(rrn or "") if e.status is Status.APPROVED]
    if any(e.kind == "preauth_completion_void" for e in offsets):
        return DUPLICATE_TRANSMISSION, f"completion void: completion {rrn} is already voided"
    if int(req["4"]) != completion.amount:
        return ORIGINAL_AMOUNT_INCORRECT, (
            f"completion void: amount {int(req['4'])} fen is not the completion's "
            f"{completion.amount} fen"
        )
    return APPROVED, f"completion void of {rrn} ({completion.amount} fen) approved"


def format_problems(desk: Desk, req: Mapping[str, str], family: str) -> list[str]:
    problems = desk.format_problems(req)
    expected = _PROCESSING_CODES[family]
    if req.get("3") != expected:
        problems.append(f"DE3 (processing code) must be {expected} for a {_NAMES[family]}")
    if not RRN.match(req.get("37", "")):
        problems.append("DE37 (the original's RRN) must be 12 characters")
    if not desk.fits("38", req.get("38")):
        problems.append("DE38 (the original's auth code) is required, 6 characters")
    if not batch_of(req):
        problems.append("DE60 (message type and batch number) is required")
    return problems
