"""The printer's faults and their cure (docs/printer.md)."""

from __future__ import annotations

from typing import Any

import attrs

from simulator.hands import PrinterFaults
from simulator.scenario.args import NotEmpty, arg
from simulator.scenario.model import Action, StepContext

_BYTES = "Bytes the printer takes from now before the fault."


def _bytes_arg() -> Any:
    return arg(None, minimum=0, maximum=1_000_000, help=_BYTES)


@attrs.frozen(kw_only=True)
class PrinterFault(Action):
    keyword = "printer_fault"
    help = (
        "Inject printer faults: `paper_end`, `paper_near_end`, `cover_open`, `offline` "
        "(true sets, false clears), or let a number of bytes through first: "
        "`paper_end_after`, `cover_open_after`, `offline_after` (bytes from now, so the "
        "fault hits in the middle of a receipt), `paper_lines_left` (lines left on the roll)."
    )
    example = "printer_fault: {paper_end_after: 200}   # or: {paper_end: true}, {cover_open: true}"
    constraints = (NotEmpty("name at least one fault, e.g. {paper_end: true}"),)

    paper_end: bool | None = arg(None)
    paper_near_end: bool | None = arg(None)
    cover_open: bool | None = arg(None)
    offline: bool | None = arg(None)
    paper_end_after: int | None = _bytes_arg()
    cover_open_after: int | None = _bytes_arg()
    offline_after: int | None = _bytes_arg()
    paper_lines_left: int | None = arg(
        None, minimum=0, maximum=100_000, help="Lines left on the paper roll."
    )

    @property
    def faults(self) -> PrinterFaults:
        return PrinterFaults(
            paper_end=self.paper_end,
            paper_near_end=self.paper_near_end,
            cover_open=self.cover_open,
            offline=self.offline,
            paper_end_after=self.paper_end_after,
            cover_open_after=self.cover_open_after,
            offline_after=self.offline_after,
            paper_lines_left=self.paper_lines_left,
        )

    def run(self, ctx: StepContext) -> None:
        ctx.hands.printer_faults(self.faults)

    def describe(self) -> str:
        return self.faults.describe()


@attrs.frozen(kw_only=True)
class RefillPaper(Action):
    keyword = "refill_paper"
    help = (
        "The cashier loads a new paper roll: paper end (and near end) clear, and a receipt "
        "left half-printed is torn off (it does not count as a receipt)."
    )
    example = "refill_paper:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.refill_paper()

    def describe(self) -> str:
        return "refill paper"


@attrs.frozen(kw_only=True)
class CloseCover(Action):
    keyword = "close_cover"
    help = "The cashier closes the printer cover."
    example = "close_cover:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.close_cover()

    def describe(self) -> str:
        return "close printer cover"
