"""Fault injection as steps: the card pulled at APDU n, gateway delay, timeout and HTTP 5xx,
scanner noise.

Each fault is armed at the transport boundary of the device or host it hits, so
it behaves the same whichever transport a run uses (the in-process card reader
or vpcd, the in-process scanner or a pty), and each is counted in requests or
APDUs and timed on the virtual clock, so a run is reproducible. The printer's
faults are in :mod:`simulator.scenario.steps.printer`; duplicate and forged
notifies in :mod:`simulator.scenario.steps.qr`.
"""

from __future__ import annotations

from typing import Any

import attrs

from simulator.gateway.faults import HttpFault, ReplyFault
from simulator.hands.devices import CardPullArmed, ScannerNoise
from simulator.hands.host import HostFaultArmed, QrFaultArmed
from simulator.scenario.args import ExactlyOne, NotEmpty, arg
from simulator.scenario.kinds import Const, Seconds, Text
from simulator.scenario.model import Action, StepContext

# What message_kind() (simulator/gateway/acquirer.py) calls the requests a fault may hit.
MESSAGE_KINDS = (
    "sale",
    "void",
    "refund",
    "preauth",
    "preauth_void",
    "preauth_completion",
    "preauth_completion_void",
    "reversal",
    "settle",
    "network",
)


def _times_arg() -> Any:
    return arg(1, minimum=1, maximum=100, help="How many requests in a row the fault hits.")


@attrs.frozen(kw_only=True)
class CardFault(Action):
    keyword = "card_fault"
    help = (
        "The cardholder pulls the card out while the terminal talks to it: the terminal's "
        "`remove_at_apdu`-th command from now (1 = the next) finds the slot empty. Put it "
        "before `insert_card`; the numbers of a purchase are in `possim docs emv`."
    )
    example = "card_fault: {remove_at_apdu: 12}"

    remove_at_apdu: int = arg(
        minimum=1,
        maximum=1000,
        help="The command (counted from this step, 1 = the next) that finds the card gone.",
    )

    def run(self, ctx: StepContext) -> None:
        ctx.hands.pull_card_at(self.remove_at_apdu)

    def describe(self) -> str:
        return CardPullArmed(self.remove_at_apdu).summary()  # as the transcript says it


@attrs.frozen(kw_only=True)
class GatewayFault(Action):
    keyword = "gateway_fault"
    needs_builtin_gateway = "gateway_fault: injects a fault into the built-in gateway's host"
    help = (
        "The acquirer host's next reply (or `times` replies) goes wrong: `delay` (it leaves "
        "that much virtual time later; beyond the terminal's 30 s host timeout the terminal "
        "reverses and the late reply finds nobody waiting), `drop_response: true` (the host "
        "decides and books it, the reply is lost), `close_connection: true` (the host hangs "
        "up instead of answering). The reversal that follows is not hit unless `times` says so. "
        "`kind` limits it to replies to one kind of message (sale, void, refund, reversal, "
        "settle, network); others pass untouched."
    )
    example = "gateway_fault: {delay: 35s}   # or: {drop_response: true, kind: void}"
    constraints = (ExactlyOne(("delay", "drop_response", "close_connection"), "fault"),)

    delay: Seconds | None = arg(None)
    drop_response: bool | None = arg(None, kind=Const(True))
    close_connection: bool | None = arg(None, kind=Const(True))
    times: int = _times_arg()
    kind: str | None = arg(None, choices=MESSAGE_KINDS)

    @property
    def fault(self) -> ReplyFault:
        if self.delay is not None:
            return ReplyFault(delay=self.delay, message_kind=self.kind)
        return ReplyFault(
            drop=bool(self.drop_response),
            close=bool(self.close_connection),
            message_kind=self.kind,
        )

    def run(self, ctx: StepContext) -> None:
        ctx.hands.host_fault(self.fault, self.times)

    def describe(self) -> str:
        return HostFaultArmed(self.fault, self.times).summary()


@attrs.frozen(kw_only=True)
class QrGatewayFault(Action):
    keyword = "qr_gateway_fault"
    help = (
        "The QR gateway's answer to the terminal's next request (or `times` requests; the "
        "customers' phones are not hit) goes wrong: `status` (answered with that HTTP error, "
        "e.g. 503, without being processed), `delay` (answered that much virtual time later), "
        "`drop_response: true` (processed -- a micropay charges the customer -- and the "
        "connection closed without an answer, so the terminal must query the order)."
    )
    example = "qr_gateway_fault: {status: 503, times: 1}   # or: {delay: 5s}, {drop_response: true}"
    constraints = (ExactlyOne(("status", "delay", "drop_response"), "fault"),)

    status: int | None = arg(None, minimum=400, maximum=599, expected="an HTTP error, 400-599")
    delay: Seconds | None = arg(None)
    drop_response: bool | None = arg(None, kind=Const(True))
    times: int = _times_arg()

    @property
    def fault(self) -> HttpFault:
        if self.status is not None:
            return HttpFault(status=self.status)
        if self.delay is not None:
            return HttpFault(delay=self.delay)
        return HttpFault(drop=True)

    def run(self, ctx: StepContext) -> None:
        ctx.hands.qr_gateway_fault(self.fault, self.times)

    def describe(self) -> str:
        return QrFaultArmed(self.fault, self.times).summary()


@attrs.frozen(kw_only=True)
class ScanNoise(Action):
    keyword = "scan_noise"
    help = (
        "Noise on the scanner line: `garbage` (that many bytes that are not text, ended like "
        "a code: the driver drops them, nothing reaches the terminal) and/or `partial` (a "
        "truncated code that arrives as a code of its own, which the gateway refuses)."
    )
    example = 'scan_noise: {garbage: 24, partial: "1345678"}'
    constraints = (NotEmpty("expected {garbage: N} and/or {partial: TEXT}"),)

    garbage: int | None = arg(
        None, minimum=1, maximum=4096, help="Bytes of noise, ended like a code."
    )
    partial: str | None = arg(
        None, kind=Text(nonempty=True), expected="the truncated code as text", repr=False
    )

    def run(self, ctx: StepContext) -> None:
        ctx.hands.scanner_noise(self.garbage or 0, self.partial)

    def describe(self) -> str:
        partial = None if self.partial is None else len(self.partial)
        return ScannerNoise(self.garbage or 0, partial).summary()
