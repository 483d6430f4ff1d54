"""The print area: left margin and width in force, in dots (``GS L``, ``GS W``; :mod:`.layout`)."""

from __future__ import annotations

import attrs


@attrs.define
class PrintArea:
    """The left margin and print area width in force, in dots."""

    printable: int  # dots the head prints across (the profile's dots per line)
    margin_set: int = 0  # GS L, as sent
    width_set: int | None = None  # GS W, as sent; None: the rest of the line

    def reset(self) -> None:
        self.margin_set, self.width_set = 0, None

    @property
    def margin(self) -> int:
        return min(self.margin_set, self.printable - 1)

    @property
    def width(self) -> int:
        """Dots from the left margin to the end of the print area (at least one)."""
        room = self.printable - self.margin
        return room if self.width_set is None else max(1, min(self.width_set, room))

    @property
    def frame(self) -> tuple[int, int]:
        """(margin_dots, area_dots) for a printed line: (0, 0) is the whole line."""
        margin, width = self.margin, self.width
        return margin, (0 if width == self.printable - margin else width)

    def absolute(self, units: int) -> int | None:
        """ESC $: the new print position, or None when it is outside the print area."""
        return units if units <= self.width else None

    def relative(self, position: int, units: int) -> int | None:
        """ESC \\: the new print position, or None when it is outside the print area."""
        if units >= 0x8000:  # two's complement: a move to the left
            units -= 0x10000
        target = position + units
        return target if 0 <= target <= self.width else None
