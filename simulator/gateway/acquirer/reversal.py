"""``0400``/``0401`` reversal -> ``0410``: undo the original DE90 names, unless it must stand.

DE90 names the original by its MTI, STAN and DE7; with the request's DE41
that is the ledger key. The ledger decides (``Ledger.reverse``, one
transaction): an approved sale, void or refund is reversed; a declined,
unanswered, already reversed or unknown original leaves nothing to undo --
both answered DE39 ``00``. A sale that an approved void or refund already
offsets stands: the reversal is refused with DE39 ``12``, the sale's RRN and
auth code in DE37/DE38 so the terminal can book it, and the refusal sticks
(a later reversal of that sale is refused too, even once its voids and refunds
are reversed). Rules and why: docs/settlement.md, docs/gateway.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from simulator.gateway.acquirer.desk import ECHO_0410, Decision, Desk
from simulator.gateway.acquirer.fields import INVALID_TRANSACTION, digits
from simulator.gateway.ledger import Status
from simulator.wire.response_codes import APPROVED

_DE90 = re.compile(r"^\d{20}")


def decide(desk: Desk, req: Mapping[str, str]) -> Decision:
    problems: list[str] = []
    if not digits(req.get("11"), 6):
        problems.append("DE11 (STAN) must be 6 digits")
    if not desk.fits("41", req.get("41")):
        problems.append("DE41 (terminal id) must be 8 characters")
    de90 = req.get("90", "")
    if not (de90.isascii() and _DE90.match(de90)):
        problems.append("DE90 (original data elements) must start with MTI, STAN and DE7")
    if problems:
        return desk.format_error(req, "0410", ECHO_0410, problems)
    original_mti, stan, transmission = de90[:4], de90[4:10], de90[10:20]
    with desk.lock:
        outcome = desk.ledger.reverse(req["41"], stan, transmission)
    before, after = outcome.before, outcome.after
    what = f"original {original_mti} STAN {stan} DE7 {transmission}"
    if outcome.refused is not None and before is not None:
        # The original stands: say which (RRN, auth code) so the terminal can book it.
        reply = desk.reply(req, "0410", ECHO_0410, INVALID_TRANSACTION)
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
    return Decision(desk.reply(req, "0410", ECHO_0410, APPROVED), note)
