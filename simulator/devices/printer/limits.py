"""The largest command a modelled printer accepts, per command that declares a length.

A command that declares how many bytes follow makes the printer wait for them.
Bounded by what the modelled printer accepts, that wait is bounded too: over
its limit, a command is cancelled and what follows is processed as normal data
-- Epson's own wording, e.g. for ``ESC &`` in the TM-J2000 specification
("When the value of y, c1, c2, or x is out of the range, this command is
canceled, and the following data is processed as normal data") -- so one bad
length never makes the printer swallow the rest of the stream.

The figures, and where they come from (each model's "Specification
(STANDARD)", the ESC/POS reference pages):

- ``FS q``: each image 1 <= x <= 1023 and 1 <= y <= 288 bytes (k = x * y * 8),
  all of them together at most 256 KB -- Epson TM-T81 specification, FS q:
  "The entire capacity size = 256KB".
- ``GS *``: 1 <= x <= 255, 1 <= y <= 48, x * y <= 1536 -- Epson TM-T88III
  specification, GS *: "If x * y is out of the specified range, this command
  is disabled".
- ``ESC &``: x at most the character's width (12 dots, font A 12 x 24) --
  HPRT TP80K and Epson TM-U220 references, ESC & [Range].
- ``GS D``: the Windows BMP must fit the graphics area (256 KB) -- Citizen
  CT-S series, GS D fn 67: "In the case of data more than the residual
  quantities of the NV area, it becomes invalid".
- ``GS v 0``: x <= 255 bytes (wider than any receipt paper), y <= 4095 dots --
  Epson TM-T90 specification, GS v 0: 1 <= y <= 4095.
- ``GS ( k``: a QR store declares at most 7092 bytes (``tables.QR_MAX_PARAMETER_BYTES``).
- ``GS 8 L``: a raster store as tall as ``GS v 0`` allows, across the paper.
- ``GS (``, ``ESC (``, ``FS (``: 65535 bytes, the most pL pH can declare.
"""

from __future__ import annotations

from drivers.printer.profile import PrinterProfile
from simulator.devices.printer.tables import (
    QR_MAX_PARAMETER_BYTES,
    RASTER_MAX_HEIGHT,
    RASTER_MAX_WIDTH_BYTES,
)

# FS q: define NV bit images (TM-T81 specification, FS q [Range]).
NV_IMAGE_MAX_WIDTH_BYTES = 1023
NV_IMAGE_MAX_HEIGHT_BYTES = 288
NV_GRAPHICS_CAPACITY = 256 * 1024  # "The entire capacity size = 256KB."

# GS *: define a downloaded bit image (TM-T88III specification, GS * [Range]).
DOWNLOADED_IMAGE_MAX_WIDTH_BYTES = 255
DOWNLOADED_IMAGE_MAX_HEIGHT_BYTES = 48
DOWNLOADED_IMAGE_MAX_AREA = 1536  # x * y

# GS D m fn a kc1 kc2 b c d1...dk: a Windows BMP file; 6 bytes give its size ("BM" + size).
GS_D_HEADER = 9
BMP_SIZE_FIELD = 6

# The 16-bit length of GS ( / ESC ( / FS ( functions.
PARAMETER_LENGTH_MAX = 0xFFFF


def graphics_limit(profile: PrinterProfile) -> int:
    """``GS 8 L``: a raster store as tall as ``GS v 0`` allows, across the paper."""
    return RASTER_MAX_HEIGHT * profile.dots_per_line // 8 + 16


def largest_command(profile: PrinterProfile) -> int:
    """The most bytes one command can make this printer wait for (for bounds in tests)."""
    return max(
        8 + RASTER_MAX_WIDTH_BYTES * RASTER_MAX_HEIGHT,  # GS v 0
        7 + graphics_limit(profile),  # GS 8 L
        5 + PARAMETER_LENGTH_MAX,  # GS ( / ESC ( / FS (
        3 + NV_GRAPHICS_CAPACITY + 4 * 255,  # FS q: every image's data and headers
        GS_D_HEADER + NV_GRAPHICS_CAPACITY,  # GS D
        5 + QR_MAX_PARAMETER_BYTES,
    )
