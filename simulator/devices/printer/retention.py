"""What the virtual printer keeps for inspection, and how much of it.

A printer in a scenario prints a handful of receipts; ``possim printer serve``
may run for weeks and take any bytes a network sends. So every record the
printer keeps -- receipts, diagnostics, lines that could not be printed, the
paper since the last cut, queued status replies -- is capped; past the cap the
oldest go, and a count says how many did (``VirtualPrinter.dropped``).
Hooks (``on_receipt``, ``on_diagnostic``) still see everything as it happens:
the caps bound memory, not reporting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from typing import TypeVar

import attrs

from simulator.devices.printer.paper import RenderedLine, RenderedReceipt

T = TypeVar("T")

MIB = 1024 * 1024


@attrs.frozen
class Retention:
    """Caps on what a :class:`~simulator.devices.printer.VirtualPrinter` keeps (None: no cap)."""

    receipts: int | None = 1000
    receipt_bytes: int | None = 64 * MIB  # images, codes and text of the receipts kept
    diagnostics: int | None = 1000  # ``diagnostics`` and ``errors``
    unprinted: int | None = 1000  # lines sent while the printer could not print
    paper_lines: int | None = 10_000  # lines since the last cut
    paper_bytes: int | None = 16 * MIB  # images and codes since the last cut
    replies: int | None = 4096  # status bytes queued for a host that does not read them

    @classmethod
    def unbounded(cls) -> Retention:
        """Keep everything (``possim render`` of one file, whose size bounds the paper)."""
        return cls(None, None, None, None, None, None, None)


class Retained(list[T]):
    """A list that keeps the newest ``limit`` items (and at most ``max_weight`` in all).

    It is a list -- ``printer.errors == [...]`` and indexing keep working --
    whose ``append`` drops the oldest items past the caps and counts them in
    ``dropped``.
    """

    def __init__(
        self,
        limit: int | None,
        *,
        max_weight: int | None = None,
        weigh: Callable[[T], int] | None = None,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.max_weight = max_weight
        self.dropped = 0
        self._weigh = weigh
        self._weights: deque[int] = deque()
        self.weight = 0

    def append(self, item: T) -> None:
        super().append(item)
        if self._weigh is None and self.limit:  # the usual case, at one item per call
            if len(self) > self.limit:
                del self[0]
                self.dropped += 1
            return
        if self._weigh is not None:
            weight = self._weigh(item)
            self._weights.append(weight)
            self.weight += weight
        keep_at_least = 0 if self.limit == 0 else 1  # the newest stays, however heavy
        kept, weight, drop = len(self), self.weight, 0
        while kept > keep_at_least and (
            (self.limit is not None and kept > self.limit)
            or (self.max_weight is not None and weight > self.max_weight)
        ):
            if self._weigh is not None:
                weight -= self._weights.popleft()
            kept -= 1
            drop += 1
        if drop:
            del self[:drop]
            self.weight = weight
            self.dropped += drop

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def clear(self) -> None:
        super().clear()
        self._weights.clear()
        self.weight = 0


def line_bytes(line: RenderedLine) -> int:
    """Roughly what a line holds: a fixed part, image and code data, text."""
    return 64 + len(line.bitmap) + len(line.raw) + sum(len(span.text) for span in line.spans)


def receipt_bytes(receipt: RenderedReceipt) -> int:
    return sum(line_bytes(line) for line in receipt.lines)
