"""QR codes and barcodes as module patterns, built from the data the stream carried.

QR matrices come from the ``qrcode`` library with the error correction level
the stream selected (``GS ( k`` function 169); CODE128 is encoded here symbol
by symbol from the ESC/POS data, honouring its ``{A``/``{B``/``{C`` code-set
selectors exactly as a printer does (with python-barcode's pattern table);
EAN/UPC/CODE39/ITF/CODABAR use python-barcode. Anything else raises
:class:`SymbolError` and the renderer draws a labelled box instead.

:func:`barcode_dots` turns a pattern into printer dots at a ``GS w`` width: a
module of ``n`` dots for the multi-level symbologies (EAN, UPC, CODE93,
CODE128), thin and thick elements from Epson's table for the binary-level ones
(CODE39, ITF, CODABAR).
"""

from __future__ import annotations

import functools
import itertools

import barcode
import qrcode
import qrcode.constants
from barcode.charsets import code128

_EC = {
    "L": qrcode.constants.ERROR_CORRECT_L,
    "M": qrcode.constants.ERROR_CORRECT_M,
    "Q": qrcode.constants.ERROR_CORRECT_Q,
    "H": qrcode.constants.ERROR_CORRECT_H,
}

_START = {ord("A"): 103, ord("B"): 104, ord("C"): 105}
# {x selectors that switch code set, from each code set.
_SWITCH = {"A": {"B": 100, "C": 99}, "B": {"A": 101, "C": 99}, "C": {"A": 101, "B": 100}}


class SymbolError(ValueError):
    """The data cannot be drawn as that symbology."""


@functools.lru_cache(maxsize=256)
def qr_matrix(data: bytes, ec_level: str = "L") -> tuple[tuple[bool, ...], ...]:
    """The QR code's dark modules, rows top to bottom, without a quiet zone."""
    code = qrcode.QRCode(
        version=None, error_correction=_EC.get(ec_level, _EC["L"]), box_size=1, border=0
    )
    code.add_data(data)
    try:
        code.make(fit=True)
    except Exception as exc:  # qrcode raises DataOverflowError and ValueError
        raise SymbolError(f"{len(data)} bytes do not fit a QR code: {exc}") from exc
    return tuple(tuple(bool(cell) for cell in row) for row in code.get_matrix())


def code128_values(data: bytes) -> list[int]:
    """CODE128 symbol values (start .. check, without stop) of ESC/POS ``{A/{B/{C`` data."""
    if len(data) < 2 or data[0] != ord("{") or data[1] not in _START:
        raise SymbolError("CODE128 data must start with {A, {B or {C")
    values = [_START[data[1]]]
    code_set = chr(data[1])
    i = 2
    while i < len(data):
        byte = data[i]
        if byte == ord("{") and i + 1 < len(data):
            selector = chr(data[i + 1])
            i += 2
            if selector in "ABC" and selector != code_set:
                values.append(_SWITCH[code_set][selector])
                code_set = selector
            elif selector == "S":
                values.append(98)  # shift A <-> B for one character
            elif selector == "1":
                values.append(102)  # FNC1
            elif selector == "2" and code_set != "C":
                values.append(97)
            elif selector == "3" and code_set != "C":
                values.append(96)
            elif selector == "4" and code_set != "C":
                values.append(101 if code_set == "A" else 100)
            elif selector == "{" and code_set == "B":
                values.append(ord("{") - 32)
            elif selector not in "ABC":
                raise SymbolError(f"CODE128: {{{selector} is not a code-set selector")
            continue
        if code_set == "C":
            if byte > 99:
                raise SymbolError(f"CODE128 code set C: byte {byte} is not 0-99")
            values.append(byte)
        elif code_set == "A":
            if byte > 95:
                raise SymbolError(f"CODE128 code set A: byte 0x{byte:02X} is not 0x00-0x5F")
            values.append(byte - 32 if byte >= 32 else byte + 64)
        else:
            if not 32 <= byte <= 127:
                raise SymbolError(f"CODE128 code set B: byte 0x{byte:02X} is not 0x20-0x7F")
            values.append(byte - 32)
        i += 1
    check = (values[0] + sum(index * value for index, value in enumerate(values) if index)) % 103
    values.append(check)
    return values


def code128_modules(data: bytes) -> str:
    # python-barcode's STOP is the 11-module stop character; the symbol ends with a 2-module bar.
    codes: tuple[str, ...] = code128.CODES
    return "".join(codes[value] for value in code128_values(data)) + str(code128.STOP) + "11"


_LIBRARY = {
    "EAN13": ("ean13", 12),
    "EAN8": ("ean8", 7),
    "UPC-A": ("upca", 11),
    "CODE39": ("code39", None),
    "ITF": ("itf", None),
    "CODABAR": ("codabar", None),
}


@functools.lru_cache(maxsize=256)
def barcode_modules(symbology: str, data: bytes) -> tuple[str, str]:
    """The bar pattern ('1' = a dark module) and the human-readable text.

    Raises :class:`SymbolError` when the symbology is not drawn here or the
    data does not encode.
    """
    if symbology in ("CODE128", "GS1-128"):
        from simulator.devices.printer.tables import code128_text

        return code128_modules(data), code128_text(data)[0]
    entry = _LIBRARY.get(symbology)
    if entry is None:
        raise SymbolError(f"{symbology} is not drawn by the simulator")
    name, digits = entry
    text = data.decode("latin-1")
    if digits is not None:
        text = text[:digits]
    kwargs: dict[str, object] = {}
    if name == "code39":
        text = text.strip("*")
        kwargs["add_checksum"] = False
    try:
        symbol = barcode.get_barcode_class(name)(text, **kwargs)
        pattern = str(symbol.build()[0])
        full = str(symbol.get_fullcode())
    except Exception as exc:  # python-barcode raises several unrelated types
        raise SymbolError(f"{symbology} {text!r}: {exc}") from exc
    return pattern, full


# GS w n for binary-level barcodes (CODE39, ITF, CODABAR): thin element n dots,
# thick element THICK_DOTS[n]. Epson TM-T88 Technical Reference, GS w: thin/thick
# 0.282/0.706 mm at n=2, 0.423/1.129 at 3, 0.564/1.411 at 4, 0.706/1.834 at 5,
# 0.847/2.258 at 6, with 0.141 mm dots; n=1 (0.125/0.375 mm at 203 dpi) from the
# Chinese-market manuals (e.g. BT-T080 Programming Manual, GS w) that accept it.
THICK_DOTS = {1: 3, 2: 5, 3: 8, 4: 10, 5: 13, 6: 16}
# python-barcode draws these with thin/thick elements of this many modules.
_LIBRARY_ELEMENTS = {"CODE39": (1, 3), "ITF": (2, 5), "CODABAR": (2, 5)}


@functools.lru_cache(maxsize=256)
def barcode_dots(symbology: str, data: bytes, width: int) -> tuple[str, str]:
    """The bar pattern in printer dots ('1' = a black dot) at ``GS w width``, and the HRI text.

    Raises :class:`SymbolError` like :func:`barcode_modules`.
    """
    pattern, text = barcode_modules(symbology, data)
    elements = _LIBRARY_ELEMENTS.get(symbology)
    if elements is None:  # multi-level: every module is `width` dots
        return "".join(bit * width for bit in pattern), text
    thin, thick = elements
    wide = THICK_DOTS.get(width, round(width * 2.5))
    dots = []
    for bit, run in itertools.groupby(pattern):
        count = sum(1 for _ in run)
        dots.append(bit * (wide if 2 * count > thin + thick else width))
    return "".join(dots), text
