"""Tables the ESC/POS interpreter looks things up in (no state, no I/O)."""

from __future__ import annotations

import functools
from typing import Any

QR_MAX_PARAMETER_BYTES = 7092  # GS ( k store: (pL + pH*256) <= 7092
RASTER_MAX_WIDTH_BYTES = 255
RASTER_MAX_HEIGHT = 4095

# GS k m d1...dk NUL (function A) and GS k m n d1...dn (function B).
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
BARCODE_A_CHARSET = {
    0: _DIGITS,
    1: _DIGITS,
    2: _DIGITS,
    3: _DIGITS,
    4: frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./"),
    5: _DIGITS,
    6: frozenset(b"0123456789ABCDabcd$+-./:"),
}
# GS ( k cn: the 2D symbol types.
SYMBOLS_2D = {
    48: "PDF417",
    49: "QR",
    50: "MAXICODE",
    51: "GS1 DATABAR",
    52: "COMPOSITE",
    53: "AZTEC",
    54: "DATAMATRIX",
}
# GS ( k cn=49 fn=69 (169): QR error correction level n.
QR_EC_LEVELS = {48: "L", 49: "M", 50: "Q", 51: "H"}
# GS ( k cn=49 fn=65 (165): QR model n1.
QR_MODELS = {49: 1, 50: 2, 51: 3}  # 3: micro QR
# GS H n: where the human-readable interpretation (HRI) of a barcode goes.
HRI_POSITIONS = {0: "none", 1: "above", 2: "below", 3: "both"}


# Epson's code page 1, "Katakana" (ESC/POS Command Reference, character code
# tables, "Page 1 [Katakana]"): 0x80-0x9F block and box-drawing elements, 0xA0-0xDF
# the JIS X 0201 half-width katakana, 0xE0-0xFF box drawing, card suits, shapes
# and the kanji used on Japanese receipts (yen, year, month ...); 0xFF prints blank.
KATAKANA = tuple(
    "▁▂▃▄▅▆▇█▏▎▍▌▋▊▉┼┴┬┤├▔─│▕┌┐└┘╭╮╰╯"
    + " "
    + "".join(chr(code) for code in range(0xFF61, 0xFFA0))  # ｡ ... ﾟ
    + "═╞╪╡◢◣◥◤♠♥♦♣●○╱╲╳円年月日時分秒〒市区町村人▒\u00a0"
)
# Single-byte pages whose escpos-printer-db entry does not say what the printer
# prints. The db names Epson's page 1 "CP932" so that python-escpos encodes
# half-width katakana (which CP932 has at the same bytes), but ESC t 1 selects a
# single-byte page: CP932's lead bytes 0x81-0x9F and 0xE0-0xFC are box-drawing
# and symbol characters there, not halves of a double-byte character.
_PRINTED_PAGES = {"CP932": KATAKANA}


@functools.cache
def codepage_table(encoding_name: str) -> tuple[str, ...]:
    """Characters for bytes 0x80-0xFF of an escpos-printer-db code page."""
    from escpos.codepages import CodePages

    printed = _PRINTED_PAGES.get(encoding_name)
    if printed is not None:
        return printed

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
def escpos_code_pages(profile_name: str) -> dict[int, str]:
    """ESC t n -> code page name, from the python-escpos capability profile."""
    from escpos.capabilities import get_profile

    pages: dict[Any, Any] = get_profile(profile_name).codePages
    return {int(number): str(name) for number, name in pages.items()}


def command_name(prefix: str, byte: int) -> str:
    if 0x21 <= byte <= 0x7E:
        return f"{prefix} {chr(byte)}"
    return f"{prefix} 0x{byte:02X}"


def code128_text(data: bytes) -> tuple[str, int, bool]:
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


def decode_2d(data: bytes, cjk_encoding: str | None) -> str:
    """A 2D symbol's data as text: UTF-8, else the printer's CJK encoding, else latin-1."""
    for codec in ("utf-8", cjk_encoding or "latin-1"):
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")
