"""Fault injection as steps: the card pulled at APDU n, gateway delay, timeout and HTTP 5xx,
scanner noise.

Each fault is armed at the transport boundary of the device or host it hits, so
it behaves the same whichever transport a run uses (the in-process card reader
or vpcd, the in-process scanner or a pty), and each is counted in requests or
APDUs and timed on the virtual clock, so a run is reproducible. The printer's
faults are in :mod:`simulator.scenario.steps`; duplicate and forged notifies in
:mod:`simulator.scenario.qr_steps`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from simulator.gateway.faults import HttpFault, ReplyFault
from simulator.hands.devices import card_pull_text, scanner_noise_text
from simulator.hands.host import host_fault_text, qr_fault_text
from simulator.scenario.arguments import Count
from simulator.scenario.model import (
    DURATION_SCHEMA,
    TEXT_SCHEMA,
    Step,
    StepContext,
    Where,
    expect_mapping,
    parse_duration,
    step,
)

_TIMES = Count(1, 100, "How many requests in a row the fault hits.", default=1)
_REMOVE_AT_APDU = Count(
    1, 1000, "The command (counted from this step, 1 = the next) that finds the card gone."
)
_GARBAGE = Count(1, 4096, "Bytes of noise, ended like a code.")


def _count(value: Mapping[str, Any], key: str, count: Count, where: Where, what: str) -> int:
    return count.parse(value.get(key, count.default), where, f"{what}.{key}")


def _one_of(value: Mapping[str, Any], keys: tuple[str, ...], where: Where, what: str) -> str:
    named = [key for key in keys if key in value]
    if len(named) != 1:
        raise where.error(f"{what}: name exactly one fault of {', '.join(keys)}")
    return named[0]


def _true(value: Mapping[str, Any], key: str, where: Where, what: str) -> None:
    if value[key] is not True:
        raise where.error(f"{what}.{key}: write {key}: true")


@step("card_fault")
@attrs.define
class CardFault(Step):
    is_action = True
    help = (
        "The cardholder pulls the card out while the terminal talks to it: the terminal's "
        "`remove_at_apdu`-th command from now (1 = the next) finds the slot empty. Put it "
        "before `insert_card`; the numbers of a purchase are in docs/emv.md."
    )
    example = "card_fault: {remove_at_apdu: 12}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "remove_at_apdu": _REMOVE_AT_APDU.schema(),
        },
        "required": ["remove_at_apdu"],
        "additionalProperties": False,
    }

    remove_at_apdu: int
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> CardFault:
        value = expect_mapping(value, where, "card_fault", {"remove_at_apdu"})
        if "remove_at_apdu" not in value:
            raise where.error("card_fault: expected {remove_at_apdu: N}")
        return cls(_count(value, "remove_at_apdu", _REMOVE_AT_APDU, where, "card_fault"))

    def run(self, ctx: StepContext) -> None:
        ctx.hands.pull_card_at(self.remove_at_apdu)

    def describe(self) -> str:
        return card_pull_text(self.remove_at_apdu)


_HOST_FAULTS = ("delay", "drop_response", "close_connection")
_MESSAGE_KINDS = ("sale", "void", "refund", "reversal", "settle", "network")  # message_kind()


@step("gateway_fault")
@attrs.define
class GatewayFault(Step):
    is_action = True
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
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "delay": DURATION_SCHEMA,
            "drop_response": {"const": True},
            "close_connection": {"const": True},
            "times": _TIMES.schema(),
            "kind": {"enum": list(_MESSAGE_KINDS)},
        },
        "oneOf": [{"required": [key]} for key in _HOST_FAULTS],
        "additionalProperties": False,
    }

    fault: ReplyFault
    times: int = 1
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> GatewayFault:
        value = expect_mapping(value, where, "gateway_fault", {*_HOST_FAULTS, "times", "kind"})
        fault_kind = _one_of(value, _HOST_FAULTS, where, "gateway_fault")
        message = value.get("kind")
        if message is not None and message not in _MESSAGE_KINDS:
            raise where.error(
                f"gateway_fault.kind: expected one of {', '.join(_MESSAGE_KINDS)}, got {message!r}"
            )
        if fault_kind == "delay":
            fault = ReplyFault(
                delay=parse_duration(value["delay"], where, "gateway_fault.delay"),
                message_kind=message,
            )
        else:
            _true(value, fault_kind, where, "gateway_fault")
            fault = ReplyFault(
                drop=fault_kind == "drop_response",
                close=fault_kind == "close_connection",
                message_kind=message,
            )
        return cls(fault, _count(value, "times", _TIMES, where, "gateway_fault"))

    def run(self, ctx: StepContext) -> None:
        ctx.hands.host_fault(self.fault, self.times)

    def describe(self) -> str:
        return host_fault_text(self.fault, self.times)


_HTTP_FAULTS = ("status", "delay", "drop_response")


@step("qr_gateway_fault")
@attrs.define
class QrGatewayFault(Step):
    is_action = True
    help = (
        "The QR gateway's answer to the terminal's next request (or `times` requests; the "
        "customers' phones are not hit) goes wrong: `status` (answered with that HTTP error, "
        "e.g. 503, without being processed), `delay` (answered that much virtual time later), "
        "`drop_response: true` (processed -- a micropay charges the customer -- and the "
        "connection closed without an answer, so the terminal must query the order)."
    )
    example = "qr_gateway_fault: {status: 503, times: 1}   # or: {delay: 5s}, {drop_response: true}"
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "status": {"type": "integer", "minimum": 400, "maximum": 599},
            "delay": DURATION_SCHEMA,
            "drop_response": {"const": True},
            "times": _TIMES.schema(),
        },
        "oneOf": [{"required": [key]} for key in _HTTP_FAULTS],
        "additionalProperties": False,
    }

    fault: HttpFault
    times: int = 1
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> QrGatewayFault:
        value = expect_mapping(value, where, "qr_gateway_fault", {*_HTTP_FAULTS, "times"})
        kind = _one_of(value, _HTTP_FAULTS, where, "qr_gateway_fault")
        if kind == "status":
            status = value["status"]
            if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status < 600:
                raise where.error("qr_gateway_fault.status: expected an HTTP error, 400-599")
            fault = HttpFault(status=status)
        elif kind == "delay":
            fault = HttpFault(delay=parse_duration(value["delay"], where, "qr_gateway_fault.delay"))
        else:
            _true(value, kind, where, "qr_gateway_fault")
            fault = HttpFault(drop=True)
        return cls(fault, _count(value, "times", _TIMES, where, "qr_gateway_fault"))

    def run(self, ctx: StepContext) -> None:
        ctx.hands.qr_gateway_fault(self.fault, self.times)

    def describe(self) -> str:
        return qr_fault_text(self.fault, self.times)


@step("scan_noise")
@attrs.define
class ScanNoise(Step):
    is_action = True
    help = (
        "Noise on the scanner line: `garbage` (that many bytes that are not text, ended like "
        "a code: the driver drops them, nothing reaches the terminal) and/or `partial` (a "
        "truncated code that arrives as a code of its own, which the gateway refuses)."
    )
    example = 'scan_noise: {garbage: 24, partial: "1345678"}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "garbage": _GARBAGE.schema(),
            "partial": TEXT_SCHEMA,
        },
        "minProperties": 1,
        "additionalProperties": False,
    }

    garbage: int = 0
    partial: str | None = attrs.field(default=None, repr=False)
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ScanNoise:
        value = expect_mapping(value, where, "scan_noise", {"garbage", "partial"})
        if not value:
            raise where.error("scan_noise: expected {garbage: N} and/or {partial: TEXT}")
        garbage = (
            _count(value, "garbage", _GARBAGE, where, "scan_noise") if "garbage" in value else 0
        )
        partial = value.get("partial")
        if partial is not None and (isinstance(partial, (list, Mapping)) or not str(partial)):
            raise where.error("scan_noise.partial: expected the truncated code as text")
        return cls(garbage, None if partial is None else str(partial))

    def run(self, ctx: StepContext) -> None:
        ctx.hands.scanner_noise(self.garbage, self.partial)

    def describe(self) -> str:
        return scanner_noise_text(self.garbage, self.partial)
