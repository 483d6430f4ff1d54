"""ESC/POS on the wire: control bytes, the status queries and the bits of their answers.

One copy for the driver that asks (:mod:`drivers.printer.escpos`), the virtual
printer that answers (:mod:`simulator.devices.printer.status`) and the trace
summaries. Bit layouts as Epson documents them (ESC/POS Command Reference,
``DLE EOT`` and ``GS r``):

``DLE EOT n`` answers one byte whose bits 1 and 4 are always 1 (``0x12``) and
bits 0 and 7 always 0:

=====  ===========================================================================
n      bits
=====  ===========================================================================
1      printer: bit 2 drawer kick-out connector pin 3 high, bit 3 offline,
       bit 5 waiting for online recovery
2      offline cause: bit 2 cover open, bit 3 paper fed by the feed button,
       bit 5 printing stopped by paper end, bit 6 an error occurred
3      error cause: bit 2 recoverable (mechanical) error, bit 3 autocutter error,
       bit 5 unrecoverable error, bit 6 automatically recoverable error (head heat)
4      roll paper sensor: bits 2-3 paper near end (``0x0C``), bits 5-6 paper end
       (``0x60``)
=====  ===========================================================================

``GS r n`` answers one byte with bits 4 and 7 fixed at 0: n=1 paper sensor
(bits 0-1 near end ``0x03``, bits 2-3 paper end ``0x0C``), n=2 drawer (bit 0
pin 3), n=4 ink.

>>> is_status_byte(STATUS_BASE | STATUS_OFFLINE), is_status_byte(0x00)
(True, False)
"""

from __future__ import annotations

# Control bytes that start a command.
NUL = 0x00
LF = 0x0A
DLE = 0x10
ESC = 0x1B
FS = 0x1C
GS = 0x1D

DLE_EOT = bytes([DLE, 0x04])  # + n: transmit real-time status
GS_R_PAPER_SENSOR = bytes([GS, 0x72, 0x01])  # GS r 1: transmit paper sensor status
FS_CHINESE_ON = bytes([FS, 0x26])  # FS &: Kanji (GB18030) character mode on
FS_CHINESE_OFF = bytes([FS, 0x2E])  # FS .: ... off
FS_CHINESE_MODE = bytes([FS, 0x21])  # FS ! n: the double-byte characters' print mode

# DLE EOT n answers.
STATUS_FIXED_MASK = 0x93  # bits 0, 1, 4, 7 ...
STATUS_BASE = 0x12  # ... read 0, 1, 1, 0
STATUS_DRAWER_PIN3 = 0x04  # DLE EOT 1 bit 2
STATUS_OFFLINE = 0x08  # DLE EOT 1 bit 3
STATUS_WAITING_RECOVERY = 0x20  # DLE EOT 1 bit 5
STATUS_COVER_OPEN = 0x04  # DLE EOT 2 bit 2
STATUS_FEED_BUTTON = 0x08  # DLE EOT 2 bit 3
STATUS_STOPPED_PAPER_END = 0x20  # DLE EOT 2 bit 5
STATUS_ERROR = 0x40  # DLE EOT 2 bit 6
STATUS_RECOVERABLE_ERROR = 0x04  # DLE EOT 3 bit 2
STATUS_CUTTER_ERROR = 0x08  # DLE EOT 3 bit 3
STATUS_UNRECOVERABLE_ERROR = 0x20  # DLE EOT 3 bit 5
STATUS_AUTO_RECOVERABLE_ERROR = 0x40  # DLE EOT 3 bit 6
STATUS_PAPER_NEAR_END = 0x0C  # DLE EOT 4 bits 2-3
STATUS_PAPER_END = 0x60  # DLE EOT 4 bits 5-6

# GS r n answers.
GS_R_FIXED_MASK = 0x90  # bits 4 and 7 are always 0
GS_R_PAPER_NEAR_END = 0x03  # GS r 1 bits 0-1
GS_R_PAPER_END = 0x0C  # GS r 1 bits 2-3
GS_R_DRAWER_PIN3 = 0x01  # GS r 2 bit 0


def is_status_byte(value: int) -> bool:
    """Whether ``value`` can be a ``DLE EOT`` answer: its fixed bits read 0, 1, 1, 0."""
    return value & STATUS_FIXED_MASK == STATUS_BASE
