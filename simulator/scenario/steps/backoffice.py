"""The platform's back office as steps: channel statements, statement faults, reconciliation
and the merchant's merged statement (docs/backoffice.md).

``reconcile`` downloads every channel's statement from the built-in gateway's QR API
(``GET /v1/statements/{channel}/{date}``, signed with the terminal's merchant key), parses
each in its channel's own format and reconciles it with the gateway's ledger
(:meth:`simulator.hands.Hands.reconcile`); the expectations then read that result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import attrs

from drivers.errors import DriverError
from simulator.errors import SimulatorError
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.errors import BackofficeError
from simulator.gateway.backoffice.faults import FAULT_KINDS, StatementFault
from simulator.gateway.backoffice.reconcile import CATEGORIES, Exception_
from simulator.gateway.backoffice.service import BackofficeDay
from simulator.gateway.backoffice.statements import parse_day
from simulator.scenario.args import arg
from simulator.scenario.kinds import TEXT, Declared, Fen, Kind, Text, Yuan
from simulator.scenario.model import Action, Expectation, Step, StepContext, Where
from simulator.wire.money import format_yuan

_NET = Yuan(signed=True)


class Day(Kind):
    """``YYYY-MM-DD``, or ``today`` (the virtual clock's date)."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "type": "string",
            "description": "YYYY-MM-DD, or today (the virtual clock's date)",
            "pattern": r"^(today|\d{4}-\d{2}-\d{2})$",
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> str:
        text = TEXT.parse(value, arg, what, where)
        if text != "today":
            try:
                parse_day(text)
            except BackofficeError as exc:
                raise where.error(f"{what}: {exc}") from None
        return text


@attrs.frozen
class Named:
    """An exception line a reconciliation must have found."""

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


class NamedLines(Kind):
    """A list of ``{channel, ref, amount}``."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        entry = {
            "type": "object",
            "properties": {
                "channel": {"enum": list(CHANNELS)},
                "ref": {"type": "string"},
                "amount": _NET.schema(arg),
            },
            "required": ["channel"],
            "additionalProperties": False,
        }
        return {"type": "array", "items": entry}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> tuple[Named, ...]:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise where.error(f"{what}: expected a list of {{channel, ref, amount}}")
        items = []
        for item in value:
            if not isinstance(item, Mapping) or set(item) - {"channel", "ref", "amount"}:
                raise where.error(f"{what}: expected a list of {{channel, ref, amount}}")
            channel = str(item.get("channel", ""))
            if channel not in CHANNELS:
                raise where.error(f"{what}: channel must be one of {list(CHANNELS)}")
            amount = None
            if "amount" in item:
                amount = _NET.parse(item["amount"], arg, f"{what}.amount", where)
            ref = item.get("ref")
            items.append(Named(channel, None if ref is None else str(ref), amount))
        return tuple(items)


class ChannelNets(Kind):
    """Net yuan per channel: ``{wechat: "12.34", ...}``."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {
            "type": "object",
            "properties": {channel: _NET.schema(arg) for channel in CHANNELS},
            "additionalProperties": False,
        }

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Mapping[str, int]:
        if not isinstance(value, Mapping) or not set(value) <= set(CHANNELS):
            raise where.error(f"{what}: keys among {list(CHANNELS)}")
        return {str(ch): _NET.parse(v, arg, f"{what}.{ch}", where) for ch, v in value.items()}


def _reconciliation(ctx: StepContext, step: Step) -> BackofficeDay:
    result = ctx.state.reconciliation
    if result is None:
        raise ctx.fail(step, "nothing reconciled yet (add a `reconcile:` step first)")
    return result


@attrs.frozen(kw_only=True)
class StatementFaultStep(Action):
    keyword = "statement_fault"
    needs_builtin_gateway = (
        "statement_fault: injects a fault into the built-in gateway's back office"
    )
    help = (
        "Make a channel's statement differ from the ledger when the channel writes it: "
        "channel_only (an extra payment `ref` of `amount`), platform_only (payment `ref` "
        "dropped), amount_mismatch (payment `ref` at `amount`, default 0.01 more), "
        "reversed_after_success (payment `ref` reversed on the channel's side). Without "
        "`ref`: the statement's first payment."
    )
    example = 'statement_fault: {channel: wechat, kind: channel_only, ref: X1, amount: "3.00"}'

    channel: str = arg(choices=CHANNELS)
    kind: str = arg(choices=FAULT_KINDS)
    ref: str | None = arg(None, kind=Text(nonempty=True, string_only=True))
    amount: Fen | None = arg(None, minimum=1)

    @property
    def fault(self) -> StatementFault:
        return StatementFault(self.channel, self.kind, self.ref, self.amount)

    def run(self, ctx: StepContext) -> None:
        ctx.hands.statement_fault(self.fault)

    def describe(self) -> str:
        return f"statement fault {self.fault.describe()}"


@attrs.frozen(kw_only=True)
class Reconcile(Action):
    keyword = "reconcile"
    needs_builtin_gateway = "reconcile: reconciles the built-in gateway's ledger"
    alone = True
    help = (
        "The platform downloads every channel's statement for the day (WeChat Pay, Alipay, "
        "UnionPay QR, card acquirer) from the gateway, parses each in its own format and "
        "reconciles it with the ledger; the merchant's merged statement is built."
    )
    example = "reconcile: {date: today}"

    date: str = arg("today", kind=Day())

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        day: date = ctx.clock.now().date() if self.date == "today" else parse_day(self.date)
        try:
            ctx.state.reconciliation = ctx.hands.reconcile(day)
        except SimulatorError as exc:
            raise ctx.fail(self, str(exc)) from None

    def describe(self) -> str:
        return f"reconcile {self.date}"


def _lines_arg() -> Any:
    return arg(None, kind=NamedLines())


@attrs.frozen(kw_only=True)
class ExpectReconciliation(Expectation):
    keyword = "expect_reconciliation"
    needs_builtin_gateway = "expect_reconciliation: reads the built-in gateway's back office"
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

    matched: int | None = arg(None, minimum=0)
    balanced: bool | None = arg(None)
    # One argument per reconciliation category (gateway/backoffice/reconcile.CATEGORIES).
    platform_only: tuple[Named, ...] | None = _lines_arg()
    channel_only: tuple[Named, ...] | None = _lines_arg()
    amount_mismatch: tuple[Named, ...] | None = _lines_arg()
    reversed_after_success: tuple[Named, ...] | None = _lines_arg()

    @property
    def named(self) -> dict[str, tuple[Named, ...]]:
        """The lines expected, by category (the categories named)."""
        return {c: getattr(self, c) for c in CATEGORIES if getattr(self, c) is not None}

    def run(self, ctx: StepContext) -> None:
        report = _reconciliation(ctx, self).report
        shown = "; ".join(e.text() for e in report.exceptions) or "none"
        if self.matched is not None and report.matched_total != self.matched:
            raise ctx.fail(
                self, f"expected {self.matched} matched, got {report.matched_total} ({shown})"
            )
        if self.balanced is not None and report.balanced != self.balanced:
            raise ctx.fail(self, f"expected balanced={self.balanced}; exceptions: {shown}")
        named = self.named
        strict = self.balanced is True or not named
        for category in CATEGORIES:
            found = report.of(category)
            wanted = named.get(category)
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


@attrs.frozen(kw_only=True)
class ExpectMergedStatement(Expectation):
    keyword = "expect_merged_statement"
    needs_builtin_gateway = "expect_merged_statement: reads the built-in gateway's back office"
    help = (
        "The merchant's merged statement from the last reconciliation: its net `total` "
        "(yuan) and per-channel nets (`channels`), its channel rows adding up to the total, "
        "and -- when everything reconciled -- the total equal to the sum of the channels' "
        "own statements to the fen. `print: true` prints its summary on the terminal's printer."
    )
    example = 'expect_merged_statement: {total: "57.90", channels: {wechat: "12.34"}, print: true}'

    total: Fen | None = arg(None, kind=_NET)
    channels: Mapping[str, int] | None = arg(None, kind=ChannelNets())
    lines: int | None = arg(None, minimum=0)
    print: bool = arg(False)

    def run(self, ctx: StepContext) -> None:
        result = _reconciliation(ctx, self)
        merged = result.merged
        total = merged.total.net_fen
        if sum(c.net_fen for c in merged.channels.values()) != total:
            raise ctx.fail(self, "the merged statement's channel rows do not add up to its total")
        if sum(e.net_fen for e in merged.entries) != total:
            raise ctx.fail(self, "the merged statement's lines do not add up to its total")
        if self.total is not None and total != self.total:
            raise ctx.fail(
                self, f"expected net RMB {format_yuan(self.total)}, got {format_yuan(total)}"
            )
        for channel, fen in (self.channels or {}).items():
            got = merged.channels[channel].net_fen
            if got != fen:
                raise ctx.fail(
                    self, f"expected {channel} net RMB {format_yuan(fen)}, got {format_yuan(got)}"
                )
        if self.lines is not None and len(merged.entries) != self.lines:
            raise ctx.fail(self, f"expected {self.lines} lines, got {len(merged.entries)}")
        if result.report.balanced:
            statements = sum(s.net_fen for s in result.statements.values())
            if statements != total:
                raise ctx.fail(
                    self,
                    f"the channels' statements add up to RMB {format_yuan(statements)}, the merged "
                    f"statement to RMB {format_yuan(total)}",
                )
        if self.print:
            self._print(ctx, result)

    def _print(self, ctx: StepContext, result: BackofficeDay) -> None:
        merchant = ctx.view.config.merchant_name
        document = result.merged.summary(merchant, width=ctx.view.paper_width_chars)
        try:
            ctx.hands.print_on_terminal(document)
        except (SimulatorError, DriverError) as exc:
            raise ctx.fail(self, f"printing the merged statement: {exc}") from None
        printed = [receipt.text for receipt in ctx.view.receipts()]
        net = f"RMB {format_yuan(result.merged.total.net_fen)}"
        if not printed or "MERGED STATEMENT" not in printed[-1] or net not in printed[-1]:
            raise ctx.fail(self, f"the printer's last receipt is not the summary with {net}")

    def describe(self) -> str:
        shown = "" if self.total is None else f" net RMB {format_yuan(self.total)}"
        return "merged statement" + shown + (" (printed)" if self.print else "")
