"""The records both sides keep: the terminal's journal and the acquirer's ledger."""

from __future__ import annotations

import attrs

from simulator.gateway.ledger import Status
from simulator.scenario.args import AtLeastOne, arg
from simulator.scenario.kinds import BatchNo
from simulator.scenario.model import Expectation, StepContext
from simulator.scenario.steps.common import OPERATIONS, count_zero_problem, now_arg, rows
from simulator.terminal.journal import TxnState


def _last_or_count(about_last: str) -> AtLeastOne:
    return AtLeastOne(
        (about_last, "count"),
        f"expected {about_last} (the last card transaction's) and/or count "
        "(how many in all; {count: 0}: none)",
    )


@attrs.frozen(kw_only=True)
class ExpectJournal(Expectation):
    keyword = "expect_journal"
    help = (
        "Once the current operation has ended (at once with `now: true`, e.g. "
        "`{state: reversal_pending, now: true}` while the reversal waits for its answer): "
        "the terminal journal's latest card transaction is in this state (and has this "
        "response code; is a sale, void or refund: `operation`; is in batch `batch`), and "
        "the journal holds `count` card transactions. `{count: 0}` alone: none at all."
    )
    example = "expect_journal: {state: reversed}   # or: {state: approved, operation: void}"
    constraints = (_last_or_count("state"),)

    state: TxnState | None = arg(None)
    response_code: str | None = arg(None)
    count: int | None = arg(
        None, minimum=0, help="how many card transactions the journal holds in all"
    )
    operation: str | None = arg(None, choices=OPERATIONS)
    batch: BatchNo | None = arg(None)
    now: bool = now_arg()

    def check(self) -> str | None:
        about_last = [
            ("state", self.state),
            ("response_code", self.response_code),
            ("operation", self.operation),
            ("batch", self.batch),
        ]
        return count_zero_problem(self.keyword, self.count, about_last) or super().check()

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        entries = ctx.view.journal()
        if self.count is not None and len(entries) != self.count:
            found = rows(entries, lambda e: f"{e.operation} {e.state.value}")
            raise ctx.fail(
                self, f"expected {self.count} journal entries, found {len(entries)}: {found}"
            )
        about_last = (self.state, self.response_code, self.operation, self.batch)
        if all(item is None for item in about_last):
            return
        if not entries:
            raise ctx.fail(self, "the journal is empty")
        last = entries[-1]
        if self.state is not None and last.state is not self.state:
            raise ctx.fail(
                self,
                f"expected the last transaction {self.state.value}, "
                f"it is {last.state.value} ({last.reason})",
            )
        if self.response_code is not None and last.response_code != self.response_code:
            raise ctx.fail(
                self,
                f"expected response code {self.response_code}, journal has {last.response_code!r}",
            )
        if self.operation is not None and last.operation != self.operation:
            raise ctx.fail(self, f"expected a {self.operation}, the last row is a {last.operation}")
        if self.batch is not None and last.batch_no != self.batch:
            raise ctx.fail(self, f"expected batch {self.batch}, the last row is in {last.batch_no}")

    def describe(self) -> str:
        if self.state is None:
            return f"journal: {self.count} card transaction(s)" + (" now" if self.now else "")
        what = self.operation or "transaction"
        return f"journal: last {what} {self.state.value}" + (" now" if self.now else "")


@attrs.frozen(kw_only=True)
class ExpectLedger(Expectation):
    keyword = "expect_ledger"
    needs_builtin_gateway = "expect_ledger: reads the built-in gateway's ledger"
    help = (
        "Once the current operation has ended (at once with `now: true`): the acquirer's "
        "ledger's latest card transaction has this status (approved, declined, unanswered "
        "or reversed); `kind`: sale, void or refund (`possim docs settlement`); `batch`: its batch "
        "number; `count`: how many the ledger holds. `{count: 0}` alone: the host booked "
        "nothing (expect_charged checks the money on every channel)."
    )
    example = "expect_ledger: {status: approved, count: 1}   # or: {status: reversed, kind: void}"
    constraints = (_last_or_count("status"),)

    status: Status | None = arg(None)
    count: int | None = arg(
        None, minimum=0, help="how many card transactions the ledger holds in all"
    )
    kind: str | None = arg(None, choices=OPERATIONS)
    batch: BatchNo | None = arg(None)
    now: bool = now_arg()

    def check(self) -> str | None:
        about_last = [("status", self.status), ("kind", self.kind), ("batch", self.batch)]
        return count_zero_problem(self.keyword, self.count, about_last) or super().check()

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        entries = ctx.view.ledger()
        if self.count is not None and len(entries) != self.count:
            found = rows(entries, lambda e: f"{e.kind} {e.status}")
            raise ctx.fail(
                self, f"expected {self.count} ledger entries, found {len(entries)}: {found}"
            )
        if self.status is None and self.kind is None and self.batch is None:
            return
        if not entries:
            raise ctx.fail(self, "the ledger is empty")
        last = entries[-1]
        if self.status is not None and str(last.status) != self.status.value:
            raise ctx.fail(
                self, f"expected the last ledger entry {self.status.value}, it is {last.status}"
            )
        if self.kind is not None and last.kind != self.kind:
            raise ctx.fail(self, f"expected a {self.kind}, the last entry is a {last.kind}")
        if self.batch is not None and last.batch_no != self.batch:
            raise ctx.fail(self, f"expected batch {self.batch}, got {last.batch_no!r}")

    def describe(self) -> str:
        if self.status is None:
            return f"ledger: {self.count} card transaction(s)" + (" now" if self.now else "")
        return f"ledger: last transaction {self.status.value}" + (" now" if self.now else "")
