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
- ``ESC {`` prints the following lines upside down (at the beginning of a line,
  like ``GS L``); ``ESC 2``, ``ESC 3``, ``ESC A`` and ``ESC +`` set the line
  spacing (default 1/6 inch).

:class:`PrintArea` is the geometry; :class:`LayoutCommands` the commands, and
the line format every printed line carries (:mod:`.feed` prints with it).

Simplifications: the horizontal motion unit is one dot: ``GS P``'s default on
the 203 dpi printers possim models (``GS P`` itself is accepted and ignored);
``GS L``, ``GS W`` and ``ESC {`` sent in the middle of a line are reported and
ignored.
"""

from __future__ import annotations

from drivers.wire.escpos import ESC, GS
from simulator.devices.printer.area import PrintArea
from simulator.devices.printer.feed import PaperFeed
from simulator.devices.printer.interpreter import fixed


class LayoutCommands(PaperFeed):
    """Alignment, margins, print area, print position, line spacing, upside-down.

    Owns the line format :class:`~.feed.PaperFeed` prints every line with.
    """

    def _reset_format(self) -> None:
        """Alignment, spacing, margins and upside-down back to their defaults (ESC @)."""
        self._align = "left"
        self._flipped = False
        self._line_spacing = max(1, self.profile.dpi // 6)  # 1/6 inch
        self._area = PrintArea(self._dots_per_line)

    @fixed(ESC, "a", params=1)
    def _justify(self, params: bytes, pos: int) -> None:
        alignment = {0: "left", 1: "center", 2: "right"}.get(
            params[0] - 48 if params[0] >= 48 else params[0]
        )
        if alignment is None:
            self._error(pos, "ESC a", f"n={params[0]} is not 0-2 or 48-50; ignored")
            return
        self._align = alignment
        if not self._spans and self._stripe is None:
            self._line_align = alignment

    def _at_line_start(self, pos: int, command: str) -> bool:
        """Epson: "enabled only when processed at the beginning of the line" (standard mode)."""
        if self._spans or self._stripe is not None:
            self._error(pos, command, "not at the beginning of a line; ignored")
            return False
        return True

    @fixed(ESC, "{", params=1)
    def _upside_down(self, params: bytes, pos: int) -> None:
        if self._at_line_start(pos, "ESC {"):
            self._flipped = bool(params[0] & 0x01)

    @fixed(GS, "L", params=2)
    def _left_margin(self, params: bytes, pos: int) -> None:
        if self._at_line_start(pos, "GS L"):
            self._area.margin_set = params[0] + 256 * params[1]

    @fixed(GS, "W", params=2)
    def _print_area_width(self, params: bytes, pos: int) -> None:
        if self._at_line_start(pos, "GS W"):
            self._area.width_set = params[0] + 256 * params[1]

    def _move_to(self, pos: int, command: str, target: int | None, units: int) -> None:
        if target is None:
            self._error(
                pos,
                command,
                f"{units} dots is outside the {self._area.width}-dot print area; ignored",
            )
            return
        self._line_dots = target
        self._moved = True

    @fixed(ESC, "$", params=2)
    def _absolute_position(self, params: bytes, pos: int) -> None:
        units = params[0] + 256 * params[1]
        self._move_to(pos, "ESC $", self._area.absolute(units), units)

    @fixed(ESC, "\\", params=2)
    def _relative_position(self, params: bytes, pos: int) -> None:
        units = params[0] + 256 * params[1]
        target = self._area.relative(self._line_dots, units)
        self._move_to(pos, "ESC \\", target, units if units < 0x8000 else units - 0x10000)

    @fixed(ESC, "2", params=0)
    def _default_spacing(self, params: bytes, pos: int) -> None:
        self._line_spacing = max(1, self.profile.dpi // 6)

    def _spacing(self, numerator: int, divisor: int) -> None:
        self._line_spacing = max(1, round(numerator * self.profile.dpi / divisor))

    @fixed(ESC, "3", params=1)
    def _spacing_180(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 180)

    @fixed(ESC, "A", params=1)
    def _spacing_60(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 60)

    @fixed(ESC, "+", params=1)
    def _spacing_360(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 360)
