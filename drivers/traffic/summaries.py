"""One-line, redacted descriptions of recorded bytes, for humans reading a trace.

APDUs reuse the terminal's own naming and redaction
(:mod:`drivers.wire.iso7816`), so a trace and a transcript describe a command the
same way; ESC/POS gets a short list of command names; scans show a payment code
the way the terminal's transcript does (last 4 digits).
"""

from __future__ import annotations

from drivers.wire.escpos import DLE, ESC, FS, GS
from drivers.wire.iso7816 import (
    describe_command,
    redact_command,
    redact_response,
    status_text,
)
from drivers.wire.masking import mask_code

# -- APDUs -------------------------------------------------------------------------------


def command_hex(apdu: bytes) -> str:
    """Hex of a command APDU with PIN material as ``*``."""
    return redact_command(apdu)


def response_hex(command: bytes, response: bytes) -> str:
    """Hex of a response APDU with PAN/track data masked."""
    return redact_response(command, response)


def describe_apdu(apdu: bytes) -> str:
    return describe_command(apdu)


def describe_response(response: bytes) -> str:
    if len(response) < 2:
        return "no status word"
    sw = int.from_bytes(response[-2:], "big")
    return f"SW {sw:04X} {status_text(sw)}, {len(response) - 2} data bytes"


# -- ESC/POS -----------------------------------------------------------------------------

# (prefix, code) -> (name, parameter bytes after the code)
_FIXED: dict[tuple[int, int], tuple[str, int]] = {
    (ESC, 0x40): ("ESC @ init", 0),
    (ESC, 0x21): ("ESC ! mode", 1),
    (ESC, 0x45): ("ESC E bold", 1),
    (ESC, 0x2D): ("ESC - underline", 1),
    (ESC, 0x47): ("ESC G double-strike", 1),
    (ESC, 0x4D): ("ESC M font", 1),
    (ESC, 0x61): ("ESC a align", 1),
    (ESC, 0x74): ("ESC t code page", 1),
    (ESC, 0x64): ("ESC d feed", 1),
    (ESC, 0x4A): ("ESC J feed", 1),
    (ESC, 0x32): ("ESC 2 spacing", 0),
    (ESC, 0x33): ("ESC 3 spacing", 1),
    (ESC, 0x70): ("ESC p drawer", 3),
    (ESC, 0x7B): ("ESC { upside-down", 1),
    (FS, 0x26): ("FS & Chinese on", 0),
    (FS, 0x2E): ("FS . Chinese off", 0),
    (FS, 0x21): ("FS ! Chinese size", 1),
    (GS, 0x21): ("GS ! size", 1),
    (GS, 0x42): ("GS B reverse", 1),
    (GS, 0x48): ("GS H HRI position", 1),
    (GS, 0x66): ("GS f HRI font", 1),
    (GS, 0x68): ("GS h barcode height", 1),
    (GS, 0x77): ("GS w barcode width", 1),
    (GS, 0x72): ("GS r status", 1),
    (GS, 0x4C): ("GS L margin", 2),
    (DLE, 0x04): ("DLE EOT status", 1),
    (DLE, 0x05): ("DLE ENQ", 1),
}


def describe_escpos(data: bytes) -> str:
    """``ESC @ init, text x3, GS ( k 2D symbol, GS V cut (412 bytes)``: commands in order,
    runs of the same name collapsed; text shows only how many runs there were."""
    names: list[str] = []
    pos = 0
    while pos < len(data):
        name, size = _escpos_command(data, pos)
        pos += max(1, size)
        if names and names[-1].split(" x")[0] == name:
            count = int(names[-1].split(" x")[1]) + 1 if " x" in names[-1] else 2
            names[-1] = f"{name} x{count}"
        else:
            names.append(name)
        if len(names) > 24:
            names.append("...")
            break
    return f"{', '.join(names)} ({len(data)} bytes)"


def _escpos_command(data: bytes, pos: int) -> tuple[str, int]:
    """(name, length) of the command or text run at ``pos``."""
    byte = data[pos]
    if byte == 0x0A:
        return "LF", 1
    if byte >= 0x20 or byte == 0x09:
        end = pos
        while end < len(data) and (data[end] >= 0x20 or data[end] in (0x09, 0x0A)):
            end += 1
        return "text", end - pos
    if byte not in (ESC, FS, GS, DLE) or pos + 1 >= len(data):
        return f"0x{byte:02X}", 1
    code = data[pos + 1]
    fixed = _FIXED.get((byte, code))
    if fixed is not None:
        name, params = fixed
        if byte == DLE and pos + 2 < len(data):
            name = f"{name} {data[pos + 2]}"
        return name, 2 + params
    if byte == GS and code == 0x28 and pos + 4 < len(data):  # GS ( k pL pH ...
        length = data[pos + 3] | data[pos + 4] << 8
        return f"GS ( {chr(data[pos + 2])} 2D symbol", 5 + length
    if byte == GS and code == 0x76 and pos + 7 < len(data):  # GS v 0 m xL xH yL yH
        width = data[pos + 4] | data[pos + 5] << 8
        height = data[pos + 6] | data[pos + 7] << 8
        return "GS v 0 raster image", 8 + width * height
    if byte == GS and code == 0x6B and pos + 3 < len(data):  # GS k m n d1..dn (function B)
        if data[pos + 2] >= 65:
            return "GS k barcode", 4 + data[pos + 3]
        end = data.find(b"\x00", pos + 3)
        return "GS k barcode", (end if end >= 0 else len(data)) - pos + 1
    if byte == GS and code == 0x56 and pos + 2 < len(data):  # GS V m [n]
        return "GS V cut", 4 if data[pos + 2] in (65, 66) else 3
    prefix = {ESC: "ESC", FS: "FS", GS: "GS", DLE: "DLE"}[byte]
    shown = chr(code) if 0x21 <= code <= 0x7E else f"0x{code:02X}"
    return f"{prefix} {shown}", 2


def describe_status(data: bytes) -> str:
    if not data:
        return "no reply"
    return "status " + " ".join(f"0x{b:02X}" for b in data)


# -- scans -------------------------------------------------------------------------------


def describe_scan(data: bytes) -> str:
    """The text a scanner sent, digits masked but the last 4 (like the terminal's
    transcript shows a payment code); a code may come in pieces, so every digit
    run is masked, however short."""
    text = data.decode("utf-8", errors="replace")
    shown = []
    for part in text.replace("\r", "\n").replace("\t", "\n").split("\n"):
        if not part:
            continue
        if part.isdigit():
            part = mask_code(part) if len(part) > 4 else "*" * len(part)
        shown.append(part)
    return "scan " + " | ".join(shown) if shown else f"{len(data)} bytes (no text)"
