"""Barcodes (``GS k``) and 2-D codes (``GS ( k``: QR, PDF417, DataMatrix ...).

:class:`CodeCommands` keeps the symbol settings in force -- barcode height
(``GS h``), module width (``GS w``), HRI position and font (``GS H``,
``GS f``), QR model, module size and error correction level -- and prints a
code as one :class:`RenderedLine` carrying its symbology, its data bytes and
those settings; the renderer (:mod:`.render.symbols`) draws the modules.
A barcode wider than the print area is refused, as Epson documents; CODE128
data must start with a code set.

Simplifications: 2-D code functions that do not change what prints (columns,
rows, size information ...) are accepted and ignored; a stored symbol prints
with the settings in force when it is printed.
"""

from __future__ import annotations

import contextlib

from drivers.wire.escpos import GS, NUL
from simulator.devices.printer.feed import PaperFeed
from simulator.devices.printer.interpreter import fixed, variable
from simulator.devices.printer.paper import LineKind, RenderedLine
from simulator.devices.printer.render.symbols import SymbolError, barcode_dots
from simulator.devices.printer.tables import (
    BARCODE_A,
    BARCODE_A_CHARSET,
    BARCODE_B,
    HRI_POSITIONS,
    QR_EC_LEVELS,
    QR_MODELS,
    SYMBOLS_2D,
    code128_text,
    decode_2d,
)


class CodeCommands(PaperFeed):
    """Barcodes and 2-D codes (see the module docstring)."""

    def _reset_codes(self) -> None:
        self._bc_height = 162
        self._bc_module = 3
        self._bc_hri = "none"
        self._bc_hri_font = "A"
        self._symbols: dict[int, bytes] = {}
        self._qr_size = 3
        self._qr_ec = "L"
        self._qr_model = 2

    @variable(GS, "k")
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

    @fixed(GS, "h", params=1)
    def _barcode_height(self, params: bytes, pos: int) -> None:
        if params[0] == 0:
            self._error(pos, "GS h", "height 0 is out of range (1-255); ignored")
            return
        self._bc_height = params[0]

    @fixed(GS, "w", params=1)
    def _barcode_width(self, params: bytes, pos: int) -> None:
        if not 1 <= params[0] <= 6:
            self._error(pos, "GS w", f"module width {params[0]} is out of range (1-6); ignored")
            return
        self._bc_module = params[0]

    @fixed(GS, "H", params=1)
    def _hri_position(self, params: bytes, pos: int) -> None:
        n = params[0]
        position = HRI_POSITIONS.get(n - 48 if n >= 48 else n)
        if position is None:
            self._error(pos, "GS H", f"n={n} is not 0-3 or 48-51; ignored")
            return
        self._bc_hri = position

    @fixed(GS, "f", params=1)
    def _hri_font(self, params: bytes, pos: int) -> None:
        n = params[0]
        if n in (0, 1, 48, 49):
            self._bc_hri_font = "B" if n & 0x01 else "A"
        else:
            self._error(pos, "GS f", f"HRI font {n} is not 0/1 or 48/49; ignored")
