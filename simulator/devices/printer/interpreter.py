"""A virtual ESC/POS receipt printer.

:class:`VirtualPrinter` interprets the ESC/POS byte stream a real thermal
printer receives -- in whatever chunks the transport delivers it -- and keeps a
paper model: every printed line with its text and attributes, cut into
:class:`RenderedReceipt` objects. It answers the real-time status queries
(``DLE EOT n``, ``GS r n``) with the bytes a real printer sends, reflecting
fault flags (paper out, paper near end, cover open, offline, feed button,
recoverable / autocutter / unrecoverable errors, head overheat) that tests and
scenarios set; ``DLE ENQ 1/2`` clears the recoverable ones. The bit layouts are
in :mod:`simulator.devices.escpos.status`.

Malformed or unknown commands never raise: each is reported as an
:class:`EscposDiagnostic` (``diagnostics``, its message also in ``errors``, and
to every ``on_diagnostic`` hook) with its byte offset in the stream, and
skipped by its known length -- length-prefixed families (``GS ( x``, ``ESC ( x``,
``FS ( x``, ``GS 8 L``) by their declared length -- so the rest of the stream
still prints; a command cut short waits for the rest of its bytes. A declared
size over what the modelled printer accepts (:mod:`.escpos.limits`) cancels the
command and what follows is processed as normal data, so no header makes the
printer wait for more than its largest command. What the printer keeps --
receipts, diagnostics, unprinted lines, the paper since the last cut, queued
replies -- is capped (:mod:`.escpos.retention`), with counts of what was dropped.

Every printed line keeps what a renderer needs: text spans with their
attributes, the print position a span was moved to (``ESC $``, ``ESC \\``) and
the line spacing in force; the left margin and print area (``GS L``, ``GS W``,
:mod:`simulator.devices.printer.layout`) and upside-down mode (``ESC {``) of
every line; QR codes with module size, error correction level and the data
bytes; barcodes with symbology, data, ``GS w`` width, height and HRI
position/font (one wider than the print area is refused, as Epson documents);
images (``GS v 0``, ``ESC *`` at its mode's dot density, ``GS ( L`` / ``GS 8
L``) as packed 1-bit rows, dot for dot. :mod:`simulator.devices.printer.paper` renders
receipts as text, :mod:`simulator.devices.printer.render.png` as PNG.

:class:`InProcessEscpos` is a python-escpos printer class whose transport is a
:class:`VirtualPrinter`, so the unchanged python-escpos API (and
:class:`drivers.printer.escpos.EscposPrinter`) drives the virtual printer
in-process.

Simplifications (documented so nobody relies on them): standard mode only (page
mode is reported and ignored); character spacing (``ESC SP``, ``FS S``) and
motion units (``GS P``: the horizontal unit is one dot) are accepted and
ignored; user-defined characters, downloaded and NV bit images are skipped and
reported; ``ESC J`` feeds whole lines of the current spacing; a QR code,
barcode or raster image first prints any pending text on its own line and
starts at the left margin, justified in the print area (a print position moved
to before it does not apply); ``ESC *`` images do not share a line with text;
``GS L``, ``GS W`` and ``ESC {`` sent in the middle of a line are reported and
ignored ("enabled only when processed at the beginning of the line"); the
text transcript reads upside-down lines the right way up (the PNG turns
them); ``ESC !`` and ``ESC E``/``ESC -``/``GS !`` share
state the way Epson documents (the last command received wins), and ``ESC !``
sizes apply to Chinese characters too, as on Chinese-market printers
(``FS !`` sizes Chinese characters only).
"""

from __future__ import annotations

import codecs
import contextlib
import re
import threading
from collections.abc import Callable

import attrs

from drivers.printer.profile import PrinterProfile
from simulator.devices.escpos.status import (
    cannot_print,
    dle_eot,
    gs_r,
)
from simulator.devices.escpos.tables import (
    BARCODE_A,
    BARCODE_A_CHARSET,
    BARCODE_B,
    DLE,
    ESC,
    FS,
    GS,
    HRI_POSITIONS,
    LF,
    NUL,
    QR_EC_LEVELS,
    QR_MAX_PARAMETER_BYTES,
    QR_MODELS,
    RASTER_MAX_HEIGHT,
    RASTER_MAX_WIDTH_BYTES,
    SYMBOLS_2D,
    code128_text,
    codepage_table,
    command_name,
    decode_2d,
    escpos_code_pages,
)
from simulator.devices.printer import limits
from simulator.devices.printer.diagnostics import DiagnosticHook, EscposDiagnostic, command_at
from simulator.devices.printer.layout import PrintArea
from simulator.devices.printer.paper import (
    LineKind,
    ReceiptHook,
    RenderedLine,
    RenderedReceipt,
    Span,
    render_lines,
)
from simulator.devices.printer.render import bitmaps
from simulator.devices.printer.render.symbols import SymbolError, barcode_dots
from simulator.devices.printer.retention import Retained, Retention, line_bytes, receipt_bytes

REPLY_READ_SIZE = 16  # python-escpos transports read up to 16 bytes at a time

_ASCII_RUN = re.compile(rb"[\x20-\x7e]+")
_SINGLE_BYTE_RUN = re.compile(rb"[\x20-\x7e\x80-\xff]+")
# Whole two-byte GB18030 characters, decoded as one run (most Chinese text).
_DOUBLE_BYTE_RUN = re.compile(rb"(?:[\x81-\xfe][\x40-\x7e\x80-\xfe])+")
_decode_gb18030 = codecs.getdecoder("gb18030")

_Bitmap = tuple[int, int, bytes]  # width, height, packed rows (see escpos.bitmaps)


# A handler gets (buffer, position of the command's first byte) and returns the
# number of bytes it consumed (> 0), or -n when it needs at least n more bytes.
_Handler = Callable[[bytearray, int], int]
_Action = Callable[[bytes, int], None]

_StyleKey = tuple[bool, int, int, int, bool, str, bool]
# A text line's content: alignment, line spacing in dots, left margin and print
# area (dots), upside down, and (style, print position or None, text) per span.
_LineKey = tuple[str, int, int, int, bool, tuple[tuple[_StyleKey, int | None, str], ...]]
_LINE_CACHE_SIZE = 4096
# ESC * stripes of one image are kept as one image line up to this height, then
# a new line starts: stacking re-copies the image, so an unbounded one would
# cost the square of its height. The paper shows no seam either way.
_STACKED_IMAGE_MAX_HEIGHT = 2048


class VirtualPrinter:
    """An incremental ESC/POS interpreter with a paper model."""

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        self.profile = profile
        # What the printer keeps is capped (see escpos.retention); hooks see everything.
        self.retention = keep = retention if retention is not None else Retention()
        self.receipts: Retained[RenderedReceipt] = Retained(
            keep.receipts, max_weight=keep.receipt_bytes, weigh=receipt_bytes
        )
        self.errors: Retained[str] = Retained(keep.diagnostics)  # each diagnostic's message
        self.diagnostics: Retained[EscposDiagnostic] = Retained(keep.diagnostics)
        self.on_diagnostic: list[DiagnosticHook] = []  # called under the printer's lock
        # Lines sent while the printer could not print.
        self.unprinted: Retained[RenderedLine] = Retained(keep.unprinted)
        self.paper_lines_dropped = 0  # oldest lines of an overlong uncut print, dropped
        self.replies_dropped = 0  # status bytes past the reply queue's cap
        self.drawer_kicks = 0
        self.bytes_received = 0
        self.on_receipt: list[ReceiptHook] = []
        # Fault flags, set by tests and scenarios.
        self.paper_out = False
        self.paper_near_end = False
        self.cover_open = False
        self.offline = False
        self.drawer_open = False  # drawer kick-out connector pin 3 (drawer sensor)
        self.feed_button = False  # paper being fed by the feed button
        # Errors (DLE EOT 3). DLE ENQ 1/2 clears the recoverable and cutter errors.
        self.recoverable_error = False
        self.cutter_error = False
        self.unrecoverable_error = False
        self.head_overheat = False  # automatically recoverable
        # Lines of paper left on the roll (None: endless). Printing the last one
        # sets paper_out, so a roll can run out in the middle of a receipt.
        self.paper_left: int | None = None

        self._lock = threading.RLock()
        self._input = bytearray()
        self._base = 0  # stream offset of _input[0]
        self._awaiting = 0
        self._replies = bytearray()
        self._paper: list[RenderedLine] = []
        self._paper_bytes = 0  # _line_bytes of the paper since the last cut
        self._paper_trimmed = False  # the caps dropped lines of it (reported once)
        self._finished: list[RenderedReceipt] = []
        self._lines: dict[_LineKey, RenderedLine] = {}  # see _text_line
        self._code_pages = escpos_code_pages(profile.escpos_profile)
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
            ord("$"): (2, self._absolute_position),
            ord("\\"): (2, self._relative_position),
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
            ord("&"): self._esc_user_characters,
            ord("("): self._length_prefixed,  # ESC ( A beeper, ESC ( Y ...
        }
        self._fs_variable: dict[int, _Handler] = {
            ord("("): self._length_prefixed,  # FS ( A/C/E/L ...
            ord("q"): self._fs_nv_images,
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
            ord("H"): (1, self._hri_position),
            ord("f"): (1, self._hri_font),
            ord("\\"): (2, self._nothing),  # relative vertical position (page mode)
            ord("$"): (2, self._nothing),  # absolute vertical position (page mode)
            ord("^"): (3, self._nothing),  # execute macro
            ord(":"): (0, self._nothing),  # start/end macro definition
            ord("/"): (1, self._downloaded_image),
            ord("E"): (1, self._nothing),  # head energising time
            ord("c"): (0, self._nothing),  # print counter
            ord("g"): (4, self._nothing),  # GS g 0/2: maintenance counters
            ord("j"): (1, self._nothing),  # automatic status back (ink)
            ord("r"): (1, self._transmit_status),
            ord("I"): (1, self._transmit_id),
            ord("a"): (1, self._nothing),  # automatic status back
            ord("L"): (2, self._left_margin),
            ord("W"): (2, self._print_area_width),
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
            ord("*"): self._gs_define_image,
            ord("D"): self._gs_bmp_graphics,
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
        return dle_eot(n, self)

    @property
    def awaiting(self) -> int:
        """Bytes the command at the end of the input still needs (at least); 0 if none."""
        with self._lock:
            return self._awaiting if self._input else 0

    @property
    def interpreted(self) -> int:
        """Stream offset of the first byte not interpreted yet (bytes before it are done)."""
        with self._lock:
            return self._base

    @property
    def dropped(self) -> dict[str, int]:
        """How many of each kept record the retention caps dropped (see escpos.retention)."""
        with self._lock:
            return {
                "receipts": self.receipts.dropped,
                "diagnostics": self.diagnostics.dropped,
                "unprinted": self.unprinted.dropped,
                "paper_lines": self.paper_lines_dropped,
                "replies": self.replies_dropped,
            }

    def discard_incomplete(self, why: str) -> int:
        """Drop the command still waiting for its bytes (its host went away); bytes dropped.

        The next host's bytes then start a new command instead of completing
        this one, so its ``DLE EOT`` is answered, not swallowed as data.
        """
        with self._lock:
            size = len(self._input)
            if not size:
                return 0
            problem = f"{why} inside the command; its {size} byte(s) discarded"
            self._report(EscposDiagnostic(self._base, command_at(self._input), problem))
            self._base += size
            self._input.clear()
            self._awaiting = 0
            return size

    @property
    def pending_lines(self) -> tuple[RenderedLine, ...]:
        """Lines printed since the last cut."""
        with self._lock:
            return tuple(self._paper)

    def pending_text(self) -> str:
        """The paper printed since the last cut, as text (see RenderedReceipt.text)."""
        with self._lock:
            return render_lines(self._paper, self.profile.chars_per_line, self._dots_per_char)

    def tear_off(self) -> RenderedReceipt | None:
        """Print the unfinished line and tear off the paper since the last cut, uncut.

        For a captured stream that ends without a cut (``possim render``): the
        receipt has ``cut="none"``, is not added to ``receipts`` and calls no hook.
        """
        with self._lock:
            self._flush_line()
            lines, self._paper = tuple(self._paper), []
            self._paper_bytes = 0
            self._paper_trimmed = False
            self._stripes_merge = False
        if not any(line.kind is not LineKind.TEXT or line.spans for line in lines):
            return None
        return RenderedReceipt(
            lines=lines,
            columns=self.profile.chars_per_line,
            cut="none",
            column_dots=self._dots_per_char,
        )

    def power_cycle(self) -> None:
        """Switch off and on: input, pending replies and modes are lost; paper stays."""
        with self._lock:
            self._base += len(self._input)  # offsets stay those of the whole stream
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
        self._table = codepage_table(self._code_pages.get(0, "CP437"))
        self._chinese = self.profile.supports_cjk and not self.profile.cjk_needs_fs_ampersand
        self._line_spacing = max(1, self.profile.dpi // 6)  # 1/6 inch
        self._tabs: tuple[int, ...] = tuple(range(8, 256, 8))
        self._bc_height = 162
        self._bc_module = 3
        self._bc_hri = "none"
        self._bc_hri_font = "A"
        self._symbols: dict[int, bytes] = {}
        self._qr_size = 3
        self._qr_ec = "L"
        self._qr_model = 2
        self._graphics: _Bitmap | None = None
        self._area = PrintArea(self._dots_per_line)
        self._clear_line()

    def _clear_line(self) -> None:
        # (style, print position if it was moved there, text chunks) per span
        self._spans: list[tuple[_StyleKey, int | None, list[str]]] = []
        self._line_dots = 0  # the print position, dots from the left margin
        self._moved = False  # ESC $ / ESC \ moved it since the last character
        self._line_align = "left"
        self._stripe: _Bitmap | None = None
        self._stripes_merge = False

    def _reply(self, value: int) -> None:
        """Queue a status byte; a host that never reads them cannot fill memory."""
        cap = self.retention.replies
        if cap is not None and len(self._replies) >= cap:
            self.replies_dropped += 1
            return
        self._replies.append(value)

    def _error(self, pos: int, command: str, problem: str) -> None:
        self._report(EscposDiagnostic(self._base + pos, command, problem))

    def _report(self, diagnostic: EscposDiagnostic) -> None:
        self.diagnostics.append(diagnostic)
        self.errors.append(diagnostic.message)
        for hook in list(self.on_diagnostic):
            hook(diagnostic)

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
        self._error(pos, command_name(prefix, code), "unknown command; skipped")
        # Do not swallow the start of the next command.
        return 1 if code < 0x20 else 2

    def _esc(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "ESC", self._esc_fixed, self._esc_variable)

    def _fs(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "FS", self._fs_fixed, self._fs_variable)

    def _gs(self, buffer: bytearray, pos: int) -> int:
        return self._prefixed(buffer, pos, "GS", self._gs_fixed, self._gs_variable)

    def _dle(self, buffer: bytearray, pos: int) -> int:
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        code, n = buffer[pos + 1], buffer[pos + 2]
        if code == 0x04:  # DLE EOT n: real-time status
            if 1 <= n <= 4:
                self._reply(self.status_byte(n))
            else:
                self._error(pos, "DLE EOT", f"n={n} is not a status type (1-4); no reply")
            return 3
        if code == 0x05:  # DLE ENQ n: real-time request to the printer
            if n in (1, 2):  # recover from a recoverable error (2: and clear the buffers)
                self.recoverable_error = False
                self.cutter_error = False
                if n == 2:
                    self._clear_line()
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
        self._error(pos, command_name("DLE", code), "unknown real-time command; skipped")
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

    def _tab(self, buffer: bytearray, pos: int) -> int:
        column = self._line_dots // self._dots_per_char
        for stop in self._tabs:
            if stop > column:
                if stop * self._dots_per_char <= self._area.width:
                    self._put(" " * (stop - column), cjk=False)
                break
        return 1

    # -- the paper -------------------------------------------------------------

    def _can_print(self) -> str | None:
        return cannot_print(self)

    def _emit(self, line: RenderedLine, *, stripe: bool = False) -> None:
        problem = self._can_print()
        if problem is not None:
            self.unprinted.append(line)
            if line.kind is not LineKind.TEXT or line.spans:
                self._report(EscposDiagnostic(None, problem, f"not printed: {line.text!r}"))
            self._stripes_merge = False
            return
        if self.paper_left is not None:
            self.paper_left = max(0, self.paper_left - 1)
            if self.paper_left == 0:
                self.paper_out = True
        if stripe and self._stripes_merge and self._paper:
            last = self._paper[-1]
            if (
                last.kind is LineKind.IMAGE
                and last.width_dots == line.width_dots
                and last.height_dots + line.height_dots <= _STACKED_IMAGE_MAX_HEIGHT
            ):
                _, height, bitmap = bitmaps.stacked(
                    (last.width_dots, last.height_dots, last.bitmap),
                    (line.width_dots, line.height_dots, line.bitmap),
                )
                self._paper[-1] = attrs.evolve(last, height_dots=height, bitmap=bitmap)
                self._paper_bytes += len(line.bitmap)
                return
        self._lay(line)
        self._stripes_merge = stripe

    def _lay(self, line: RenderedLine) -> None:
        """Put a line on the paper since the last cut, within the retention caps."""
        self._paper.append(line)
        self._paper_bytes += line_bytes(line)
        keep = self.retention
        if (keep.paper_lines is not None and len(self._paper) > keep.paper_lines) or (
            keep.paper_bytes is not None and self._paper_bytes > keep.paper_bytes
        ):
            self._trim_paper()

    def _trim_paper(self) -> None:
        """Drop the oldest half of an overlong uncut print (until it is within the caps)."""
        keep = self.retention
        dropped = 0
        while len(self._paper) > 1 and (
            (keep.paper_lines is not None and len(self._paper) > keep.paper_lines)
            or (keep.paper_bytes is not None and self._paper_bytes > keep.paper_bytes)
        ):
            half = len(self._paper) // 2
            del self._paper[:half]
            dropped += half
            self._paper_bytes = sum(line_bytes(line) for line in self._paper)
        self.paper_lines_dropped += dropped
        if dropped and not self._paper_trimmed:
            self._paper_trimmed = True  # once per receipt: the count says the rest
            self._report(
                EscposDiagnostic(
                    None,
                    "paper",
                    f"more than {keep.paper_lines} lines or {keep.paper_bytes} bytes since "
                    f"the last cut; the oldest {dropped} line(s) are not kept",
                )
            )

    def _print_line(self) -> None:
        """Print the line buffer (a blank line when it is empty) and start a new line."""
        stripe = self._stripe
        margin, area = self._area.frame
        if self._spans or stripe is None:
            line = self._text_line(
                (
                    self._line_align,
                    self._line_spacing,
                    margin,
                    area,
                    self._flipped,
                    tuple([(key, x, "".join(chunks)) for key, x, chunks in self._spans]),
                )
            )
            if self.paper_left is None and self._can_print() is None:
                self._lay(line)  # _emit()'s usual case, inlined
                self._stripes_merge = False
            else:
                self._emit(line)
        if stripe is not None:
            width, height, bitmap = stripe
            image = RenderedLine(
                LineKind.IMAGE,
                align=self._line_align,
                width_dots=width,
                height_dots=height,
                bitmap=bitmap,
                margin_dots=margin,
                area_dots=area,
                upside_down=self._flipped,
            )
            # Stripes of one image join up -- unless each is turned over on its own.
            self._emit(image, stripe=not self._flipped)
        self._spans = []
        self._line_dots = 0
        self._moved = False
        self._stripe = None

    def _text_line(self, content: _LineKey) -> RenderedLine:
        """The text line with this alignment, spacing and spans -- built once.

        Receipts repeat most of their lines (labels, rules, blank feeds) copy
        after copy; lines are frozen, so equal ones can be one shared object
        instead of a dozen attrs constructions each time.
        """
        line = self._lines.get(content)
        if line is None:
            align, spacing, margin, area, upside_down, parts = content
            # _StyleKey lists Span's fields after ``text``, in order.
            spans = tuple([Span(text, *key, x=x) for key, x, text in parts])
            line = RenderedLine(
                LineKind.TEXT,
                align,
                spans,
                feed_dots=spacing,
                margin_dots=margin,
                area_dots=area,
                upside_down=upside_down,
            )
            if len(self._lines) >= _LINE_CACHE_SIZE:
                self._lines.clear()  # bounded: a long run prints endless new amounts
            self._lines[content] = line
        return line

    def _flush_line(self) -> None:
        """Print pending text (if any) before a block (QR, barcode, image)."""
        if self._spans or self._stripe:
            self._print_line()

    def _blank_lines(self, count: int) -> None:
        for _ in range(count):
            self._emit(self._text_line((self._align, self._line_spacing, 0, 0, False, ())))

    def _block(self, line: RenderedLine, *, turns: bool = True) -> None:
        """Print a code or image on its own line (``turns``: ESC { turns it over too)."""
        self._flush_line()
        margin, area = self._area.frame
        self._emit(
            attrs.evolve(
                line,
                align=self._align,
                margin_dots=margin,
                area_dots=area,
                upside_down=turns and self._flipped,
            )
        )

    def _cut(self, pos: int, mode: str) -> None:
        self._flush_line()
        problem = self._can_print()
        if problem is not None:
            self._report(EscposDiagnostic(self._base + pos, "cut not done", problem))
            return
        lines, self._paper = tuple(self._paper), []
        self._paper_bytes = 0
        self._paper_trimmed = False
        self._stripes_merge = False
        if any(line.kind is not LineKind.TEXT or line.spans for line in lines):
            receipt = RenderedReceipt(
                lines=lines,
                columns=self.profile.chars_per_line,
                cut=mode,
                column_dots=self._dots_per_char,
            )
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
        self._table = codepage_table(name)

    def _at_line_start(self, pos: int, command: str) -> bool:
        """Epson: "enabled only when processed at the beginning of the line" (standard mode)."""
        if self._spans or self._stripe is not None:
            self._error(pos, command, "not at the beginning of a line; ignored")
            return False
        return True

    def _upside_down(self, params: bytes, pos: int) -> None:
        if self._at_line_start(pos, "ESC {"):
            self._flipped = bool(params[0] & 0x01)

    def _left_margin(self, params: bytes, pos: int) -> None:
        if self._at_line_start(pos, "GS L"):
            self._area.margin_set = params[0] + 256 * params[1]

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

    def _absolute_position(self, params: bytes, pos: int) -> None:
        units = params[0] + 256 * params[1]
        self._move_to(pos, "ESC $", self._area.absolute(units), units)

    def _relative_position(self, params: bytes, pos: int) -> None:
        units = params[0] + 256 * params[1]
        target = self._area.relative(self._line_dots, units)
        self._move_to(pos, "ESC \\", target, units if units < 0x8000 else units - 0x10000)

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

    def _hri_position(self, params: bytes, pos: int) -> None:
        n = params[0]
        position = HRI_POSITIONS.get(n - 48 if n >= 48 else n)
        if position is None:
            self._error(pos, "GS H", f"n={n} is not 0-3 or 48-51; ignored")
            return
        self._bc_hri = position

    def _hri_font(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (0, 1, 48, 49):
            self._bc_hri_font = "B" if n & 0x01 else "A"
        else:
            self._error(pos, "GS f", f"HRI font {n} is not 0/1 or 48/49; ignored")

    def _downloaded_image(self, params: bytes, pos: int) -> None:
        self._error(pos, "GS /", "downloaded bit images are not simulated; nothing printed")

    def _transmit_status(self, params: bytes, pos: int) -> None:
        value = gs_r(params[0], self)
        if value is None:
            self._error(pos, "GS r", f"n={params[0]} is not a status type (1, 2, 4); no reply")
        else:
            self._reply(value)

    def _transmit_id(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (1, 49):
            self._reply(0x20)  # model ID
        elif n in (2, 50):  # type ID: bit 0 double-byte font, bit 1 autocutter
            self._reply(0x02 | (0x01 if self.profile.supports_cjk else 0x00))
        elif n in (3, 51):
            self._reply(0x01)  # ROM version
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
        # Epson's ESC * table: the 8-dot modes print 60 dpi down the paper on a 180
        # dpi head (67 dpi on 203 dpi heads, Zijiang ZJ-58 manual), one data bit per
        # three dot rows; single density prints 90 (100) dpi across, a bit per two dots.
        dots = 24 if m >= 32 else 8
        x_scale = 2 if m in (0, 32) else 1
        y_scale = 1 if m >= 32 else 3
        data = bytes(buffer[pos + 5 : end])
        piece = (n * x_scale, dots * y_scale, bitmaps.columns(data, n, dots, x_scale, y_scale))
        if self._spans:
            self._print_line()
        if self._stripe is None:
            self._line_align = self._align
            self._stripe = piece
        else:
            self._stripe = bitmaps.side_by_side(self._stripe, piece, self._dots_per_line)
        return end - pos

    def _length_prefixed(self, buffer: bytearray, pos: int) -> int:
        """ESC ( x pL pH ... / FS ( x pL pH ...: known families, skipped by their length."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        prefix = {ESC: "ESC (", FS: "FS ("}.get(buffer[pos], "(")
        size = buffer[pos + 3] + 256 * buffer[pos + 4]
        end = pos + 5 + size
        if len(buffer) < end:
            return -(end - len(buffer))
        name = command_name(prefix, buffer[pos + 2])
        self._error(pos, name, f"not simulated; skipped {size} parameter bytes")
        return end - pos

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

    def _fs_nv_images(self, buffer: bytearray, pos: int) -> int:
        """FS q n [xL xH yL yH d1...dk]1...n: define NV bit images (skipped)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        k = pos + 3
        stored = 0
        for _ in range(buffer[pos + 2]):
            if len(buffer) < k + 4:
                return -(k + 4 - len(buffer))
            x = buffer[k] + 256 * buffer[k + 1]
            y = buffer[k + 2] + 256 * buffer[k + 3]
            stored += x * y * 8
            if (
                not 1 <= x <= limits.NV_IMAGE_MAX_WIDTH_BYTES
                or not 1 <= y <= limits.NV_IMAGE_MAX_HEIGHT_BYTES
                or stored > limits.NV_GRAPHICS_CAPACITY
            ):
                self._error(
                    pos,
                    "FS q",
                    f"image of {x} x {y} bytes: over the printer's limits (1-1023 x 1-288, "
                    f"{limits.NV_GRAPHICS_CAPACITY} bytes in all); cancelled, the rest is "
                    "processed as normal data",
                )
                return k + 4 - pos
            k += 4 + x * y * 8
        if len(buffer) < k:
            return -(k - len(buffer))
        self._error(pos, "FS q", "NV bit images are not simulated; skipped")
        return k - pos

    def _gs_define_image(self, buffer: bytearray, pos: int) -> int:
        """GS * x y d1...d(x*y*8): define a downloaded bit image (skipped)."""
        if len(buffer) < pos + 4:
            return -(pos + 4 - len(buffer))
        x, y = buffer[pos + 2], buffer[pos + 3]
        if (
            not 1 <= y <= limits.DOWNLOADED_IMAGE_MAX_HEIGHT_BYTES
            or not 1 <= x * y <= limits.DOWNLOADED_IMAGE_MAX_AREA
        ):
            self._error(
                pos,
                "GS *",
                f"x={x} y={y}: over the printer's limits (y 1-48, x * y <= 1536); cancelled, "
                "the rest is processed as normal data",
            )
            return 4
        end = pos + 4 + x * y * 8
        if len(buffer) < end:
            return -(end - len(buffer))
        self._error(pos, "GS *", "downloaded bit images are not simulated; skipped")
        return end - pos

    def _gs_bmp_graphics(self, buffer: bytearray, pos: int) -> int:
        """GS D m fn a kc1 kc2 b c d1...dk: NV / download graphics from a Windows BMP (skipped).

        d is a whole BMP file, so its size is the file header's (``BM`` + 32 bits).
        """
        if len(buffer) < pos + 4:
            return -(pos + 4 - len(buffer))
        m, fn = buffer[pos + 2], buffer[pos + 3]
        if m != 48 or fn not in (67, 83):
            self._error(pos, "GS D", f"m={m} fn={fn}: not a BMP graphics definition; skipped")
            return 4
        head = pos + limits.GS_D_HEADER
        if len(buffer) < head + limits.BMP_SIZE_FIELD:
            return -(head + limits.BMP_SIZE_FIELD - len(buffer))
        if buffer[head : head + 2] != b"BM":
            self._error(pos, "GS D", "the data is not a Windows BMP file; skipped")
            return limits.GS_D_HEADER
        size = int.from_bytes(buffer[head + 2 : head + 6], "little")
        if not limits.BMP_SIZE_FIELD <= size <= limits.NV_GRAPHICS_CAPACITY:
            self._error(
                pos,
                "GS D",
                f"a {size}-byte BMP does not fit the {limits.NV_GRAPHICS_CAPACITY}-byte "
                "graphics area; cancelled, the rest is processed as normal data",
            )
            return limits.GS_D_HEADER + limits.BMP_SIZE_FIELD
        end = head + size
        if len(buffer) < end:
            return -(end - len(buffer))
        self._error(pos, "GS D", "BMP graphics are not simulated; skipped")
        return end - pos

    def _gs_barcode(self, buffer: bytearray, pos: int) -> int:
        """GS k m d1...dk NUL (m 0-6) or GS k m n d1...dn (m 65-78)."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        m = buffer[pos + 2]
        if m in BARCODE_A:
            allowed = BARCODE_A_CHARSET[m]
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
        dots: int | None = None
        if symbology in ("CODE128", "GS1-128"):
            text, symbols, valid = code128_text(data)
            if not valid:
                self._error(
                    pos, "GS k", f"{symbology} data must start with {{A, {{B or {{C; not printed"
                )
                return
            modules = (symbols + 1) * 11 + 13  # data + check character, stop pattern
            dots = modules * self._bc_module
        else:
            text = data.decode("latin-1")
            with contextlib.suppress(SymbolError):  # not drawn here: the renderer says so
                dots = len(barcode_dots(symbology, data, self._bc_module)[0])
        # Epson, GS k: "The bar code width that exceeds the print area cannot be
        # specified" (older manuals: "the printer only feeds the paper").
        if dots is not None and dots > self._area.width:
            self._error(
                pos,
                "GS k",
                f"{symbology} {text!r} is {dots} dots wide (GS w {self._bc_module}), "
                f"more than the {self._area.width}-dot line; not printed",
            )
            return
        self._block(
            RenderedLine(
                LineKind.BARCODE,
                data=text,
                symbology=symbology,
                raw=data,
                module=self._bc_module,
                height_dots=self._bc_height,
                hri=self._bc_hri,
                hri_font=self._bc_hri_font,
            )
        )

    def _gs_paren(self, buffer: bytearray, pos: int) -> int:
        """GS ( x pL pH ...: the length-prefixed function family."""
        if len(buffer) < pos + 5:
            return -(pos + 5 - len(buffer))
        sub = buffer[pos + 2]
        size = buffer[pos + 3] + 256 * buffer[pos + 4]
        name = command_name("GS (", sub)
        oversized = sub == ord("k") and size > QR_MAX_PARAMETER_BYTES
        if oversized:
            # A symbol store (fn 80, m 48) that long is skipped whole, payload and all
            # (at most 64 KiB on); any other function that long is garbage: its header
            # alone is skipped, so that it cannot swallow the next job.
            if len(buffer) < pos + 8:
                return -(pos + 8 - len(buffer))
            cn, fn, m = buffer[pos + 5], buffer[pos + 6], buffer[pos + 7]
            if cn not in SYMBOLS_2D or fn != 80 or m != 48:
                self._error(pos, name, f"{size} parameter bytes is more than any symbol holds")
                return 5
        end = pos + 5 + size
        if len(buffer) < end:
            return -(end - len(buffer))
        body = bytes(buffer[pos + 5 : end])
        if oversized:
            self._error(pos, name, f"{size} parameter bytes is more than any symbol holds; skipped")
        elif sub == ord("k"):
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
            self._error(pos, command_name("GS 8", buffer[pos + 2]), "unknown command; skipped")
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
            x_scale, y_scale = (2 if body[3] == 50 else 1), (2 if body[4] == 50 else 1)
            width = body[6] + 256 * body[7]
            height = body[8] + 256 * body[9]
            if body[2] != 48 or not 1 <= width <= 2400 or not 1 <= height <= 2400:
                self._error(pos, name, f"a={body[2]} {width}x{height}: not a monochrome image")
                return
            data = body[10:]
            if len(data) < bitmaps.stride(width) * height:
                self._error(pos, name, "graphics data shorter than the image; padded with white")
            scaled = bitmaps.raster(bitmaps.stride(width), height, data, x_scale, y_scale)
            self._graphics = (bitmaps.stride(width) * 8 * x_scale, height * y_scale, scaled)
            if bitmaps.stride(width) * 8 != width:  # crop the row padding back off
                self._graphics = self._crop(self._graphics, width * x_scale)
        elif fn in (0x32, 0x02):  # 50: print the stored graphics
            if self._graphics is None:
                self._error(pos, name, "print graphics: nothing stored; nothing printed")
                return
            width, height, bitmap = self._graphics
            # Epson, ESC {: upside-down mode does not turn GS ( L function 112 graphics.
            self._block(
                RenderedLine(LineKind.IMAGE, width_dots=width, height_dots=height, bitmap=bitmap),
                turns=False,
            )
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
            text = decode_2d(stored, self.profile.cjk_encoding)
            if cn == 49:
                line = RenderedLine(
                    LineKind.QR,
                    data=text,
                    symbology=symbology if self._qr_model == 2 else f"QR model {self._qr_model}",
                    raw=stored,
                    module=self._qr_size,
                    ec_level=self._qr_ec,
                )
            else:
                line = RenderedLine(LineKind.CODE_2D, data=text, symbology=symbology, raw=stored)
            self._block(line)
        elif cn == 49 and fn == 67:  # QR module size
            size = body[2] if len(body) > 2 else 0
            if 1 <= size <= 16:
                self._qr_size = size
            else:
                self._error(pos, name, f"QR module size {size} is out of range (1-16); ignored")
        elif cn == 49 and fn == 69:  # QR error correction level
            level = QR_EC_LEVELS.get(body[2]) if len(body) > 2 else None
            if level is None:
                self._error(pos, name, "QR error correction is not 48-51 (L/M/Q/H); ignored")
            else:
                self._qr_ec = level
        elif cn == 49 and fn == 65:  # QR model
            model = QR_MODELS.get(body[2]) if len(body) > 2 else None
            if model is None:
                self._error(pos, name, "QR model is not 49-51 (1, 2, micro); ignored")
            else:
                self._qr_model = model
        # other functions (columns, rows, size info ...) do not change what prints

    def _gs_raster(self, buffer: bytearray, pos: int) -> int:
        """GS v 0 m xL xH yL yH d1...dk: raster bit image."""
        if len(buffer) < pos + 3:
            return -(pos + 3 - len(buffer))
        if buffer[pos + 2] != ord("0"):
            self._error(pos, command_name("GS v", buffer[pos + 2]), "unknown command; skipped")
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
        x_scale, y_scale = (2 if m & 0x01 else 1), (2 if m & 0x02 else 1)
        bitmap = bitmaps.raster(x, y, bytes(buffer[pos + 8 : end]), x_scale, y_scale)
        line = RenderedLine(
            LineKind.IMAGE, width_dots=x * 8 * x_scale, height_dots=y * y_scale, bitmap=bitmap
        )
        self._block(line, turns=False)  # nor GS v 0 raster images (Epson, ESC {)
        return end - pos

    @staticmethod
    def _crop(image: _Bitmap, width: int) -> _Bitmap:
        full, height, bitmap = image
        cropped = bitmaps.to_image(full, height, bitmap).crop((0, 0, width, height))
        return width, height, bitmaps.from_image(cropped)

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
