"""VERIFY: plaintext offline PIN against the image's PIN and the PIN try counter.

Only plaintext PIN (P2 ``80``, an 8-byte ISO 9564 format 2 block
``2L PIN F..F``); the card has no PIN encipherment key, so an enciphered PIN
(P2 ``88``) is ``6A 86``. After GET PROCESSING OPTIONS only. A right PIN
resets the try counter to the image's limit (``90 00``); a wrong one counts
down and answers ``63 Cx`` (x tries left); none left: ``69 83``. The CVR
records that offline PIN was performed, failed, and the try limit exceeded.
The PIN is compared in constant time and never leaves the card.
"""

from __future__ import annotations

import hmac

from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.responses import ResponseBuffer
from simulator.devices.card.state import (
    CVR_OFFLINE_PIN_FAILED,
    CVR_OFFLINE_PIN_PERFORMED,
    CVR_PIN_TRY_LIMIT_EXCEEDED,
)
from simulator.devices.card.status import (
    SW_CONDITIONS,
    SW_OK,
    SW_PIN_BLOCKED,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
)


class PinVerification(ResponseBuffer):
    """VERIFY with a plaintext PIN block (see the module docstring)."""

    def _verify(self, command: CommandApdu) -> bytes:
        if command.p1 != 0x00 or command.p2 != 0x80:
            return SW_WRONG_P1P2  # only plaintext offline PIN (no PIN encipherment key)
        if len(command.data) != 8:
            return SW_WRONG_LENGTH
        if self._selected is None or not self._txn.gpo_done:
            return SW_CONDITIONS
        if self.pin_tries_left == 0:
            self._txn.set(CVR_PIN_TRY_LIMIT_EXCEEDED)
            return SW_PIN_BLOCKED
        pin = pin_from_block(command.data)
        if pin is None:
            return SW_WRONG_DATA
        self._txn.set(CVR_OFFLINE_PIN_PERFORMED)
        if hmac.compare_digest(pin.encode(), self.image.pin.encode()):
            self.pin_tries_left = self.image.pin_try_limit
            self._txn.clear(CVR_OFFLINE_PIN_FAILED)
            return SW_OK
        self.pin_tries_left -= 1
        self._txn.set(CVR_OFFLINE_PIN_FAILED)
        if self.pin_tries_left == 0:
            self._txn.set(CVR_PIN_TRY_LIMIT_EXCEEDED)
        return bytes([0x63, 0xC0 | self.pin_tries_left])


def pin_from_block(block: bytes) -> str | None:
    """The PIN of a plaintext PIN block ``2L PIN F..F``, or None if malformed.

    >>> pin_from_block(bytes.fromhex("241234FFFFFFFFFF"))
    '1234'
    >>> pin_from_block(bytes.fromhex("2412F4FFFFFFFFFF")) is None
    True
    """
    text = block.hex().upper()
    if text[0] != "2":
        return None
    length = int(text[1], 16)
    if not 4 <= length <= 12:
        return None
    pin, padding = text[2 : 2 + length], text[2 + length :]
    if not pin.isdigit() or padding != "F" * len(padding):
        return None
    return pin
