"""The fleet on the wire: every terminal's connection and purchases, and the run.

:func:`run_fleet` drives the whole plan on the real clock with asyncio (one
process, hundreds of connections): each terminal opens its own TCP connection
and sends its purchases one after the other, each waiting for its ``0210``,
with the host's framing (length header, TPDU) and MAC (:class:`Wire`, shared
by all). A terminal whose connection fails, drops or stays silent past the
timeout records the request as lost and stops: its connection is unusable.

A terminal's next request waits about ``think`` seconds after the previous
answer (0: back to back): each wait is drawn uniformly from 0.5-1.5 x think,
and the first request from 0-1 x think, by a seeded random stream per
terminal -- so terminals neither fire at once nor fall into lockstep after a
slow moment (as real cashiers do not).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sys
import time
from collections.abc import Awaitable, Mapping
from datetime import datetime

from simulator.errors import SimulatorError
from simulator.fleet.errors import FleetError
from simulator.fleet.plan import FleetPlan, purchase_request, terminal_ids
from simulator.fleet.report import FleetReport, Outcome
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec
from simulator.wire.mac import MessageMac


class Wire:
    """Encode/frame/decode for one host, shared by every simulated terminal."""

    def __init__(self, plan: FleetPlan) -> None:
        endpoint = plan.endpoint
        self.codec = Iso8583Codec(Iso8583Spec.load(endpoint.spec))
        self.framing: Framing = endpoint.framing()
        self.tpdu = endpoint.tpdu
        self.mac: MessageMac | None = endpoint.message_mac(self.codec, plan.mac_key)

    def frame(self, fields: Mapping[str, str]) -> bytes:
        encoded = self.codec.encode(fields) if self.mac is None else self.mac.encode(fields)
        return self.framing.frame(encoded, self.tpdu)

    async def read(self, reader: asyncio.StreamReader) -> dict[str, str]:
        header = await reader.readexactly(self.framing.header_size)
        body = await reader.readexactly(self.framing.body_length(header))
        _, message = self.framing.split(body)
        reply = self.codec.decode(message)
        if self.mac is not None:
            self.mac.verify_reply(message, reply)
        return reply


async def _terminal(
    plan: FleetPlan, wire: Wire, tid: str, rng: random.Random, outcomes: list[Outcome]
) -> None:
    # Think times are a load schedule on the real clock, not a synchronisation.
    await asyncio.sleep(plan.think * rng.random())
    endpoint = plan.endpoint
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), plan.timeout
        )
    except (OSError, asyncio.TimeoutError) as exc:
        for stan in range(1, plan.transactions + 1):
            outcomes.append(Outcome(tid, f"{stan:06d}", "", None, 0.0, problem=f"connect: {exc}"))
        return
    try:
        for stan in range(1, plan.transactions + 1):
            request = purchase_request(plan, tid, stan, datetime.now().astimezone())
            started = time.perf_counter()
            try:
                writer.write(wire.frame(request))
                await writer.drain()
                reply = await _within(wire.read(reader), plan.timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                problem = f"no answer: {type(exc).__name__}"
                outcomes.append(
                    Outcome(tid, request["11"], request["7"], None, 0.0, problem=problem)
                )
                return  # the connection is unusable: this terminal stops
            except SimulatorError as exc:
                outcomes.append(
                    Outcome(tid, request["11"], request["7"], None, 0.0, problem=str(exc))
                )
                return
            latency = time.perf_counter() - started
            outcomes.append(_outcome(request, reply, latency))
            if plan.think > 0 and stan < plan.transactions:
                await asyncio.sleep(plan.think * rng.uniform(0.5, 1.5))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


if sys.version_info >= (3, 11):

    async def _within(answer: Awaitable[dict[str, str]], timeout: float) -> dict[str, str]:
        # asyncio.timeout() needs no task per request, unlike wait_for(): at hundreds
        # of terminals the client's own overhead would show up as host latency.
        async with asyncio.timeout(timeout):
            return await answer

else:

    async def _within(answer: Awaitable[dict[str, str]], timeout: float) -> dict[str, str]:
        return await asyncio.wait_for(answer, timeout)


def _outcome(request: Mapping[str, str], reply: Mapping[str, str], latency: float) -> Outcome:
    problem = ""
    if reply.get("t") != "0210":
        problem = f"answer MTI {reply.get('t')!r}, expected 0210"
    elif (reply.get("41"), reply.get("11")) != (request["41"], request["11"]):
        problem = "answer for another terminal or STAN"
    return Outcome(
        request["41"],
        request["11"],
        request["7"],
        reply.get("39", ""),
        latency,
        rrn=reply.get("37", ""),
        auth_code=reply.get("38", ""),
        problem=problem,
    )


async def run_fleet_async(plan: FleetPlan) -> FleetReport:
    wire = Wire(plan)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _terminal(plan, wire, tid, random.Random(f"{plan.seed}/{tid}"), outcomes)
            for tid in terminal_ids(plan.terminals, plan.tid_prefix)
        )
    )
    return FleetReport(plan, tuple(outcomes), time.perf_counter() - started)


def run_fleet(plan: FleetPlan) -> FleetReport:
    """Run the fleet to the end (every terminal done or stopped); its report."""
    if plan.terminals < 1 or plan.transactions < 1:
        raise FleetError("a fleet needs at least one terminal and one transaction")
    return asyncio.run(run_fleet_async(plan))
