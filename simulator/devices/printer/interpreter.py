"""The ESC/POS interpreter: bytes in, commands dispatched, nothing lost.

:class:`Interpreter` owns what every command family shares: the input buffer
(bytes arrive in whatever chunks the transport delivers), the stream offset
of each byte, the dispatch tables, the status replies queued for the host and
the diagnostics. The command families -- :mod:`.text`, :mod:`.layout`,
:mod:`.graphics`, :mod:`.codes`, :mod:`.realtime` and the paper path
:mod:`.feed` -- are mixins that declare their commands next to their handlers::

    @fixed(ESC, "E", params=1)
    def _emphasis(self, params: bytes, pos: int) -> None: ...

    @variable(GS, "k")
    def _gs_barcode(self, buffer: bytearray, pos: int) -> int: ...

A fixed-length command's action gets its parameter bytes; a variable-length
command's handler gets the buffer and the position of its first byte and
returns the bytes it consumed, or ``-n`` when it needs at least ``n`` more.
The tables are built once per class (:meth:`Interpreter.__init_subclass__`),
and a byte sequence declared twice is an error at import time.

Contract: :meth:`~Interpreter.feed` never raises on bad input. A malformed or
unknown command is reported as an :class:`EscposDiagnostic` (with its byte
offset in the whole stream) and skipped by its known length -- length-prefixed
families (``GS ( x``, ``ESC ( x``, ``FS ( x``, ``GS 8 L``) by their declared
length -- so the rest of the stream still prints. A command cut short waits
for the rest of its bytes (:attr:`~Interpreter.awaiting`); a declared size
over the modelled printer's limits (:mod:`.limits`) cancels the command and
what follows is processed as normal data. A host that goes away in the middle
of a command has it discarded (:meth:`~Interpreter.discard_incomplete`).

Simplifications: commands that change nothing on a receipt (colour, rotation,
buzzer, macros, motion units ... :data:`ACCEPTED_AND_IGNORED`) are accepted
and ignored; page mode (``ESC L``) is reported and ignored; the ``ESC (`` and
``FS (`` functions are skipped by their length and reported.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from drivers.printer.profile import PrinterProfile
from drivers.wire.escpos import ESC, FS, GS, LF
from simulator.devices.printer.diagnostics import DiagnosticHook, EscposDiagnostic, command_at
from simulator.devices.printer.paper import ReceiptHook, RenderedReceipt
from simulator.devices.printer.retention import Retained, Retention
from simulator.devices.printer.tables import QR_MAX_PARAMETER_BYTES, SYMBOLS_2D, command_name

REPLY_READ_SIZE = 16  # python-escpos transports read up to 16 bytes at a time

ASCII_RUN = re.compile(rb"[\x20-\x7e]+")

# A handler gets (printer, buffer, position of the command's first byte) and returns
# the number of bytes it consumed (> 0), or -n when it needs at least n more bytes.
Handler = Callable[[Any, bytearray, int], int]
# An action gets (printer, the command's parameter bytes, its position).
Action = Callable[[Any, bytes, int], None]
_F = TypeVar("_F", bound=Callable[..., Any])

PREFIXES = {ESC: "ESC", FS: "FS", GS: "GS"}

# Fixed-length commands that change nothing possim models: (prefix, code) -> parameter bytes.
ACCEPTED_AND_IGNORED: dict[tuple[int, str], int] = {
    (ESC, "r"): 1,  # colour
    (ESC, "="): 1,  # select peripheral device
    (ESC, "V"): 1,  # 90 degree rotation
    (ESC, "U"): 1,  # unidirectional printing
    (ESC, "R"): 1,  # international character set
    (ESC, " "): 1,  # right-side character spacing
    (ESC, "%"): 1,  # user-defined character set
    (ESC, "?"): 1,  # cancel user-defined character
    (ESC, "B"): 2,  # buzzer
    (ESC, "c"): 2,  # ESC c 3/4/5 n: paper sensors, panel buttons
    (ESC, "f"): 2,  # slip wait time
    (ESC, "S"): 0,  # standard mode
    (ESC, "W"): 8,  # page mode print area
    (ESC, "T"): 1,  # page mode direction
    (FS, "C"): 1,  # character code system
    (FS, "S"): 2,  # Chinese character spacing
    (GS, "b"): 1,  # smoothing
    (GS, "\\"): 2,  # relative vertical position (page mode)
    (GS, "$"): 2,  # absolute vertical position (page mode)
    (GS, "^"): 3,  # execute macro
    (GS, ":"): 0,  # start/end macro definition
    (GS, "E"): 1,  # head energising time
    (GS, "c"): 0,  # print counter
    (GS, "g"): 4,  # GS g 0/2: maintenance counters
    (GS, "j"): 1,  # automatic status back (ink)
    (GS, "a"): 1,  # automatic status back
    (GS, "P"): 2,  # motion units
    (GS, "T"): 1,  # print position to line start
    (GS, "|"): 1,  # print density
}


# -- declaring commands --------------------------------------------------------------

# What each handler function was declared for: ("control" | "fixed" | "variable", key, params).
_DECLARED: dict[Callable[..., Any], list[tuple[str, int, int]]] = {}


def _code(code: str | int) -> int:
    return ord(code) if isinstance(code, str) else code


def _declare(kind: str, key: int, params: int = 0) -> Callable[[_F], _F]:
    def declare(function: _F) -> _F:
        _DECLARED.setdefault(function, []).append((kind, key, params))
        return function

    return declare


def control(*codes: int) -> Callable[[_F], _F]:
    """A handler for these single control bytes (LF, HT, DLE ...)."""

    def declare(function: _F) -> _F:
        for code in codes:
            _declare("control", code)(function)
        return function

    return declare


def fixed(prefix: int, code: str | int, params: int) -> Callable[[_F], _F]:
    """An action for ``prefix code`` followed by ``params`` parameter bytes."""
    return _declare("fixed", prefix << 8 | _code(code), params)


def variable(prefix: int, code: str | int) -> Callable[[_F], _F]:
    """A handler for ``prefix code ...`` that works out its own length."""
    return _declare("variable", prefix << 8 | _code(code))


class Interpreter:
    """Bytes in, commands out: the buffer, the dispatch tables, incomplete commands.

    The command families (mixins) provide the hooks the byte loop calls
    directly for speed (:meth:`_print_line`, :meth:`_text`, :meth:`_put`) and
    the ones ``GS (`` routes to; :class:`~simulator.devices.printer.VirtualPrinter`
    composes them and resets their modes.
    """

    _controls: ClassVar[dict[int, Handler]] = {}
    # Every fixed-length command by its first two bytes (prefix << 8 | code):
    # the byte loop's fast path, one lookup per command.
    _fixed: ClassVar[dict[int, tuple[int, Action]]] = {}
    _variable: ClassVar[dict[int, Handler]] = {}

    _chinese: bool  # FS & mode: bytes 0x80-0xFF start double-byte characters (text.py)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: dict[tuple[str, int], tuple[str, int]] = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if not callable(value):
                    continue
                for kind, key, params in _DECLARED.get(value, ()):
                    known = names.get((kind, key))
                    if known is not None and known[0] != name:
                        raise TypeError(
                            f"{cls.__name__}: {kind} command 0x{key:04X} is handled by both "
                            f"{known[0]} and {name}"
                        )
                    names[(kind, key)] = (name, params)
        controls: dict[int, Handler] = {}
        fixed_: dict[int, tuple[int, Action]] = {
            prefix << 8 | ord(code): (params, Interpreter._nothing)
            for (prefix, code), params in ACCEPTED_AND_IGNORED.items()
        }
        variable_: dict[int, Handler] = {}
        for (kind, key), (name, params) in names.items():
            function = getattr(cls, name)
            if kind == "control":
                controls[key] = function
            elif kind == "fixed":
                fixed_[key] = (params, function)
            else:
                variable_[key] = function
        ignored = {prefix << 8 | ord(code) for prefix, code in ACCEPTED_AND_IGNORED}
        both = (fixed_.keys() & variable_.keys()) | {
            key for kind, key in names if kind == "fixed" and key in ignored
        }
        if both:
            raise TypeError(f"{cls.__name__}: commands declared twice: {sorted(both)}")
        cls._controls, cls._fixed, cls._variable = controls, fixed_, variable_

    def __init__(self, profile: PrinterProfile, retention: Retention | None = None) -> None:
        self.profile = profile
        # What the printer keeps is capped (see retention.py); hooks see everything.
        self.retention = keep = retention if retention is not None else Retention()
        self.errors: Retained[str] = Retained(keep.diagnostics)  # each diagnostic's message
        self.diagnostics: Retained[EscposDiagnostic] = Retained(keep.diagnostics)
        self.on_diagnostic: list[DiagnosticHook] = []  # called under the printer's lock
        self.on_receipt: list[ReceiptHook] = []  # called after feed() lets go of the lock
        self.replies_dropped = 0  # status bytes past the reply queue's cap
        self.bytes_received = 0

        self._lock = threading.RLock()
        self._input = bytearray()
        self._base = 0  # stream offset of _input[0]
        self._awaiting = 0
        self._replies = bytearray()
        self._finished: list[RenderedReceipt] = []  # cut during this feed(), for on_receipt
        # The profile is frozen: its geometry, read for every character run.
        self._dots_per_line = profile.dots_per_line
        self._dots_per_char = profile.dots_per_char
        self._dots_per_char_font_b = profile.dots_per_char_font_b

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
            ascii_run = ASCII_RUN.match
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
                                entry[1](self, bytes(buffer[pos + 2 : stop]), pos)
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

    def power_cycle(self) -> None:
        """Switch off and on: input, pending replies and modes are lost; paper stays."""
        with self._lock:
            self._base += len(self._input)  # offsets stay those of the whole stream
            self._input.clear()
            self._replies.clear()
            self._awaiting = 0
            self._reset_modes()

    # -- what the families provide ----------------------------------------------------

    def _reset_modes(self) -> None:
        """Every mode back to its power-on default (ESC @); VirtualPrinter knows them all."""
        raise NotImplementedError

    def _print_line(self) -> None:
        """Print the line buffer and start a new line (feed.py)."""
        raise NotImplementedError

    def _text(self, buffer: bytearray, pos: int) -> int:
        """Printable bytes at ``pos``: the bytes used, as a handler (text.py)."""
        raise NotImplementedError

    def _put(self, text: str, cjk: bool) -> None:
        """Characters onto the line (text.py)."""
        raise NotImplementedError

    def _symbol_function(self, pos: int, body: bytes) -> None:
        """``GS ( k``: a 2-D code function (codes.py)."""
        raise NotImplementedError

    def _graphics_function(self, pos: int, name: str, body: bytes) -> None:
        """``GS ( L`` / ``GS 8 L``: a graphics function (graphics.py)."""
        raise NotImplementedError

    # -- the interpreter ------------------------------------------------------

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
        return handler(self, buffer, pos)

    @control(ESC, FS, GS)
    def _prefixed(self, buffer: bytearray, pos: int) -> int:
        if len(buffer) < pos + 2:
            return -(pos + 2 - len(buffer))
        prefix, code = buffer[pos], buffer[pos + 1]
        entry = self._fixed.get(prefix << 8 | code)
        if entry is not None:
            count, action = entry
            end = pos + 2 + count
            if len(buffer) < end:
                return -(end - len(buffer))
            action(self, bytes(buffer[pos + 2 : end]), pos)
            return end - pos
        handler = self._variable.get(prefix << 8 | code)
        if handler is not None:
            return handler(self, buffer, pos)
        self._error(pos, command_name(PREFIXES[prefix], code), "unknown command; skipped")
        # Do not swallow the start of the next command.
        return 1 if code < 0x20 else 2

    # NUL; BEL; CR (auto line feed is off); CAN (page mode only)
    @control(0x00, 0x07, 0x0D, 0x18)
    def _ignore(self, buffer: bytearray, pos: int) -> int:
        return 1

    def _nothing(self, params: bytes, pos: int) -> None:
        """Accepted and ignored (no effect on the text model)."""

    @fixed(ESC, "@", params=0)
    def _init(self, params: bytes, pos: int) -> None:
        self._reset_modes()  # ESC @ also discards the unprinted line buffer

    @fixed(ESC, "L", params=0)
    def _page_mode(self, params: bytes, pos: int) -> None:
        self._error(pos, "ESC L", "page mode is not simulated; staying in standard mode")

    @variable(ESC, "(")
    @variable(FS, "(")
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

    @variable(GS, "(")
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
