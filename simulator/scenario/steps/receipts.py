"""What the printer cut."""

from __future__ import annotations

import attrs

from simulator.scenario.args import arg
from simulator.scenario.kinds import Integer
from simulator.scenario.model import Expectation, StepContext
from simulator.scenario.steps.common import now_arg
from simulator.terminal.terminal import RECEIPT_KINDS
from simulator.view import Receipt
from simulator.wire.receipts import REPRINT_MARK


@attrs.frozen(kw_only=True)
class ExpectReceipt(Expectation):
    keyword = "expect_receipt"
    help = (
        "Once the current operation has finished (at once with `now: true`), the printer has "
        "cut this many receipts since the scenario began (with `new: true`: since the "
        "previous expect_receipt); each of them contains / lacks these texts; `reprints` of "
        "them carry the reprint marker (重打印 REPRINT: printed again after a fault). `kind` "
        "counts and checks only the receipts of one kind (" + ", ".join(RECEIPT_KINDS) + "); "
        "`index` checks one receipt alone: the Nth (1 = first, -1 = last) of those. A sale, "
        "void or refund prints a merchant and a customer copy (a dynamic QR sale first its "
        "qr_slip); a decline or a cancel prints nothing (see What each operation prints)."
    )
    example = 'expect_receipt: {copies: 2, contains: ["621483******3655", "RMB 12.34"]}'

    copies: int | None = arg(None, minimum=0)
    contains: tuple[str, ...] = arg(())
    not_contains: tuple[str, ...] = arg(())
    reprints: int | None = arg(None, minimum=0)
    new: bool = arg(False, help="only the receipts cut since the previous expect_receipt")
    kind: str | None = arg(None, choices=RECEIPT_KINDS, help="only the receipts of this kind")
    index: int | None = arg(
        None,
        kind=Integer(nonzero=True),
        expected="a receipt's number: 1 = first, -1 = last",
        help="one receipt: the Nth of them, 1 = first, -1 = last",
    )
    now: bool = now_arg()

    def check(self) -> str | None:
        """Combinations that can never pass (or never fail) are refused at load."""
        if self.index is not None and self.copies is not None:
            return (
                "expect_receipt: index picks one receipt and copies counts them; "
                "use one or the other (copies: 0 for none)"
            )
        if self.copies == 0 and (self.contains or self.not_contains or self.reprints):
            return (
                "expect_receipt: copies: 0 leaves no receipt to check contains / not_contains "
                "/ reprints on; drop them, or expect copies above 0"
            )
        if self.copies is not None and self.reprints is not None and self.reprints > self.copies:
            return (
                f"expect_receipt: reprints: {self.reprints} of copies: {self.copies} can never pass"
            )
        return super().check()

    def run(self, ctx: StepContext) -> None:
        ctx.operation_ended(self, now=self.now)
        every = ctx.view.receipts()
        checked_from = ctx.state.receipts_checked if self.new else 0
        receipts = list(enumerate(every, 1))[checked_from:]
        if self.kind is not None:
            receipts = [(n, receipt) for n, receipt in receipts if receipt.kind == self.kind]
        since = " since the previous expect_receipt" if self.new else ""
        what = f"{self.kind} receipt(s)" if self.kind else "receipt(s)"
        if self.index is not None:
            position = self.index - 1 if self.index > 0 else self.index
            if not -len(receipts) <= position < len(receipts):
                raise ctx.fail(
                    self,
                    f"no receipt {self.index}: the printer cut {len(receipts)} {what}{since} "
                    f"({_cut(every)})",
                )
            receipts = [receipts[position]]
        if self.copies is not None and len(receipts) != self.copies:
            raise ctx.fail(
                self,
                f"expected {self.copies} {what}{since}, the printer cut {len(receipts)} "
                f"({_cut(every)})",
            )
        for number, receipt in receipts:
            for wanted in self.contains:
                if wanted not in receipt.text:
                    raise ctx.fail(self, f"receipt {number} lacks {wanted!r}:\n{receipt.text}")
            for unwanted in self.not_contains:
                if unwanted in receipt.text:
                    raise ctx.fail(self, f"receipt {number} contains {unwanted!r}:\n{receipt.text}")
        if self.reprints is not None:
            marked = sum(REPRINT_MARK in receipt.text for _, receipt in receipts)
            if marked != self.reprints:
                raise ctx.fail(
                    self,
                    f"expected {self.reprints} reprinted receipt(s) ({REPRINT_MARK!r}), "
                    f"the printer cut {marked}",
                )
        ctx.state.receipts_checked = len(every)

    def describe(self) -> str:
        which = f"{self.kind} " if self.kind else ""
        if self.index is not None:
            text = f"receipt {self.index} of the {which}receipts"
        elif self.copies is not None:
            text = f"{self.copies} {which}receipt(s)"
        else:
            text = f"{which}receipts"
        if self.contains:
            text += f" containing {list(self.contains)}"
        return text + (" now" if self.now else "")


def _cut(every: list[Receipt]) -> str:
    """What the printer cut, by kind, for a failure message."""
    if not every:
        return "none in all"
    return "in all: " + ", ".join(str(receipt.kind or "unknown") for receipt in every)
