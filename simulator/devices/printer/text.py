"""Text and its styles: characters onto the line, code pages, Chinese, tabs.

:class:`TextCommands` decodes printable bytes -- single-byte characters in
the ``ESC t`` code page, or, in Chinese mode (``FS &``, on at power-on where
the profile says so), two- and four-byte GB18030 characters -- and puts them
on the line with the style in force: emphasis (``ESC E``, ``ESC G``),
underline (``ESC -``, ``FS -``), font A/B (``ESC M``), sizes (``ESC !``,
``GS !``, ``FS !``, ``FS W``), white on black (``GS B``). A run that does not
fit wraps at the print area's edge. Undecodable bytes are reported and skipped.

Hot path: runs of printable bytes are decoded as one (ASCII and whole GB18030
runs in one call), and a run that fits on the line appends to the last span.

Simplifications: character spacing (``ESC SP``, ``FS S``) is accepted and
ignored; user-defined characters (``ESC &``) are skipped and reported;
``ESC !`` and ``ESC E``/``ESC -``/``GS !`` share state the way Epson documents
(the last command received wins), and ``ESC !`` sizes apply to Chinese
characters too, as on Chinese-market printers (``FS !`` sizes Chinese
characters only).
"""

from __future__ import annotations

import codecs
import re

from drivers.printer.profile import PrinterProfile
from drivers.wire.escpos import ESC, FS, GS, NUL
from simulator.devices.printer.feed import PaperFeed
from simulator.devices.printer.interpreter import ASCII_RUN, control, fixed, variable
from simulator.devices.printer.retention import Retention
from simulator.devices.printer.tables import codepage_table, escpos_code_pages

_SINGLE_BYTE_RUN = re.compile(rb"[\x20-\x7e\x80-\xff]+")
# Whole two-byte GB18030 characters, decoded as one run (most Chinese text).
_DOUBLE_BYTE_RUN = re.compile(rb"(?:[\x81-\xfe][\x40-\x7e\x80-\xfe])+")
_decode_gb18030 = codecs.getdecoder("gb18030")


class TextCommands(PaperFeed):
    """Characters and their styles (see the module docstring)."""

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        super().__init__(profile, retention)
        self._code_pages = escpos_code_pages(profile.escpos_profile)
        self._gb18030 = profile.cjk_encoding in (None, "gb18030")

    def _reset_text(self) -> None:
        self._bold = False
        self._strike = False
        self._ul = 0
        self._font_b = False
        self._w = 1
        self._h = 1
        self._cjk_w = 1
        self._cjk_h = 1
        self._cjk_ul = 0
        self._inverted = False
        self._page = 0
        self._table = codepage_table(self._code_pages.get(0, "CP437"))
        self._chinese = self.profile.supports_cjk and not self.profile.cjk_needs_fs_ampersand
        self._tabs: tuple[int, ...] = tuple(range(8, 256, 8))

    def _text(self, buffer: bytearray, pos: int) -> int:
        if self._chinese:
            if buffer[pos] >= 0x80:
                return self._double_byte(buffer, pos)
            match = ASCII_RUN.match(buffer, pos)
            assert match is not None  # buffer[pos] is printable ASCII
            run = match.group()
            text = run.decode("ascii")
        else:
            match = _SINGLE_BYTE_RUN.match(buffer, pos)
            assert match is not None  # buffer[pos] is printable
            run = match.group()
            if run.isascii():
                text = run.decode("ascii")
            else:
                table = self._table
                text = "".join(chr(b) if b < 0x80 else table[b - 0x80] for b in run)
        self._put(text, False)
        return len(run)

    def _double_byte(self, buffer: bytearray, pos: int) -> int:
        run = _DOUBLE_BYTE_RUN.match(buffer, pos)
        if run is not None and self._gb18030:
            text = _decode_gb18030(run.group(), "replace")[0]
            if "\ufffd" not in text:
                self._put(text, True)
                return run.end() - pos
        lead = buffer[pos]
        if lead in (0x80, 0xFF):
            self._error(pos, f"byte 0x{lead:02X}", "not a GB18030 lead byte; ignored")
            return 1
        if len(buffer) < pos + 2:
            return -1
        second = buffer[pos + 1]
        if 0x30 <= second <= 0x39:  # four-byte sequence
            if len(buffer) < pos + 4:
                return -(pos + 4 - len(buffer))
            third, fourth = buffer[pos + 2], buffer[pos + 3]
            size = 4 if 0x81 <= third <= 0xFE and 0x30 <= fourth <= 0x39 else 0
        else:
            size = 2 if 0x40 <= second <= 0xFE and second != 0x7F else 0
        if not size:
            self._error(pos, f"byte 0x{lead:02X}", "incomplete double-byte character; ignored")
            return 1
        raw = bytes(buffer[pos : pos + size])
        text = raw.decode(self.profile.cjk_encoding or "gb18030", errors="replace")
        if "\ufffd" in text:
            self._error(pos, f"bytes {raw.hex(' ')}", "not a character in the Chinese font")
        self._put(text, cjk=True)
        return size

    def _put(self, text: str, cjk: bool) -> None:
        bold = self._bold or self._strike
        if cjk:
            key = (bold, self._cjk_ul, self._cjk_w, self._cjk_h, self._inverted, "A", True)
            dots = 2 * self._dots_per_char * self._cjk_w
        elif self._font_b:
            key = (bold, self._ul, self._w, self._h, self._inverted, "B", False)
            dots = self._dots_per_char_font_b * self._w
        else:
            key = (bold, self._ul, self._w, self._h, self._inverted, "A", False)
            dots = self._dots_per_char * self._w
        spans = self._spans
        width = self._area.width
        room = (width - self._line_dots) // dots
        if 0 < len(text) <= room and not self._moved:  # the usual case: it fits on the line
            if not spans:
                self._line_align = self._align
                spans.append((key, None, [text]))
            elif spans[-1][0] == key:
                spans[-1][2].append(text)
            else:
                spans.append((key, None, [text]))
            self._line_dots += dots * len(text)
            return
        start = 0  # slicing from an index: ``text = text[room:]`` is quadratic on long runs
        while start < len(text):
            room = (width - self._line_dots) // dots
            if room <= 0:
                if spans or self._stripe:
                    self._print_line()
                    spans = self._spans
                    continue
                room = 1  # a character wider than the line prints alone
            if not spans:
                self._line_align = self._align
            chunk = text[start : start + room]
            start += len(chunk)
            if self._moved:
                spans.append((key, self._line_dots, [chunk]))
                self._moved = False
            elif spans and spans[-1][0] == key:
                spans[-1][2].append(chunk)
            else:
                spans.append((key, None, [chunk]))
            self._line_dots += dots * len(chunk)

    # -- commands --------------------------------------------------------------------

    @control(0x09)
    def _tab(self, buffer: bytearray, pos: int) -> int:
        column = self._line_dots // self._dots_per_char
        for stop in self._tabs:
            if stop > column:
                if stop * self._dots_per_char <= self._area.width:
                    self._put(" " * (stop - column), cjk=False)
                break
        return 1

    @variable(ESC, "D")
    def _esc_tabs(self, buffer: bytearray, pos: int) -> int:
        """ESC D n1 ... nk NUL: horizontal tab positions (ascending, at most 32)."""
        stops: list[int] = []
        k = pos + 2
        while True:
            if k >= len(buffer):
                return -1
            value = buffer[k]
            if value == NUL:
                k += 1
                break
            if (stops and value <= stops[-1]) or len(stops) == 32:
                break  # the setting ends; the byte is processed as normal data
            stops.append(value)
            k += 1
        self._tabs = tuple(stops)
        return k - pos

    @fixed(ESC, "!", params=1)
    def _print_mode(self, params: bytes, pos: int) -> None:
        n = params[0]
        self._font_b = bool(n & 0x01)
        self._bold = bool(n & 0x08)
        # Chinese-market firmware applies ESC ! sizes to Chinese characters too
        # (Epson's Kanji models need FS ! for that; the driver sends both).
        self._h = self._cjk_h = 2 if n & 0x10 else 1
        self._w = self._cjk_w = 2 if n & 0x20 else 1
        self._ul = 1 if n & 0x80 else 0

    @fixed(ESC, "E", params=1)
    def _emphasis(self, params: bytes, pos: int) -> None:
        self._bold = bool(params[0] & 0x01)

    @fixed(ESC, "G", params=1)
    def _double_strike(self, params: bytes, pos: int) -> None:
        self._strike = bool(params[0] & 0x01)

    def _underline_value(self, pos: int, command: str, n: int) -> int | None:
        if n in (0, 1, 2, 48, 49, 50):
            return n & 0x03
        self._error(pos, command, f"n={n} is not 0-2 or 48-50; ignored")
        return None

    @fixed(ESC, "-", params=1)
    def _underline(self, params: bytes, pos: int) -> None:
        value = self._underline_value(pos, "ESC -", params[0])
        if value is not None:
            self._ul = value

    @fixed(ESC, "M", params=1)
    def _font(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (0, 1, 48, 49):
            self._font_b = bool(n & 0x01)
        else:
            self._error(pos, "ESC M", f"font {n} is not available (0/1); ignored")

    @fixed(GS, "!", params=1)
    def _character_size(self, params: bytes, pos: int) -> None:
        n = params[0]
        width, height = (n >> 4) + 1, (n & 0x0F) + 1
        if width > 8 or height > 8:
            self._error(pos, "GS !", f"n=0x{n:02X}: size out of range (1-8); ignored")
            return
        self._w = self._cjk_w = width
        self._h = self._cjk_h = height

    @fixed(GS, "B", params=1)
    def _invert(self, params: bytes, pos: int) -> None:
        self._inverted = bool(params[0] & 0x01)

    @fixed(ESC, "t", params=1)
    def _code_page(self, params: bytes, pos: int) -> None:
        name = self._code_pages.get(params[0])
        if name is None:
            self._error(
                pos,
                "ESC t",
                f"code page {params[0]} is not in python-escpos profile "
                f"{self.profile.escpos_profile!r}; ignored",
            )
            return
        self._page = params[0]
        self._table = codepage_table(name)

    @fixed(FS, "&", params=0)
    def _chinese_on(self, params: bytes, pos: int) -> None:
        if not self.profile.supports_cjk:
            self._error(pos, "FS &", "this printer has no Chinese font; ignored")
            return
        self._chinese = True

    @fixed(FS, ".", params=0)
    def _chinese_off(self, params: bytes, pos: int) -> None:
        self._chinese = False

    @fixed(FS, "!", params=1)
    def _chinese_print_mode(self, params: bytes, pos: int) -> None:
        n = params[0]
        self._cjk_w = 2 if n & 0x04 else 1
        self._cjk_h = 2 if n & 0x08 else 1
        self._cjk_ul = 1 if n & 0x80 else 0

    @fixed(FS, "-", params=1)
    def _chinese_underline(self, params: bytes, pos: int) -> None:
        value = self._underline_value(pos, "FS -", params[0])
        if value is not None:
            self._cjk_ul = value

    @fixed(FS, "W", params=1)
    def _chinese_quadruple(self, params: bytes, pos: int) -> None:
        size = 2 if params[0] & 0x01 else 1
        self._cjk_w = self._cjk_h = size

    @variable(ESC, "&")
    def _esc_user_characters(self, buffer: bytearray, pos: int) -> int:
        """ESC & y c1 c2 [x d1...d(y*x)]...: user-defined characters (accepted, not drawn)."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        y, first, last = buffer[pos + 2], buffer[pos + 3], buffer[pos + 4]
        if y not in (2, 3) or not 32 <= first <= last <= 126:
            self._error(pos, "ESC &", f"y={y} c1={first} c2={last}: not valid; skipped")
            return 5
        k = pos + 5
        for _ in range(last - first + 1):
            if len(buffer) < k + 1:
                return -(k + 1 - len(buffer))
            if buffer[k] > self._dots_per_char:  # wider than a character cell
                self._error(
                    pos,
                    "ESC &",
                    f"x={buffer[k]} is wider than the {self._dots_per_char}-dot character; "
                    "cancelled, the rest is processed as normal data",
                )
                return k - pos
            k += 1 + y * buffer[k]
        if len(buffer) < k:
            return -(k - len(buffer))
        self._error(pos, "ESC &", "user-defined characters are not simulated; skipped")
        return k - pos
