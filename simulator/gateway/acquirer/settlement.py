"""``0500`` batch close -> ``0510``: the terminal's totals against the ledger's.

The request must carry DE11, DE41, DE42, DE60 (with the batch number, DE60.2)
and a DE48 of batch totals (:mod:`simulator.wire.batch_totals`), else DE39
``30``. The host counts the approved rows of that terminal and batch in its
ledger and compares them with DE48: equal -> result ``1`` balanced,
different -> ``2`` out of balance. Either way DE39 is ``00`` and the 0510
echoes DE48 with the result digit set. Each close is a settlement row keyed
by (DE41, DE11, DE7): a retransmission gets the first answer; the same key
with another batch or other totals -> ``94`` (docs/settlement.md).
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator.gateway.acquirer.desk import ECHO_0510, Decision, Desk
from simulator.gateway.acquirer.fields import (
    DUPLICATE_TRANSMISSION,
    NO_TRANSMISSION_TIME,
    batch_of,
    digits,
)
from simulator.wire.batch_totals import (
    DE48_LENGTH,
    SETTLE_BALANCED,
    SETTLE_OUT_OF_BALANCE,
    BatchTotals,
    decode_de48,
    encode_de48,
)
from simulator.wire.response_codes import APPROVED


def decide(desk: Desk, req: Mapping[str, str]) -> Decision:
    problems: list[str] = []
    if not digits(req.get("11"), 6):
        problems.append("DE11 (STAN) must be 6 digits")
    if "7" in req and not digits(req["7"], 10):
        problems.append("DE7 (transmission date-time) must be 10 digits")
    if not desk.fits("41", req.get("41")):
        problems.append("DE41 (terminal id) must be 8 characters")
    if not desk.fits("42", req.get("42")):
        problems.append("DE42 (merchant id) must be 15 characters")
    if not batch_of(req):
        problems.append("DE60 (message type and batch number) is required")
    decoded = decode_de48(req.get("48", ""))
    if decoded is None:
        problems.append(f"DE48 (batch totals) must be {DE48_LENGTH} digits")
    if problems or decoded is None:
        return desk.format_error(req, "0510", ECHO_0510, problems)
    sent, _ = decoded
    tid, stan, transmission = req["41"], req["11"], req.get("7", NO_TRANSMISSION_TIME)
    batch = batch_of(req)
    ledger = desk.ledger
    with desk.lock:
        existing = ledger.find_settlement(tid, stan, transmission)
        if existing is None:
            host = ledger.batch_totals(tid, batch)
            result = SETTLE_BALANCED if host == sent else SETTLE_OUT_OF_BALANCE
            reply = desk.reply(req, "0510", ECHO_0510, APPROVED)
            reply["48"] = encode_de48(sent, result)
            existing, _ = ledger.record_settlement(
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
            reply = desk.reply(req, "0510", ECHO_0510, DUPLICATE_TRANSMISSION)
            return Decision(reply, f"TID {tid} STAN {stan} already closed another batch")
        else:
            assert existing.response is not None
            return Decision(dict(existing.response), "retransmission: same settlement answer")
    assert existing.response is not None
    note = f"batch {batch} {existing.result.replace('_', ' ')}"
    if existing.result != "balanced":
        note += f" (terminal {_totals_text(sent)}; host {_totals_text(existing.host)})"
    return Decision(dict(existing.response), note)


def _totals_text(totals: BatchTotals) -> str:
    return (
        f"debit {totals.debit_count}/{totals.debit_total} fen, "
        f"credit {totals.credit_count}/{totals.credit_total} fen"
    )
