"""The terminal ids a load test's users take: a configurable range, e.g. ``LCT00001-LCT99999``.

>>> tids = TerminalRange.parse("LCT00001-LCT00003")
>>> [tids.terminal_id(index) for index in range(3)]
['LCT00001', 'LCT00002', 'LCT00003']
>>> tids.terminal_id(3)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
simulator.loadtest.errors.LoadTestError: terminal ids LCT00001-LCT00003 are all taken ...
>>> TerminalRange.parse("LCT1-XYZ9")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
simulator.loadtest.errors.LoadTestError: --possim-tids LCT1-XYZ9: expected FIRST-LAST, ...
"""

from __future__ import annotations

import re

import attrs

from simulator.loadtest.errors import LoadTestError

TID_LENGTH = 8  # ISO 8583 DE41, ans 8
_ID = re.compile(r"^([A-Za-z]*[A-Za-z_-])?(\d+)$")


@attrs.frozen
class TerminalRange:
    prefix: str
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> TerminalRange:
        first_id, _, last_id = text.partition("-")
        first, last = _ID.match(first_id), _ID.match(last_id)
        if (
            first is None
            or last is None
            or len(first_id) != TID_LENGTH
            or len(last_id) != TID_LENGTH
            or first.group(1) != last.group(1)
            or int(first.group(2)) > int(last.group(2))
        ):
            raise LoadTestError(
                f"--possim-tids {text}: expected FIRST-LAST, two {TID_LENGTH}-character ids with "
                "the same letters before their digits (LCT00001-LCT99999)"
            )
        return cls(first.group(1) or "", int(first.group(2)), int(last.group(2)))

    def terminal_id(self, index: int) -> str:
        """The ``index``-th id of the range (0: the first)."""
        number = self.first + index
        if number > self.last:
            raise LoadTestError(
                f"terminal ids {self} are all taken ({self.last - self.first + 1} users): "
                "widen --possim-tids"
            )
        return f"{self.prefix}{number:0{TID_LENGTH - len(self.prefix)}d}"

    def __str__(self) -> str:
        digits = TID_LENGTH - len(self.prefix)
        return f"{self.prefix}{self.first:0{digits}d}-{self.prefix}{self.last:0{digits}d}"
