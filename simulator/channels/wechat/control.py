"""possim's own endpoints beside WeChat's, for tests and scenarios (never WeChat's API).

* ``POST /possim/faults``: arm a fault, or a list of them (:mod:`.faults`); 400 with a
  one-line ``error`` if one is not a fault (then none is armed);
* ``DELETE /possim/faults``: disarm them all;
* ``POST /possim/scan`` ``{"code_url": "weixin://wxpay/bizpayurl?pr=..."}``: the simulated
  customer scans a NATIVE order's code and pays; the order's notify follows.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from aiohttp import web

from simulator.channels.wechat.core import WechatCore
from simulator.channels.wechat.faults import Fault, FaultSpecError, parse
from simulator.channels.wechat.notices import notify_paid
from simulator.channels.wechat.trades import ERRORS


def routes(core: WechatCore) -> list[web.RouteDef]:
    return [
        web.post("/possim/faults", functools.partial(_arm, core)),
        web.delete("/possim/faults", functools.partial(_disarm, core)),
        web.post("/possim/scan", functools.partial(_scan, core)),
    ]


async def _document(request: web.Request) -> Any:
    try:
        return json.loads((await request.read()).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


async def _arm(core: WechatCore, request: web.Request) -> web.Response:
    document = await _document(request)
    specs = document if isinstance(document, list) else [document]
    try:
        faults: list[Fault] = [parse(spec) for spec in specs]
        for fault in faults:
            core.faults.arm(fault)
    except FaultSpecError as error:
        return web.json_response({"error": str(error)}, status=400)
    return web.json_response({"armed": len(core.faults.armed())})


async def _disarm(core: WechatCore, request: web.Request) -> web.Response:
    core.faults.clear()
    return web.json_response({"armed": 0})


async def _scan(core: WechatCore, request: web.Request) -> web.Response:
    document = await _document(request)
    code_url = document.get("code_url") if isinstance(document, dict) else None
    if not isinstance(code_url, str):
        return web.json_response({"error": 'expected {"code_url": "weixin://..."}'}, status=400)
    outcome = scan(core, code_url)
    if outcome is not None:
        status = 404 if outcome == "ORDERNOTEXIST" else 409
        return web.json_response({"error": outcome, "message": ERRORS[outcome]}, status=status)
    return web.json_response({"trade_state": "SUCCESS"})


def scan(core: WechatCore, code_url: str) -> str | None:
    """The customer pays a NATIVE order; None when paid, else the refusal's name."""
    with core.clock.actor():  # time stands still while the order changes
        outcome = core.trades.customer_pays(code_url)
        if outcome.error is not None:
            return outcome.error
        assert outcome.trade is not None
        notify_paid(core, outcome.trade)
    return None
