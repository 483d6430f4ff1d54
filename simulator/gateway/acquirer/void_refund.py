"""``0200``/``200000`` void -> ``0210``, ``0220``/``200000`` refund -> ``0230``.

Both name the sale they give money back against by its RRN (DE37) and are
recorded in the ledger with it (``original_rrn``), approved or not. Rules
(docs/settlement.md), the first that fails deciding the answer:

* void (:func:`void_verdict`): the sale exists for this merchant (``25``),
  with the auth code in DE38 if one is sent (``25``), was made on this
  terminal, was approved and is in the open batch (DE60.2) (``12``), is not
  already voided (``94``) nor (partly) refunded (``12``), and the amount is
  the sale's (``64``). An approved void keeps the sale's auth code.
* refund (:func:`refund_verdict`): the sale exists for this merchant and was
  paid with the card in DE2/DE35 (``25``), was approved and is not voided
  (``12``), the amount is not zero (``13``) and at most what is left of the
  sale after earlier refunds (``61``). An approved refund gets no auth code.

Another merchant's sale is "not found": it is not this merchant's to undo.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.wire.masking import mask_pan
from simulator.gateway.acquirer.desk import ECHO_VOID, Decision, Desk
from simulator.gateway.acquirer.fields import (
    DUPLICATE_TRANSMISSION,
    EXCEEDS_AMOUNT,
    INVALID_AMOUNT,
    INVALID_TRANSACTION,
    NO_TRANSMISSION_TIME,
    ORIGINAL_AMOUNT_INCORRECT,
    ORIGINAL_NOT_FOUND,
    RRN,
    VOID_OR_REFUND,
    batch_of,
    digits,
    pan_of,
    pan_problems,
)
from simulator.gateway.ledger import REFUND, VOID, LedgerEntry, Status
from simulator.wire.iso8583 import response_mti
from simulator.wire.response_codes import APPROVED


def decide(desk: Desk, req: Mapping[str, str]) -> Decision:
    void = req["t"] == "0200"
    reply_mti = response_mti(req["t"])
    problems = format_problems(desk, req, void)
    if problems:
        return desk.format_error(req, reply_mti, ECHO_VOID, problems)
    pan = None if void else pan_of(req)
    tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
    original_rrn = req["37"]
    ledger = desk.ledger
    with desk.lock:
        existing = ledger.find(tid, stan, transmission)
        if existing is not None:
            return desk.retransmission(existing, req, pan)
        original = ledger.find_sale(original_rrn)
        if original is not None and original.mid != req["42"]:
            original = None  # another merchant's sale is not this merchant's to undo
        code, note = (
            void_verdict(desk, req, original) if void else refund_verdict(desk, req, original)
        )
        reply = desk.reply(req, reply_mti, ECHO_VOID, code)
        rrn = auth_code = None
        if code == APPROVED:
            assert original is not None
            rrn = desk.next_rrn()
            # The void keeps the sale's authorisation; a refund gets none of its own.
            auth_code = original.auth_code if void else None
            reply["37"] = rrn
            if auth_code:
                reply["38"] = auth_code
        mti, processing_code = VOID if void else REFUND
        entry, created = ledger.record_authorisation(
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
        return desk.retransmission(entry, req, pan)
    return Decision(reply, note)


def void_verdict(desk: Desk, req: Mapping[str, str], sale: LedgerEntry | None) -> tuple[str, str]:
    """(DE39, note) for a well-formed void of ``sale`` (None: not found for this merchant)."""
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
    offsets = [e for e in desk.ledger.offsets(rrn) if e.status is Status.APPROVED]
    if any(e.kind == "void" for e in offsets):
        return DUPLICATE_TRANSMISSION, f"void: sale {rrn} is already voided"
    if any(e.kind == "refund" for e in offsets):
        return INVALID_TRANSACTION, f"void: sale {rrn} is already (partly) refunded"
    if int(req["4"]) != sale.amount:
        return ORIGINAL_AMOUNT_INCORRECT, (
            f"void: amount {int(req['4'])} fen is not the sale's {sale.amount} fen"
        )
    return APPROVED, f"void of sale {rrn} ({sale.amount} fen) approved"


def refund_verdict(desk: Desk, req: Mapping[str, str], sale: LedgerEntry | None) -> tuple[str, str]:
    """(DE39, note) for a well-formed refund of ``sale`` (None: not found for this merchant)."""
    rrn = req["37"]
    pan = pan_of(req)
    if sale is None:
        return ORIGINAL_NOT_FOUND, f"refund: no sale with RRN {rrn}"
    if pan is None or mask_pan(pan) != sale.masked_pan:
        return ORIGINAL_NOT_FOUND, f"refund: sale {rrn} was paid with another card"
    if sale.status is not Status.APPROVED:
        return INVALID_TRANSACTION, f"refund: sale {rrn} is {sale.status}, nothing to refund"
    offsets = [e for e in desk.ledger.offsets(rrn) if e.status is Status.APPROVED]
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


def format_problems(desk: Desk, req: Mapping[str, str], void: bool) -> list[str]:
    problems = desk.format_problems(req)
    if req.get("3") != VOID_OR_REFUND:
        problems.append(f"DE3 (processing code) must be {VOID_OR_REFUND}")
    if not RRN.match(req.get("37", "")):
        problems.append("DE37 (the sale's RRN) must be 12 characters")
    if "38" in req and not desk.fits("38", req["38"]):
        problems.append("DE38 (the sale's auth code) must be 6 characters")
    if void and not batch_of(req):
        problems.append("DE60 (message type and batch number) is required for a void")
    if not void:
        if not digits(req.get("22"), 3):
            problems.append("DE22 (entry mode) must be 3 digits")
        problems.extend(pan_problems(req))
    return problems
