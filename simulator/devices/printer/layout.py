"""Where a line goes across the paper: left margin, print area width, print position.

Standard mode as the Epson ESC/POS Command Reference describes it:

- ``GS L nL nH`` sets the left margin to (nL + nH x 256) horizontal motion units
  and ``GS W nL nH`` the print area width; in standard mode both are "enabled
  only when processed at the beginning of the line". A left margin beyond the
  printable area becomes its maximum; a print area running past the printable
  area is cut to "[printable area - left margin]".
- ``ESC $ nL nH`` moves the print position to (nL + nH x 256) units from the
  beginning of the line (the left margin), ``ESC \\ nL nH`` moves it by a signed
  (two's complement) number of units from where it is; for both, "settings
  outside the specified print area are ignored".
- ``ESC a`` justifies the whole line within the print area.

The horizontal motion unit is one dot: ``GS P``'s default on the 203 dpi
printers possim models (``GS P`` itself is accepted and ignored).
"""

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
