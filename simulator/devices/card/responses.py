"""How the card hands back response data: at once (T=1) or the T=0 way, and GET RESPONSE.

Under T=0 (ISO/IEC 7816-3 and -4; EMV 4.3 Book 1, the transport of APDUs
by T=0) a command that sends data (case 4) cannot also receive it: the card
answers ``61xx`` (xx bytes waiting) and keeps the response for GET RESPONSE.
A case 2 command whose Le is not the length of the data gets ``6Cxx`` (send
again with Le = xx). Any command other than GET RESPONSE drops what was
waiting (:class:`~simulator.devices.card.VirtualCard` does that before
dispatching). Under T=1, and for commands without data, the response is
given directly.
"""

from __future__ import annotations

from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.state import CardState
from simulator.devices.card.status import SW_CONDITIONS, SW_OK, SW_WRONG_LENGTH, SW_WRONG_P1P2


class ResponseBuffer(CardState):
    """Response data the T=0 way or directly; GET RESPONSE reads what waits."""

    def _answer(self, command: CommandApdu, data: bytes, sw: bytes = SW_OK) -> bytes:
        """Response data the T=0 way (61xx / 6Cxx) or directly (T=1)."""
        if self.image.protocol != "T=0" or self.in_field or not data:  # ISO 14443-4: no 61xx
            return data + sw
        if command.data:  # case 4 under T=0: the data waits for GET RESPONSE
            self._pending = data + sw
            return bytes([0x61, len(data) & 0xFF])
        if command.le is None or (command.le or 256) != len(data):
            return bytes([0x6C, len(data) & 0xFF])
        return data + sw

    def _get_response(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        if command.data:
            return SW_WRONG_LENGTH
        if not self._pending:
            return SW_CONDITIONS
        data, sw = self._pending[:-2], self._pending[-2:]
        le = command.le or 256
        if le > len(data):
            return bytes([0x6C, len(data) & 0xFF])
        if le < len(data):
            # ISO/IEC 7816-4, GET RESPONSE: a shorter Le takes the first Le bytes, and
            # '61XX' ("SW2 encodes the number of data bytes still available", 00: 256
            # or more) leaves the rest for the next GET RESPONSE. Not 6CXX: that would
            # tell the reader to ask again for everything.
            self._pending = data[le:] + sw
            return data[:le] + bytes([0x61, (len(data) - le) & 0xFF])
        self._pending = b""
        return data + sw
