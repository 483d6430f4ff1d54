"""A virtual ESC/POS receipt printer.

:class:`VirtualPrinter` interprets the ESC/POS byte stream a real thermal
printer receives -- in whatever chunks the transport delivers it -- and keeps a
paper model: every printed line with its text and attributes, cut into
:class:`RenderedReceipt` objects. It answers the real-time status queries
(``DLE EOT n``, ``GS r n``) with the bytes a real printer sends, reflecting
fault flags (paper out, paper near end, cover open, offline) that tests and
scenarios set.

Malformed or unknown commands never raise: they are recorded in ``errors``
(with the byte offset in the stream and the command) and the interpreter
resynchronises; a command cut short waits for the rest of its bytes.

:class:`InProcessEscpos` is a python-escpos printer class whose transport is a
:class:`VirtualPrinter`, so the unchanged python-escpos API (and
:class:`drivers.escpos_printer.EscposPrinter`) drives the virtual printer
in-process.

Simplifications (documented so nobody relies on them): standard mode only (page
mode is reported and ignored); character spacing, print position and margins
are accepted and ignored; a QR code, barcode or raster image first prints any
pending text on its own line; ``ESC !`` and ``ESC E``/``ESC -``/``GS !`` share
state the way Epson documents (the last command received wins), and ``ESC !``
sizes apply to Chinese characters too, as on Chinese-market printers
(``FS !`` sizes Chinese characters only).
"""

from __future__ import annotations

import codecs
import functools
import re
import threading
from collections.abc import Callable
from typing import Any

import attrs
from escpos.escpos import Escpos

from drivers.printer_profile import PrinterProfile
from simulator.devices.paper import (
    LineKind,
    ReceiptHook,
    RenderedLine,
    RenderedReceipt,
    Span,
    render_lines,
)

NUL = 0x00
LF = 0x0A
DLE = 0x10
ESC = 0x1B
FS = 0x1C
GS = 0x1D

# Real-time status bytes (ESC/POS "DLE EOT n"): bits 1 and 4 are fixed at 1.
STATUS_BASE = 0x12
STATUS_DRAWER_PIN3 = 0x04  # DLE EOT 1 bit 2
STATUS_OFFLINE = 0x08  # DLE EOT 1 bit 3
STATUS_COVER_OPEN = 0x04  # DLE EOT 2 bit 2
STATUS_STOPPED_PAPER_END = 0x20  # DLE EOT 2 bit 5
STATUS_PAPER_NEAR_END = 0x0C  # DLE EOT 4 bits 2-3
STATUS_PAPER_END = 0x60  # DLE EOT 4 bits 5-6
# GS r 1 (paper sensor): bits 0-1 near end, bits 2-3 paper end; bit 4 fixed 0.
GS_R_PAPER_NEAR_END = 0x03
GS_R_PAPER_END = 0x0C

QR_MAX_PARAMETER_BYTES = 7092  # GS ( k store: (pL + pH*256) <= 7092
RASTER_MAX_WIDTH_BYTES = 255
RASTER_MAX_HEIGHT = 4095
REPLY_READ_SIZE = 16  # python-escpos transports read up to 16 bytes at a time

_ASCII_RUN = re.compile(rb"[\x20-\x7e]+")
_SINGLE_BYTE_RUN = re.compile(rb"[\x20-\x7e\x80-\xff]+")
# Whole two-byte GB18030 characters, decoded as one run (most Chinese text).
_DOUBLE_BYTE_RUN = re.compile(rb"(?:[\x81-\xfe][\x40-\x7e\x80-\xfe])+")
_decode_gb18030 = codecs.getdecoder("gb18030")

BARCODE_A = {0: "UPC-A", 1: "UPC-E", 2: "EAN13", 3: "EAN8", 4: "CODE39", 5: "ITF", 6: "CODABAR"}
BARCODE_B = {
    65: "UPC-A",
    66: "UPC-E",
    67: "EAN13",
    68: "EAN8",
    69: "CODE39",
    70: "ITF",
    71: "CODABAR",
    72: "CODE93",
    73: "CODE128",
    74: "GS1-128",
    75: "GS1 DATABAR OMNIDIRECTIONAL",
    76: "GS1 DATABAR TRUNCATED",
    77: "GS1 DATABAR LIMITED",
    78: "GS1 DATABAR EXPANDED",
}
_DIGITS = frozenset(b"0123456789")
_BARCODE_A_CHARSET = {
    0: _DIGITS,
    1: _DIGITS,
    2: _DIGITS,
    3: _DIGITS,
    4: frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./"),
    5: _DIGITS,
    6: frozenset(b"0123456789ABCDabcd$+-./:"),
}
SYMBOLS_2D = {
    48: "PDF417",
    49: "QR",
    50: "MAXICODE",
    51: "GS1 DATABAR",
    52: "COMPOSITE",
    53: "AZTEC",
    54: "DATAMATRIX",
}


@functools.cache
def _codepage_table(encoding_name: str) -> tuple[str, ...]:
    """Characters for bytes 0x80-0xFF of an escpos-printer-db code page."""
    from escpos.codepages import CodePages

    try:
        encoding = CodePages.get_encoding(encoding_name)
    except KeyError:
        encoding = {}
    if "data" in encoding:
        chars = "".join(encoding["data"])
        if len(chars) == 128:
            return tuple(chars)
    if "python_encode" in encoding:
        codec = encoding["python_encode"]
        return tuple(bytes([b]).decode(codec, errors="replace") for b in range(0x80, 0x100))
    return ("?",) * 128


@functools.cache
def _escpos_code_pages(profile_name: str) -> dict[int, str]:
    from escpos.capabilities import get_profile

    pages: dict[Any, Any] = get_profile(profile_name).codePages
    return {int(number): str(name) for number, name in pages.items()}


def _command_name(prefix: str, byte: int) -> str:
    if 0x21 <= byte <= 0x7E:
        return f"{prefix} {chr(byte)}"
    return f"{prefix} 0x{byte:02X}"


def _code128_text(data: bytes) -> tuple[str, int, bool]:
    """HRI text, symbol count and validity of ESC/POS CODE128 data ({A/{B/{C)."""
    valid = len(data) >= 2 and data[0] == 0x7B and data[1] in b"ABC"
    out: list[str] = []
    symbols = 0
    code_set = "B"
    i = 0
    while i < len(data):
        byte = data[i]
        if byte == 0x7B and i + 1 < len(data):
            selector = data[i + 1]
            i += 2
            symbols += 1
            if selector in b"ABC":
                code_set = chr(selector)
            elif selector == 0x7B:
                out.append("{")
            continue
        if code_set == "C":
            out.append(f"{byte:02d}" if byte < 100 else "?")
        else:
            out.append(chr(byte) if 0x20 <= byte < 0x7F else "?")
        symbols += 1
        i += 1
    return "".join(out), symbols, valid


def _decode_2d(data: bytes, cjk_encoding: str | None) -> str:
    for codec in ("utf-8", cjk_encoding or "latin-1"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# A handler gets (buffer, position of the command's first byte) and returns the
# number of bytes it consumed (> 0), or -n when it needs at least n more bytes.
_Handler = Callable[[bytearray, int], int]
_Action = Callable[[bytes, int], None]

_StyleKey = tuple[bool, int, int, int, bool, str, bool]


class VirtualPrinter:
    """An incremental ESC/POS interpreter with a paper model."""

    def __init__(self, profile: PrinterProfile) -> None:
        self.profile = profile
        self.receipts: list[RenderedReceipt] = []
        self.errors: list[str] = []
        self.unprinted: list[RenderedLine] = []  # lines sent while the printer could not print
        self.drawer_kicks = 0
        self.bytes_received = 0
        self.on_receipt: list[ReceiptHook] = []
        # Fault flags, set by tests and scenarios.
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.offline = False
        self.drawer_open = False  # drawer kick-out connector pin 3 (drawer sensor)
        # Lines of paper left on the roll (None: endless). Printing the last one
        # sets paper_out, so a roll can run out in the middle of a receipt.
        self.paper_left: int | None = None

        self._lock = threading.RLock()
        self._input = bytearray()
        self._base = 0  # stream offset of _input[0]
        self._awaiting = 0
        self._replies = bytearray()
        self._paper: list[RenderedLine] = []
        self._finished: list[RenderedReceipt] = []
        self._code_pages = _escpos_code_pages(profile.escpos_profile)
        # The profile is frozen: its geometry, read for every character run.
        self._dots_per_line = profile.dots_per_line
        self._dots_per_char = profile.dots_per_char
        self._dots_per_char_font_b = profile.dots_per_char_font_b
        self._gb18030 = profile.cjk_encoding in (None, "gb18030")
        self._controls: dict[int, _Handler] = {
            0x00: self._ignore,
            0x07: self._ignore,  # BEL
            0x09: self._tab,
            LF: self._line_feed,
            0x0C: self._form_feed,
            0x0D: self._ignore,  # CR: ignored (auto line feed off)
            0x18: self._ignore,  # CAN (page mode only)
            DLE: self._dle,
            ESC: self._esc,
            FS: self._fs,
            GS: self._gs,
        }
        self._esc_fixed: dict[int, tuple[int, _Action]] = {
            ord("@"): (0, self._init),
            ord("!"): (1, self._print_mode),
            ord("E"): (1, self._emphasis),
            ord("G"): (1, self._double_strike),
            ord("-"): (1, self._underline),
            ord("M"): (1, self._font),
            ord("a"): (1, self._justify),
            ord("t"): (1, self._code_page),
            ord("{"): (1, self._upside_down),
            ord("d"): (1, self._feed_lines),
            ord("J"): (1, self._feed_dots),
            ord("K"): (1, self._print_line_action),  # print and reverse feed
            ord("e"): (1, self._print_line_action),  # print and reverse feed lines
            ord("2"): (0, self._default_spacing),
            ord("3"): (1, self._spacing_180),
            ord("A"): (1, self._spacing_60),
            ord("+"): (1, self._spacing_360),
            ord("p"): (3, self._drawer_pulse),
            ord("r"): (1, self._nothing),  # colour
            ord("="): (1, self._nothing),  # select peripheral device
            ord("V"): (1, self._nothing),  # 90 degree rotation
            ord("U"): (1, self._nothing),  # unidirectional printing
            ord("R"): (1, self._nothing),  # international character set
            ord(" "): (1, self._nothing),  # right-side character spacing
            ord("$"): (2, self._nothing),  # absolute print position
            ord("\\"): (2, self._nothing),  # relative print position
            ord("%"): (1, self._nothing),  # user-defined character set
            ord("?"): (1, self._nothing),  # cancel user-defined character
            ord("B"): (2, self._nothing),  # buzzer
            ord("c"): (2, self._nothing),  # ESC c 3/4/5 n: paper sensors, panel buttons
            ord("f"): (2, self._nothing),  # slip wait time
            ord("S"): (0, self._nothing),  # standard mode
            ord("L"): (0, self._page_mode),
            ord("W"): (8, self._nothing),  # page mode print area
            ord("T"): (1, self._nothing),  # page mode direction
            ord("i"): (0, self._old_cut),
            ord("m"): (0, self._old_cut),
        }
        self._esc_variable: dict[int, _Handler] = {
            ord("D"): self._esc_tabs,
            ord("*"): self._esc_bit_image,
        }
        self._fs_fixed: dict[int, tuple[int, _Action]] = {
            ord("&"): (0, self._chinese_on),
            ord("."): (0, self._chinese_off),
            ord("!"): (1, self._chinese_print_mode),
            ord("-"): (1, self._chinese_underline),
            ord("W"): (1, self._chinese_quadruple),
            ord("C"): (1, self._nothing),  # character code system
            ord("S"): (2, self._nothing),  # Chinese character spacing
            ord("p"): (2, self._nv_image),
        }
        self._gs_fixed: dict[int, tuple[int, _Action]] = {
            ord("!"): (1, self._character_size),
            ord("B"): (1, self._invert),
            ord("b"): (1, self._nothing),  # smoothing
            ord("h"): (1, self._barcode_height),
            ord("w"): (1, self._barcode_width),
            ord("H"): (1, self._nothing),  # HRI position
            ord("f"): (1, self._nothing),  # HRI font
            ord("r"): (1, self._transmit_status),
            ord("I"): (1, self._transmit_id),
            ord("a"): (1, self._nothing),  # automatic status back
            ord("L"): (2, self._nothing),  # left margin
            ord("W"): (2, self._nothing),  # print area width
            ord("P"): (2, self._nothing),  # motion units
            ord("T"): (1, self._nothing),  # print position to line start
            ord("|"): (1, self._nothing),  # print density
        }
        self._gs_variable: dict[int, _Handler] = {
            ord("k"): self._gs_barcode,
            ord("("): self._gs_paren,
            ord("8"): self._gs_eight,
            ord("v"): self._gs_raster,
            ord("V"): self._gs_cut,
        }
        # Every fixed-length command by its first two bytes (prefix << 8 | code):
        # the interpreter's fast path, one lookup per command.
        self._fixed: dict[int, tuple[int, _Action]] = {
            prefix << 8 | code: entry
            for prefix, table in (
                (ESC, self._esc_fixed),
                (FS, self._fs_fixed),
                (GS, self._gs_fixed),
            )
            for code, entry in table.items()
        }
        self._reset_modes()

    # -- public API --------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Accept bytes from the host, in any chunking. Never raises on bad input."""
        with self._lock:
            self._input += data
            self.bytes_received += len(data)
            buffer = self._input
            pos = 0
            end = len(buffer)
            self._awaiting = 0
            fixed = self._fixed
            ascii_run = _ASCII_RUN.match
            put = self._put
            # Fast paths, inline, for what receipts are made of -- line feeds,
            # fixed-length commands and ASCII text; _step() does everything else
            # (and everything the fast paths are unsure of).
            while pos < end:
                byte = buffer[pos]
                try:
                    if byte < 0x20:
                        if byte == LF:
                            self._print_line()
                            pos += 1
                            continue
                        entry = fixed.get(byte << 8 | buffer[pos + 1]) if pos + 1 < end else None
                        if entry is not None:
                            stop = pos + 2 + entry[0]
                            if stop <= end:
                                entry[1](bytes(buffer[pos + 2 : stop]), pos)
                                pos = stop
                                continue
                            used = end - stop  # negative: the bytes still missing
                        else:
                            used = self._step(buffer, pos)
                    elif byte < 0x7F and self._chinese:
                        match = ascii_run(buffer, pos)
                        assert match is not None  # buffer[pos] is printable ASCII
                        put(match.group().decode("ascii"), False)
                        pos = match.end()
                        continue
                    else:
                        used = 1 if byte == 0x7F else self._text(buffer, pos)
                except Exception as exc:  # the interpreter must survive any byte stream
                    self._error(pos, f"byte 0x{buffer[pos]:02X}", f"internal error {exc!r}")
                    used = 1
                if used < 0:
                    self._awaiting = -used
                    break
                pos += used
            del buffer[:pos]
            self._base += pos
            finished, self._finished = self._finished, []
        for receipt in finished:
            for hook in list(self.on_receipt):
                hook(receipt)

    def read_reply(self, size: int = REPLY_READ_SIZE) -> bytes:
        """Pop up to ``size`` queued status bytes (what the host would read)."""
        with self._lock:
            reply = bytes(self._replies[:size])
            del self._replies[:size]
            return reply

    def status_byte(self, n: int) -> int:
        """The byte this printer answers to ``DLE EOT n`` (n = 1..4) right now."""
        if n == 1:
            value = STATUS_BASE
            if self.drawer_open:
                value |= STATUS_DRAWER_PIN3
            if self.offline or self.cover_open or self.paper_out:
                value |= STATUS_OFFLINE
            return value
        if n == 2:
            value = STATUS_BASE
            if self.cover_open:
                value |= STATUS_COVER_OPEN
            if self.paper_out:
                value |= STATUS_STOPPED_PAPER_END
            return value
        if n == 3:
            return STATUS_BASE
        if n == 4:
            value = STATUS_BASE
            if self.paper_near_end or self.paper_out:
                value |= STATUS_PAPER_NEAR_END
            if self.paper_out:
                value |= STATUS_PAPER_END
            return value
        raise ValueError(f"DLE EOT {n}: n must be 1, 2, 3 or 4")

    @property
    def awaiting(self) -> int:
        """Bytes the command at the end of the input still needs (at least); 0 if none."""
        with self._lock:
            return self._awaiting if self._input else 0

    @property
    def pending_lines(self) -> tuple[RenderedLine, ...]:
        """Lines printed since the last cut."""
        with self._lock:
            return tuple(self._paper)

    def pending_text(self) -> str:
        """The paper printed since the last cut, as text (see RenderedReceipt.text)."""
        with self._lock:
            return render_lines(self._paper, self.profile.chars_per_line)

    def power_cycle(self) -> None:
        """Switch off and on: input, pending replies and modes are lost; paper stays."""
        with self._lock:
            self._input.clear()
            self._replies.clear()
            self._awaiting = 0
            self._reset_modes()

    # -- the interpreter ------------------------------------------------------

    def _reset_modes(self) -> None:
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
        self._flipped = False
        self._align = "left"
        self._page = 0
        self._table = _codepage_table(self._code_pages.get(0, "CP437"))
        self._chinese = self.profile.supports_cjk and not self.profile.cjk_needs_fs_ampersand
        self._line_spacing = max(1, self.profile.dpi // 6)  # 1/6 inch
        self._tabs: tuple[int, ...] = tuple(range(8, 256, 8))
        self._bc_height = 162
        self._bc_module = 3
        self._symbols: dict[int, bytes] = {}
        self._qr_size = 3
        self._graphics: tuple[int, int] | None = None
        self._clear_line()

    def _clear_line(self) -> None:
        self._spans: list[tuple[_StyleKey, list[str]]] = []
        self._line_dots = 0
        self._line_align = "left"
        self._stripe: tuple[int, int] | None = None
        self._stripes_merge = False

    def _error(self, pos: int, command: str, problem: str) -> None:
        self.errors.append(f"offset {self._base + pos}: {command}: {problem}")

    def _step(self, buffer: bytearray, pos: int) -> int:
        byte = buffer[pos]
        if byte >= 0x20:
            if byte == 0x7F:
                return 1  # DEL: nothing to print
            return self._text(buffer, pos)
        handler = self._controls.get(byte)
        if handler is None:
            self._error(pos, f"control byte 0x{byte:02X}", "not an ESC/POS command; ignored")
            return 1
        return handler(buffer, pos)

    def _prefixed(
        self,
        buffer: bytearray,
        pos: int,
        prefix: str,
        fixed: dict[int, tuple[int, _Action]],
        variable: dict[int, _Handler],
    ) -> int:
        if len(buffer) < pos + 2:
            return -(pos + 2 - len(buffer))
        code = buffer[pos + 1]
        entry = fixed.get(code)
        if entry is not None:
            count, action = entry
            end = pos + 2 + count
            if len(buffer) < end:
                return -(end - len(buffer))
            action(bytes(buffer[pos + 2 : end]), pos)
            return end - pos
        handler = variable.get(code)
        if handler is not None:
            return handler(buffer, pos)
        self._error(pos, _command_name(prefix, code), "unknown command; skipped")
        # Do not swallow the start of the next command.
        return 1 if code < 0x20 else 2

    def _esc(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "ESC", self._esc_fixed, self._esc_variable)

    def _fs(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "FS", self._fs_fixed, {})

    def _gs(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "GS", self._gs_fixed, self._gs_variable)

    def _dle(self, buffer: bytearray, pos: int) -> int:
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        code, n = buffer[pos + 1], buffer[pos + 2]
        if code == 0x04:  # DLE EOT n: real-time status
            if 1 <= n <= 4:
                self._replies.append(self.status_byte(n))
            else:
                self._error(pos, "DLE EOT", f"n={n} is not a status type (1-4); no reply")
            return 3
        if code == 0x05:  # DLE ENQ n: real-time request (recover, clear)
            return 3
        if code == 0x14:  # DLE DC4 fn ...
            sizes = {1: 2, 2: 2, 7: 1, 8: 7}
            extra = sizes.get(n)
            if extra is None:
                self._error(pos, "DLE DC4", f"unknown function {n}; skipped")
                return 3
            end = pos + 3 + extra
            if len(buffer) < end:
                return -(end - len(buffer))
            if n == 1:
                self.drawer_kicks += 1
            elif n == 8:  # clear buffers
                self._clear_line()
            return end - pos
        self._error(pos, _command_name("DLE", code), "unknown real-time command; skipped")
        return 1

    # -- text ----------------------------------------------------------------

    def _text(self, buffer: bytearray, pos: int) -> int:
        if self._chinese:
            if buffer[pos] >= 0x80:
                return self._double_byte(buffer, pos)
            match = _ASCII_RUN.match(buffer, pos)
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
        room = (self._dots_per_line - self._line_dots) // dots
        if 0 < len(text) <= room:  # the usual case: it fits on the line
            if not spans:
                self._line_align = self._align
                spans.append((key, [text]))
            elif spans[-1][0] == key:
                spans[-1][1].append(text)
            else:
                spans.append((key, [text]))
            self._line_dots += dots * len(text)
            return
        while text:
            room = (self._dots_per_line - self._line_dots) // dots
            if room <= 0:
                if spans or self._stripe:
                    self._print_line()
                    spans = self._spans
                    continue
                room = 1  # a character wider than the line prints alone
            if not spans:
                self._line_align = self._align
            chunk, text = text[:room], text[room:]
            if spans and spans[-1][0] == key:
                spans[-1][1].append(chunk)
            else:
                spans.append((key, [chunk]))
            self._line_dots += dots * len(chunk)

    def _tab(self, buffer: bytearray, pos: int) -> int:
        column = self._line_dots // self.profile.dots_per_char
        for stop in self._tabs:
            if stop > column:
                if stop <= self.profile.chars_per_line:
                    self._put(" " * (stop - column), cjk=False)
                break
        return 1

    # -- the paper -------------------------------------------------------------

    def _can_print(self) -> str | None:
        if self.paper_out:
            return "paper out"
        if self.cover_open:
            return "cover open"
        if self.offline:
            return "offline"
        return None

    def _emit(self, line: RenderedLine, *, stripe: bool = False) -> None:
        problem = self._can_print()
        if problem is not None:
            self.unprinted.append(line)
            if line.kind is not LineKind.TEXT or line.spans:
                self.errors.append(f"{problem}: not printed: {line.text!r}")
            self._stripes_merge = False
            return
        if self.paper_left is not None:
            self.paper_left = max(0, self.paper_left - 1)
            if self.paper_left == 0:
                self.paper_out = True
        if stripe and self._stripes_merge and self._paper:
            last = self._paper[-1]
            if last.kind is LineKind.IMAGE and last.width_dots == line.width_dots:
                self._paper[-1] = attrs.evolve(
                    last, height_dots=last.height_dots + line.height_dots
                )
                return
        self._paper.append(line)
        self._stripes_merge = stripe

    def _print_line(self) -> None:
        """Print the line buffer (a blank line when it is empty) and start a new line."""
        stripe = self._stripe
        if self._spans or stripe is None:
            # _StyleKey lists Span's fields after ``text``, in order.
            spans = tuple([Span("".join(chunks), *key) for key, chunks in self._spans])
            line = RenderedLine(LineKind.TEXT, self._line_align, spans)
            if self.paper_left is None and not (self.paper_out or self.cover_open or self.offline):
                self._paper.append(line)  # _emit()'s usual case, inlined
                self._stripes_merge = False
            else:
                self._emit(line)
        if stripe is not None:
            width, height = stripe
            image = RenderedLine(
                LineKind.IMAGE, align=self._line_align, width_dots=width, height_dots=height
            )
            self._emit(image, stripe=True)
        self._spans = []
        self._line_dots = 0
        self._stripe = None

    def _flush_line(self) -> None:
        """Print pending text (if any) before a block (QR, barcode, image)."""
        if self._spans or self._stripe:
            self._print_line()

    def _blank_lines(self, count: int) -> None:
        for _ in range(count):
            self._emit(RenderedLine(LineKind.TEXT, align=self._align))

    def _block(self, line: RenderedLine) -> None:
        self._flush_line()
        self._emit(attrs.evolve(line, align=self._align))

    def _cut(self, pos: int, mode: str) -> None:
        self._flush_line()
        problem = self._can_print()
        if problem is not None:
            self.errors.append(f"offset {self._base + pos}: cut not done: {problem}")
            return
        lines, self._paper = tuple(self._paper), []
        self._stripes_merge = False
        if any(line.kind is not LineKind.TEXT or line.spans for line in lines):
            receipt = RenderedReceipt(lines=lines, columns=self.profile.chars_per_line, cut=mode)
            self.receipts.append(receipt)
            self._finished.append(receipt)

    # -- control characters ------------------------------------------------------

    def _ignore(self, buffer: bytearray, pos: int) -> int:
        return 1

    def _line_feed(self, buffer: bytearray, pos: int) -> int:
        self._print_line()
        return 1

    def _form_feed(self, buffer: bytearray, pos: int) -> int:
        self._flush_line()
        return 1

    # -- fixed-length command actions -----------------------------------------------
    # Each gets the parameter bytes and the buffer position of the command.

    def _nothing(self, params: bytes, pos: int) -> None:
        """Accepted and ignored (no effect on the text model)."""

    def _init(self, params: bytes, pos: int) -> None:
        self._reset_modes()  # ESC @ also discards the unprinted line buffer

    def _print_mode(self, params: bytes, pos: int) -> None:
        n = params[0]
        self._font_b = bool(n & 0x01)
        self._bold = bool(n & 0x08)
        # Chinese-market firmware applies ESC ! sizes to Chinese characters too
        # (Epson's Kanji models need FS ! for that; the driver sends both).
        self._h = self._cjk_h = 2 if n & 0x10 else 1
        self._w = self._cjk_w = 2 if n & 0x20 else 1
        self._ul = 1 if n & 0x80 else 0

    def _emphasis(self, params: bytes, pos: int) -> None:
        self._bold = bool(params[0] & 0x01)

    def _double_strike(self, params: bytes, pos: int) -> None:
        self._strike = bool(params[0] & 0x01)

    def _underline_value(self, pos: int, command: str, n: int) -> int | None:
        if n in (0, 1, 2, 48, 49, 50):
            return n & 0x03
        self._error(pos, command, f"n={n} is not 0-2 or 48-50; ignored")
        return None

    def _underline(self, params: bytes, pos: int) -> None:
        value = self._underline_value(pos, "ESC -", params[0])
        if value is not None:
            self._ul = value

    def _font(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (0, 1, 48, 49):
            self._font_b = bool(n & 0x01)
        else:
            self._error(pos, "ESC M", f"font {n} is not available (0/1); ignored")

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
        self._table = _codepage_table(name)

    def _upside_down(self, params: bytes, pos: int) -> None:
        self._flipped = bool(params[0] & 0x01)

    def _feed_lines(self, params: bytes, pos: int) -> None:
        n = params[0]
        if self._spans or self._stripe:
            self._print_line()
            self._blank_lines(max(0, n - 1))
        else:
            self._blank_lines(n)

    def _feed_dots(self, params: bytes, pos: int) -> None:
        lines = params[0] // self._line_spacing
        if self._spans or self._stripe:
            self._print_line()
            self._blank_lines(max(0, lines - 1))
        else:
            self._blank_lines(lines)

    def _print_line_action(self, params: bytes, pos: int) -> None:
        self._flush_line()

    def _default_spacing(self, params: bytes, pos: int) -> None:
        self._line_spacing = max(1, self.profile.dpi // 6)

    def _spacing(self, numerator: int, divisor: int) -> None:
        self._line_spacing = max(1, round(numerator * self.profile.dpi / divisor))

    def _spacing_180(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 180)

    def _spacing_60(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 60)

    def _spacing_360(self, params: bytes, pos: int) -> None:
        self._spacing(params[0], 360)

    def _drawer_pulse(self, params: bytes, pos: int) -> None:
        if params[0] in (0, 1, 48, 49):
            self.drawer_kicks += 1
        else:
            self._error(pos, "ESC p", f"connector pin m={params[0]} is not 0/1; no pulse")

    def _page_mode(self, params: bytes, pos: int) -> None:
        self._error(pos, "ESC L", "page mode is not simulated; staying in standard mode")

    def _old_cut(self, params: bytes, pos: int) -> None:
        self._cut(pos, "partial")

    def _chinese_on(self, params: bytes, pos: int) -> None:
        if not self.profile.supports_cjk:
            self._error(pos, "FS &", "this printer has no Chinese font; ignored")
            return
        self._chinese = True

    def _chinese_off(self, params: bytes, pos: int) -> None:
        self._chinese = False

    def _chinese_print_mode(self, params: bytes, pos: int) -> None:
        n = params[0]
        self._cjk_w = 2 if n & 0x04 else 1
        self._cjk_h = 2 if n & 0x08 else 1
        self._cjk_ul = 1 if n & 0x80 else 0

    def _chinese_underline(self, params: bytes, pos: int) -> None:
        value = self._underline_value(pos, "FS -", params[0])
        if value is not None:
            self._cjk_ul = value

    def _chinese_quadruple(self, params: bytes, pos: int) -> None:
        size = 2 if params[0] & 0x01 else 1
        self._cjk_w = self._cjk_h = size

    def _nv_image(self, params: bytes, pos: int) -> None:
        self._error(pos, "FS p", f"no NV bit image #{params[0]} is stored; nothing printed")

    def _character_size(self, params: bytes, pos: int) -> None:
        n = params[0]
        width, height = (n >> 4) + 1, (n & 0x0F) + 1
        if width > 8 or height > 8:
            self._error(pos, "GS !", f"n=0x{n:02X}: size out of range (1-8); ignored")
            return
        self._w = self._cjk_w = width
        self._h = self._cjk_h = height

    def _invert(self, params: bytes, pos: int) -> None:
        self._inverted = bool(params[0] & 0x01)

    def _barcode_height(self, params: bytes, pos: int) -> None:
        if params[0] == 0:
            self._error(pos, "GS h", "height 0 is out of range (1-255); ignored")
            return
        self._bc_height = params[0]

    def _barcode_width(self, params: bytes, pos: int) -> None:
        if not 1 <= params[0] <= 6:
            self._error(pos, "GS w", f"module width {params[0]} is out of range (1-6); ignored")
            return
        self._bc_module = params[0]

    def _transmit_status(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (1, 49):
            value = 0
            if self.paper_near_end or self.paper_out:
                value |= GS_R_PAPER_NEAR_END
            if self.paper_out:
                value |= GS_R_PAPER_END
            self._replies.append(value)
        elif n in (2, 50):
            self._replies.append(0x01 if self.drawer_open else 0x00)
        elif n in (4, 52):
            self._replies.append(0x00)
        else:
            self._error(pos, "GS r", f"n={n} is not a status type (1, 2, 4); no reply")

    def _transmit_id(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (1, 49):
            self._replies.append(0x20)  # model ID
        elif n in (2, 50):  # type ID: bit 0 double-byte font, bit 1 autocutter
            self._replies.append(0x02 | (0x01 if self.profile.supports_cjk else 0x00))
        elif n in (3, 51):
            self._replies.append(0x01)  # ROM version
        else:
            self._error(pos, "GS I", f"n={n} is not supported; no reply")

    # -- variable-length commands -------------------------------------------------

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

    def _esc_bit_image(self, buffer: bytearray, pos: int) -> int:
        """ESC * m nL nH d1...dk: one stripe of a column-format bit image."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        m = buffer[pos + 2]
        n = buffer[pos + 3] + 256 * buffer[pos + 4]
        if m not in (0, 1, 32, 33) or not 1 <= n <= 2047:
            self._error(pos, "ESC *", f"m={m} n={n}: not a valid bit image header; skipped")
            return 5
        end = pos + 5 + n * (3 if m >= 32 else 1)
        if len(buffer) < end:
            return -(end - len(buffer))
        width = n * (2 if m in (0, 32) else 1)
        height = 24 if m >= 32 else 8
        if self._spans:
            self._print_line()
        if self._stripe is None:
            self._line_align = self._align
            self._stripe = (width, height)
        else:
            self._stripe = (self._stripe[0] + width, max(self._stripe[1], height))
        return end - pos

    def _gs_barcode(self, buffer: bytearray, pos: int) -> int:
        """GS k m d1...dk NUL (m 0-6) or GS k m n d1...dn (m 65-78)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        m = buffer[pos + 2]
        if m in BARCODE_A:
            allowed = _BARCODE_A_CHARSET[m]
            k = pos + 3
            while True:
                if k >= len(buffer):
                    return -1
                byte = buffer[k]
                if byte == NUL:
                    break
                if byte not in allowed or k - pos - 3 >= 255:
                    self._error(
                        pos,
                        "GS k",
                        f"{BARCODE_A[m]}: byte 0x{byte:02X} is not barcode data; "
                        "barcode not printed, the rest is processed as normal data",
                    )
                    return k - pos
                k += 1
            self._barcode(pos, BARCODE_A[m], bytes(buffer[pos + 3 : k]))
            return k + 1 - pos
        if m in BARCODE_B:
            if len(buffer) < pos + 4:
                return -1
            n = buffer[pos + 3]
            end = pos + 4 + n
            if len(buffer) < end:
                return -(end - len(buffer))
            self._barcode(pos, BARCODE_B[m], bytes(buffer[pos + 4 : end]))
            return end - pos
        self._error(pos, "GS k", f"m={m} is not a barcode system; skipped")
        return 3

    def _barcode(self, pos: int, symbology: str, data: bytes) -> None:
        if not data:
            self._error(pos, "GS k", f"{symbology}: no data; nothing printed")
            return
        if symbology in ("CODE128", "GS1-128"):
            text, symbols, valid = _code128_text(data)
            if not valid:
                self._error(
                    pos, "GS k", f"{symbology} data must start with {{A, {{B or {{C; not printed"
                )
                return
            modules = (symbols + 1) * 11 + 13  # data + check character, stop pattern
            dots = modules * self._bc_module
            if dots > self.profile.dots_per_line:
                self._error(
                    pos,
                    "GS k",
                    f"{symbology} {text!r} is {dots} dots wide (module {self._bc_module}), "
                    f"more than the {self.profile.dots_per_line}-dot line; not printed",
                )
                return
        else:
            text = data.decode("latin-1")
        self._block(RenderedLine(LineKind.BARCODE, data=text, symbology=symbology))

    def _gs_paren(self, buffer: bytearray, pos: int) -> int:
        """GS ( x pL pH ...: the length-prefixed function family."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        sub = buffer[pos + 2]
        size = buffer[pos + 3] + 256 * buffer[pos + 4]
        name = _command_name("GS (", sub)
        if sub == ord("k") and size > QR_MAX_PARAMETER_BYTES:
            self._error(pos, name, f"{size} parameter bytes is more than any symbol holds; skipped")
            return 5
        end = pos + 5 + size
        if len(buffer) < end:
            return -(end - len(buffer))
        body = bytes(buffer[pos + 5 : end])
        if sub == ord("k"):
            self._symbol_function(pos, body)
        elif sub == ord("L"):
            self._graphics_function(pos, name, body)
        else:
            self._error(pos, name, f"not simulated; skipped {size} parameter bytes")
        return end - pos

    def _gs_eight(self, buffer: bytearray, pos: int) -> int:
        """GS 8 L p1 p2 p3 p4 m fn ...: graphics with a 32-bit length."""
        if len(buffer) < pos + 7:
            return -(pos + 7 - len(buffer))
        if buffer[pos + 2] != ord("L"):
            self._error(pos, _command_name("GS 8", buffer[pos + 2]), "unknown command; skipped")
            return 2
        size = int.from_bytes(buffer[pos + 3 : pos + 7], "little")
        limit = RASTER_MAX_HEIGHT * self.profile.dots_per_line // 8 + 16
        if size > limit:
            self._error(pos, "GS 8 L", f"{size} bytes is larger than any image; skipped")
            return 7
        end = pos + 7 + size
        if len(buffer) < end:
            return -(end - len(buffer))
        self._graphics_function(pos, "GS 8 L", bytes(buffer[pos + 7 : end]))
        return end - pos

    def _graphics_function(self, pos: int, name: str, body: bytes) -> None:
        if len(body) < 2:
            self._error(pos, name, "no function code; skipped")
            return
        fn = body[1]
        if fn == 0x70:  # 112: store raster graphics a bx by c xL xH yL yH d...
            if len(body) < 10:
                self._error(pos, name, "function 112 header too short; skipped")
                return
            x_scale, y_scale = body[3], body[4]
            width = body[6] + 256 * body[7]
            height = body[8] + 256 * body[9]
            self._graphics = (width * max(1, x_scale), height * max(1, y_scale))
        elif fn in (0x32, 0x02):  # 50: print the stored graphics
            if self._graphics is None:
                self._error(pos, name, "print graphics: nothing stored; nothing printed")
                return
            width, height = self._graphics
            self._block(RenderedLine(LineKind.IMAGE, width_dots=width, height_dots=height))
        else:
            self._error(pos, name, f"graphics function {fn} is not simulated; skipped")

    def _symbol_function(self, pos: int, body: bytes) -> None:
        name = "GS ( k"
        if len(body) < 2:
            self._error(pos, name, "no symbol/function code; skipped")
            return
        cn, fn = body[0], body[1]
        symbology = SYMBOLS_2D.get(cn)
        if symbology is None:
            self._error(pos, name, f"cn={cn} is not a 2D symbol type; skipped")
            return
        if fn == 80:  # store data: m d1...dk
            data = body[3:]
            if len(body) < 3 or not data:
                self._error(pos, name, f"{symbology} store: no data")
                return
            self._symbols[cn] = data
        elif fn == 81:  # print the stored symbol
            stored = self._symbols.get(cn)
            if stored is None:
                self._error(pos, name, f"{symbology} print: no data stored; nothing printed")
                return
            text = _decode_2d(stored, self.profile.cjk_encoding)
            kind = LineKind.QR if cn == 49 else LineKind.CODE_2D
            self._block(RenderedLine(kind, data=text, symbology=symbology))
        elif cn == 49 and fn == 67:  # QR module size
            size = body[2] if len(body) > 2 else 0
            if 1 <= size <= 16:
                self._qr_size = size
            else:
                self._error(pos, name, f"QR module size {size} is out of range (1-16); ignored")
        # other functions set model, error correction, columns ... (no text effect)

    def _gs_raster(self, buffer: bytearray, pos: int) -> int:
        """GS v 0 m xL xH yL yH d1...dk: raster bit image."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        if buffer[pos + 2] != ord("0"):
            self._error(pos, _command_name("GS v", buffer[pos + 2]), "unknown command; skipped")
            return 2
        if len(buffer) < pos + 8:
            return -(pos + 8 - len(buffer))
        m = buffer[pos + 3]
        x = buffer[pos + 4] + 256 * buffer[pos + 5]
        y = buffer[pos + 6] + 256 * buffer[pos + 7]
        if (
            m not in (0, 1, 2, 3, 48, 49, 50, 51)
            or not 1 <= x <= RASTER_MAX_WIDTH_BYTES
            or not 1 <= y <= RASTER_MAX_HEIGHT
        ):
            self._error(pos, "GS v 0", f"m={m} x={x} y={y}: not a valid raster header; skipped")
            return 8
        end = pos + 8 + x * y
        if len(buffer) < end:
            return -(end - len(buffer))
        width = x * 8 * (2 if m & 0x01 else 1)
        height = y * (2 if m & 0x02 else 1)
        self._block(RenderedLine(LineKind.IMAGE, width_dots=width, height_dots=height))
        return end - pos

    def _gs_cut(self, buffer: bytearray, pos: int) -> int:
        """GS V m (0/1/48/49) or GS V m n (65/66, 97/98, 103/104)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        m = buffer[pos + 2]
        if m in (0, 48, 1, 49):
            self._cut(pos, "partial" if m & 0x01 else "full")
            return 3
        if m in (65, 66, 97, 98, 103, 104):
            if len(buffer) < pos + 4:
                return -1
            self._cut(pos, "full" if m & 0x01 else "partial")
            return 4
        self._error(pos, "GS V", f"m={m} is not a cut mode; skipped")
        return 3


class InProcessEscpos(Escpos):  # type: ignore[misc]  # python-escpos is untyped
    """A python-escpos printer whose transport is a :class:`VirtualPrinter`."""

    def __init__(self, virtual: VirtualPrinter, **kwargs: Any) -> None:
        kwargs.setdefault("profile", virtual.profile.escpos_profile)
        super().__init__(**kwargs)
        self.virtual = virtual

    def open(self) -> None:
        self.device = self.virtual

    def _raw(self, msg: bytes) -> None:
        self.virtual.feed(bytes(msg))

    def _read(self) -> bytes:
        return self.virtual.read_reply()

    def close(self) -> None:
        """Nothing to release: the virtual printer lives on for inspection."""
