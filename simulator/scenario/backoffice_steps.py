"""The platform's back office as steps: channel statements, statement faults, reconciliation
and the merchant's merged statement (docs/backoffice.md).

``reconcile`` downloads every channel's statement from the built-in gateway's QR API
(``GET /v1/statements/{channel}/{date}``, signed with the terminal's merchant key), parses
each in its channel's own format and reconciles it with the gateway's ledger; the
expectations then read that result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, ClassVar

import attrs

from drivers.errors import DriverError
from simulator.errors import SimulatorError
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.backoffice.faults import FAULT_KINDS, StatementFault, fault_from_mapping
from simulator.gateway.backoffice.money import yuan
from simulator.gateway.backoffice.reconcile import CATEGORIES, Exception_
from simulator.gateway.backoffice.service import BackofficeDay
from simulator.gateway.backoffice.statements import parse_day
from simulator.scenario.model import Step, StepContext, Where, expect_mapping, step
from simulator.terminal.amounts import parse_yuan

_AMOUNT_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^-?\d{1,10}(\.\d{1,2})?$"}
_DATE_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "YYYY-MM-DD, or today (the virtual clock's date)",
    "pattern": r"^(today|\d{4}-\d{2}-\d{2})$",
}
_ENTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "channel": {"enum": list(CHANNELS)},
        "ref": {"type": "string"},
        "amount": _AMOUNT_SCHEMA,
    },
    "required": ["channel"],
    "additionalProperties": False,
}


def _day(text: str, ctx: StepContext) -> date:
    return ctx.clock.now().date() if text == "today" else parse_day(text)


def _date_value(value: Any, where: Where, what: str) -> str:
    text = str(value)
    if text != "today":
        try:
            parse_day(text)
        except BackofficeError as exc:
            raise where.error(f"{what}: {exc}") from None
    return text


def result_of(ctx: StepContext, step: Step) -> BackofficeDay:
    result = ctx.state.reconciliation
    if result is None:
        raise ctx.fail(step, "nothing reconciled yet (add a `reconcile:` step first)")
    return result


@step("statement_fault")
@attrs.define
class StatementFaultStep(Step):
    is_action = True
    help = (
        "Make a channel's statement differ from the ledger when the channel writes it: "
        "channel_only (an extra payment `ref` of `amount`), platform_only (payment `ref` "
        "dropped), amount_mismatch (payment `ref` at `amount`, default 0.01 more), "
        "reversed_after_success (payment `ref` reversed on the channel's side). Without "
        "`ref`: the statement's first payment."
    )
    example = 'statement_fault: {channel: wechat, kind: channel_only, ref: X1, amount: "3.00"}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "channel": {"enum": list(CHANNELS)},
            "kind": {"enum": list(FAULT_KINDS)},
            "ref": {"type": "string", "minLength": 1},
            "amount": {"type": "string", "pattern": r"^\d{1,10}(\.\d{1,2})?$"},
        },
        "required": ["channel", "kind"],
        "additionalProperties": False,
    }

    fault: StatementFault
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> StatementFaultStep:
        value = expect_mapping(
            value, where, "statement_fault", {"channel", "kind", "ref", "amount"}
        )
        try:
            return cls(fault_from_mapping(value))
        except BackofficeError as exc:
            raise where.error(f"statement_fault: {exc}") from None

    def run(self, ctx: StepContext) -> None:
        ctx.hands.statement_fault(self.fault)

    def describe(self) -> str:
        return f"statement fault {self.fault.describe()}"


@step("reconcile")
@attrs.define
class Reconcile(Step):
    is_action = True
    help = (
        "The platform downloads every channel's statement for the day (WeChat Pay, Alipay, "
        "UnionPay QR, card acquirer) from the gateway, parses each in its own format and "
        "reconciles it with the ledger; the merchant's merged statement is built."
    )
    example = "reconcile: {date: today}"
    schema: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"type": "null"},
            {
                "type": "object",
                "properties": {"date": _DATE_SCHEMA},
                "additionalProperties": False,
            },
        ]
    }

    date: str = "today"
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> Reconcile:
        if value is None:
            return cls()
        value = expect_mapping(value, where, "reconcile", {"date"})
        return cls(_date_value(value.get("date", "today"), where, "reconcile.date"))

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        try:
            ctx.state.reconciliation = ctx.hands.reconcile(_day(self.date, ctx))
        except SimulatorError as exc:
            raise ctx.fail(self, str(exc)) from None

    def describe(self) -> str:
        return f"reconcile {self.date}"


@attrs.frozen
class _Named:
    channel: str
    ref: str | None
    amount_fen: int | None

    def matches(self, exc: Exception_) -> bool:
        amount = exc.channel_fen if exc.platform_fen is None else exc.platform_fen
        return (
            exc.channel == self.channel
            and self.ref in (None, exc.ref)
            and self.amount_fen in (None, amount)
        )


def _named(value: Any, where: Where, what: str) -> tuple[_Named, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise where.error(f"{what}: expected a list of {{channel, ref, amount}}")
    items = []
    for item in value:
        item = expect_mapping(item, where, what, {"channel", "ref", "amount"})
        channel = str(item.get("channel", ""))
        if channel not in CHANNELS:
            raise where.error(f"{what}: channel must be one of {list(CHANNELS)}")
        try:
            amount = None if "amount" not in item else parse_yuan(str(item["amount"]))
        except ValueError as exc:
            raise where.error(f"{what}.amount: {exc}") from None
        ref = item.get("ref")
        items.append(_Named(channel, None if ref is None else str(ref), amount))
    return tuple(items)


@step("expect_reconciliation")
@attrs.define
class ExpectReconciliation(Step):
    is_action = False
    help = (
        "The last reconciliation found this many matched lines and exactly these exception "
        "lines per category (platform_only, channel_only, amount_mismatch, "
        "reversed_after_success: lists of {channel, ref, amount}; a category not named must "
        "be empty when `balanced: true` or when no category is named)."
    )
    example = (
        "expect_reconciliation: {matched: 5, channel_only: [{channel: wechat, ref: X1, "
        'amount: "3.00"}]}'
    )
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "matched": {"type": "integer", "minimum": 0},
            "balanced": {"type": "boolean"},
            **{c: {"type": "array", "items": _ENTRY_SCHEMA} for c in CATEGORIES},
        },
        "additionalProperties": False,
    }

    matched: int | None = None
    balanced: bool | None = None
    named: Mapping[str, tuple[_Named, ...]] = attrs.field(factory=dict)
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectReconciliation:
        value = expect_mapping(
            value, where, "expect_reconciliation", {"matched", "balanced", *CATEGORIES}
        )
        matched = value.get("matched")
        if matched is not None and (isinstance(matched, bool) or not isinstance(matched, int)):
            raise where.error("expect_reconciliation.matched: expected a whole number")
        balanced = value.get("balanced")
        if balanced is not None and not isinstance(balanced, bool):
            raise where.error("expect_reconciliation.balanced: expected true or false")
        named = {
            c: _named(value[c], where, f"expect_reconciliation.{c}")
            for c in CATEGORIES
            if c in value
        }
        return cls(matched, balanced, named)

    def run(self, ctx: StepContext) -> None:
        report = result_of(ctx, self).report
        shown = "; ".join(e.text() for e in report.exceptions) or "none"
        if self.matched is not None and report.matched_total != self.matched:
            raise ctx.fail(
                self, f"expected {self.matched} matched, got {report.matched_total} ({shown})"
            )
        if self.balanced is not None and report.balanced != self.balanced:
            raise ctx.fail(self, f"expected balanced={self.balanced}; exceptions: {shown}")
        strict = self.balanced is True or not self.named
        for category in CATEGORIES:
            found = report.of(category)
            wanted = self.named.get(category)
            if wanted is None:
                if strict and found:
                    raise ctx.fail(self, f"unexpected {category}: {shown}")
                continue
            unmatched = list(found)
            for item in wanted:
                hit = next((e for e in unmatched if item.matches(e)), None)
                if hit is None:
                    raise ctx.fail(self, f"no {category} line like {item}; exceptions: {shown}")
                unmatched.remove(hit)
            if unmatched:
                extra = "; ".join(e.text() for e in unmatched)
                raise ctx.fail(self, f"more {category} lines than expected: {extra}")

    def describe(self) -> str:
        parts = [] if self.matched is None else [f"{self.matched} matched"]
        parts += [f"{len(v)} {k}" for k, v in self.named.items()]
        return "reconciliation " + (", ".join(parts) or "balanced")


@step("expect_merged_statement")
@attrs.define
class ExpectMergedStatement(Step):
    is_action = False
    help = (
        "The merchant's merged statement from the last reconciliation: its net `total` "
        "(yuan) and per-channel nets (`channels`), its channel rows adding up to the total, "
        "and -- when everything reconciled -- the total equal to the sum of the channels' "
        "own statements to the fen. `print: true` prints its summary on the terminal's printer."
    )
    example = 'expect_merged_statement: {total: "57.90", channels: {wechat: "12.34"}, print: true}'
    schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "total": _AMOUNT_SCHEMA,
            "channels": {
                "type": "object",
                "properties": {ch: _AMOUNT_SCHEMA for ch in CHANNELS},
                "additionalProperties": False,
            },
            "lines": {"type": "integer", "minimum": 0},
            "print": {"type": "boolean"},
        },
        "additionalProperties": False,
    }

    total_fen: int | None = None
    channels: Mapping[str, int] = attrs.field(factory=dict)
    lines: int | None = None
    print_summary: bool = False
    line: int = 0

    @classmethod
    def parse(cls, value: Any, where: Where) -> ExpectMergedStatement:
        value = expect_mapping(
            value, where, "expect_merged_statement", {"total", "channels", "lines", "print"}
        )

        def amount(text: Any, what: str) -> int:
            raw = str(text).strip()
            sign = -1 if raw.startswith("-") else 1
            try:
                return sign * parse_yuan(raw.lstrip("-"))
            except ValueError as exc:
                raise where.error(f"expect_merged_statement.{what}: {exc}") from None

        channels = value.get("channels") or {}
        if not isinstance(channels, Mapping) or not set(channels) <= set(CHANNELS):
            raise where.error(f"expect_merged_statement.channels: keys among {list(CHANNELS)}")
        lines = value.get("lines")
        if lines is not None and (isinstance(lines, bool) or not isinstance(lines, int)):
            raise where.error("expect_merged_statement.lines: expected a whole number")
        printed = value.get("print", False)
        if not isinstance(printed, bool):
            raise where.error("expect_merged_statement.print: expected true or false")
        return cls(
            None if "total" not in value else amount(value["total"], "total"),
            {str(ch): amount(v, f"channels.{ch}") for ch, v in channels.items()},
            lines,
            printed,
        )

    def run(self, ctx: StepContext) -> None:
        result = result_of(ctx, self)
        merged = result.merged
        total = merged.total.net_fen
        if sum(c.net_fen for c in merged.channels.values()) != total:
            raise ctx.fail(self, "the merged statement's channel rows do not add up to its total")
        if sum(e.net_fen for e in merged.entries) != total:
            raise ctx.fail(self, "the merged statement's lines do not add up to its total")
        if self.total_fen is not None and total != self.total_fen:
            raise ctx.fail(self, f"expected net RMB {yuan(self.total_fen)}, got {yuan(total)}")
        for channel, fen in self.channels.items():
            got = merged.channels[channel].net_fen
            if got != fen:
                raise ctx.fail(self, f"expected {channel} net RMB {yuan(fen)}, got {yuan(got)}")
        if self.lines is not None and len(merged.entries) != self.lines:
            raise ctx.fail(self, f"expected {self.lines} lines, got {len(merged.entries)}")
        if result.report.balanced:
            statements = sum(s.net_fen for s in result.statements.values())
            if statements != total:
                raise ctx.fail(
                    self,
                    f"the channels' statements add up to RMB {yuan(statements)}, the merged "
                    f"statement to RMB {yuan(total)}",
                )
        if self.print_summary:
            self._print(ctx, result)

    def _print(self, ctx: StepContext, result: BackofficeDay) -> None:
        merchant = ctx.view.config.merchant_name
        document = result.merged.summary(merchant, width=ctx.view.paper_width_chars)
        try:
            ctx.hands.print_on_terminal(document)
        except (SimulatorError, DriverError) as exc:
            raise ctx.fail(self, f"printing the merged statement: {exc}") from None
        printed = [receipt.text for receipt in ctx.view.receipts()]
        net = f"RMB {yuan(result.merged.total.net_fen)}"
        if not printed or "MERGED STATEMENT" not in printed[-1] or net not in printed[-1]:
            raise ctx.fail(self, f"the printer's last receipt is not the summary with {net}")

    def describe(self) -> str:
        shown = "" if self.total_fen is None else f" net RMB {yuan(self.total_fen)}"
        return "merged statement" + shown + (" (printed)" if self.print_summary else "")
