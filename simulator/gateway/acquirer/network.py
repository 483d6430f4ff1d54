"""``0800`` network management -> ``0810``: sign-on, sign-off, echo test.

DE70 names the function (``001`` sign-on, ``002`` sign-off, ``301`` echo
test), each approved; no DE70 is a format error (``30``), another code is not
supported (``12``). Network management touches no ledger.
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator.gateway.acquirer.desk import ECHO_0810, Decision, Desk
from simulator.gateway.acquirer.fields import INVALID_TRANSACTION, digits
from simulator.wire.response_codes import APPROVED

NETWORK_CODES = {"001": "sign-on", "002": "sign-off", "301": "echo test"}


def decide(desk: Desk, req: Mapping[str, str]) -> Decision:
    code = req.get("70")
    if not digits(code, 3):
        return desk.format_error(
            req, "0810", ECHO_0810, ["DE70 (network management code) is required"]
        )
    assert code is not None
    name = NETWORK_CODES.get(code)
    if name is None:
        reply = desk.reply(req, "0810", ECHO_0810, INVALID_TRANSACTION)
        return Decision(reply, f"network management code {code} is not supported")
    return Decision(desk.reply(req, "0810", ECHO_0810, APPROVED), name)
