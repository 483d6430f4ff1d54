"""Receipts that survive printer faults: print, wait for the fault to clear, reprint.

The cashier app hands each receipt copy to the :class:`PrintQueue` as a
:class:`PrintJob` (a function that renders the copy, with or without the
reprint marker). For every job the queue:

1. asks the printer's status (``DLE EOT`` on ESC/POS printers) -- a printer out
   of paper, with its cover open or offline gets nothing;
2. prints the job; the driver checks the status again after it;
3. on a fault, before or during the job, puts the fault on the screen (the
   payment stands: it is the ``paid`` screen, with what to do) and publishes a
   :class:`PrinterFaulted` event, then polls the status every
   ``poll_interval`` seconds of clock time until the printer is ready again,
   up to ``wait`` seconds;
4. when the fault clears, prints the job again. A job the printer had started
   (the failure came while or after sending it) may have left half a receipt:
   it is printed again *with the reprint marker* (``重打印 REPRINT``, see
   :meth:`ReceiptTemplate.render`), so nobody takes it for a second payment.
   A job refused before a byte was sent prints normally.

A job that still cannot print when ``wait`` runs out stays queued (never
lost): the next :meth:`PrintQueue.print` -- the next sale's receipts -- prints
it first. The payment itself is never repeated: the queue only ever prints.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import attrs

from drivers.clock import Clock
from drivers.errors import PrinterError
from drivers.printer import PrintDocument, Printer, PrinterStatus
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload, Problem, detail_key
from simulator.terminal.display import Display, ScreenId

DEFAULT_WAIT = 300.0  # seconds a receipt waits for a printer fault to clear
POLL_INTERVAL = 1.0  # seconds between status polls while waiting
MAX_FAILED_ATTEMPTS = 3  # a printer that reports ready but keeps failing

# What the screen says for each problem (PrinterStatus.problem()).
_ADVICE = {
    "printer out of paper": (
        "打印机缺纸 Printer out of paper",
        "请装入新纸卷 Load a new paper roll",
    ),
    "printer cover open": (
        "打印机盖未关 Printer cover open",
        "请合上打印机盖 Close the printer cover",
    ),
    "printer offline": ("打印机离线 Printer offline", "请检查电源和连接 Check power and cable"),
}
_WAITING = "装好后自动打印 The receipt prints when the printer is ready"


@attrs.frozen
class PrinterFaulted(EventPayload):
    """The printer cannot print a receipt (out of paper, cover open, offline): it waits."""

    source: ClassVar[str] = "printer"
    kind: ClassVar[str] = "fault"

    problem: str  # what PrinterStatus.problem() says, up to any ":"
    description: str = attrs.field(metadata=detail_key("detail"))  # all of it
    title: str  # the receipt that waits
    status: PrinterStatus | None  # None: the status could not be read

    def summary(self) -> str:
        return f"{self.description}: {self.title} waits"


@attrs.frozen
class PrinterRecovered(EventPayload):
    source: ClassVar[str] = "printer"
    kind: ClassVar[str] = "recovered"

    title: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"printer ready again: printing {self.title}"


@attrs.frozen
class Reprinting(EventPayload):
    """A receipt whose first print was interrupted prints again, marked as a reprint."""

    source: ClassVar[str] = "printer"
    kind: ClassVar[str] = "reprint"

    title: str  # the document's
    job: str = attrs.field(metadata=SUMMARY_ONLY)  # the job's

    def summary(self) -> str:
        return f"printing {self.job} again: the first print was interrupted"


@attrs.frozen
class ReceiptsPending(EventPayload):
    """Receipts the printer could not print in time: kept, printed before the next sale."""

    source: ClassVar[str] = "cashier_app"
    kind: ClassVar[str] = "receipt_pending"

    titles: tuple[str, ...]

    def summary(self) -> str:
        return f"receipt(s) not printed, kept for later: {', '.join(self.titles)}"


@attrs.frozen
class ReceiptNotPrinted(Problem):
    source: ClassVar[str] = "cashier_app"

    title: str


@attrs.define
class PrintJob:
    """One receipt to print; ``render(reprint)`` gives the document."""

    render: Callable[[bool], PrintDocument]
    title: str
    started: bool = False  # an attempt sent (some of) it: reprint with the marker


class PrintQueue:
    def __init__(
        self,
        printer: Printer,
        *,
        display: Display,
        bus: EventBus,
        clock: Clock,
        wait: float = DEFAULT_WAIT,
        poll_interval: float = POLL_INTERVAL,
    ) -> None:
        self._printer = printer
        self._display = display
        self._bus = bus
        self._clock = clock
        self.wait = wait
        self.poll_interval = poll_interval
        self.pending: list[PrintJob] = []

    def print(self, jobs: Sequence[PrintJob], *, screen: tuple[str, ...] = ()) -> bool:
        """Print queued jobs, then ``jobs``; False if some are still queued.

        ``screen`` is the ``paid`` screen's lines, shown again under a fault.
        """
        self.pending.extend(jobs)
        while self.pending:
            job = self.pending[0]
            if not self._print_one(job, screen):
                self._bus.publish(ReceiptsPending(tuple(j.title for j in self.pending)))
                self._display.show(
                    ScreenId.PAID,
                    "收款成功 Payment received",
                    *screen,
                    "小票未打印 Receipt not printed",
                    "将在下一笔交易前补打 It prints before the next sale",
                )
                return False
            self.pending.pop(0)
        return True

    def _print_one(self, job: PrintJob, screen: tuple[str, ...]) -> bool:
        failures = 0  # attempts that failed although the printer then reported ready
        failed = False
        faulted = False
        while True:
            problem, status = self._problem()
            if failed and problem is None:
                failures += 1
                if failures >= MAX_FAILED_ATTEMPTS:
                    return False
            failed = False
            if problem is not None:
                faulted = True
                self._fault(job, problem, status, screen)
                if not self._wait_ready():
                    return False
                continue
            if faulted:
                self._bus.publish(PrinterRecovered(job.title))
                self._display.show(ScreenId.PAID, "收款成功 Payment received", *screen)
                faulted = False
            reprint = job.started
            document = job.render(reprint)
            if reprint:
                self._bus.publish(Reprinting(document.title, job.title))
            job.started = True
            try:
                self._printer.print_document(document)
            except PrinterError as exc:
                failed = True
                self._bus.publish(ReceiptNotPrinted(f"receipt not printed: {exc}", document.title))
                continue
            return True

    def _problem(self) -> tuple[str | None, PrinterStatus | None]:
        try:
            status = self._printer.status()
        except PrinterError as exc:
            return f"printer offline: {exc}", None
        return status.problem(), status

    def _fault(
        self, job: PrintJob, problem: str, status: PrinterStatus | None, screen: tuple[str, ...]
    ) -> None:
        key = problem.split(":", 1)[0]
        what, advice = _ADVICE.get(key, ("打印机故障 Printer fault", problem))
        self._bus.publish(PrinterFaulted(key, problem, job.title, status))
        self._display.show(
            ScreenId.PRINTER_FAULT, "收款成功 Payment received", *screen, what, advice, _WAITING
        )

    def _wait_ready(self) -> bool:
        """Poll the status on the clock until the printer is ready or ``wait`` passes."""
        deadline = self._clock.monotonic() + self.wait
        while self._clock.monotonic() < deadline:
            self._clock.sleep(min(self.poll_interval, deadline - self._clock.monotonic()))
            problem, _ = self._problem()
            if problem is None:
                return True
        return False
