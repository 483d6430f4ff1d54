"""ISO 8583 framing on TCP: a length header, then an optional TPDU, then the message.

The length header is 2-byte big-endian binary (CUP, most acquirers) or 4 ASCII
digits (docs/real_hosts.md); it counts the bytes after it.

>>> framing = Framing(tpdu_length=5, header=ASCII_HEADER, swap_tpdu=True)
>>> frame = framing.frame(b"0800...", tpdu=bytes.fromhex("6000120034"))
>>> frame[:4], framing.split(frame[4:])[1]
(b'0012', b'0800...')
>>> framing.reply_tpdu(bytes.fromhex("6000120034")).hex()
'6000340012'
"""

from __future__ import annotations

import socket
import struct

import attrs

from simulator.errors import Iso8583Error

MAX_FRAME = 0xFFFF
_LENGTH_HEADER = struct.Struct(">H")

# Length header kinds (docs/real_hosts.md): the count of bytes after the header.
BINARY_HEADER = "binary"  # 2 bytes, big-endian (CUP, most acquirers)
ASCII_HEADER = "ascii"  # 4 ASCII decimal digits
HEADER_KINDS = (BINARY_HEADER, ASCII_HEADER)
TPDU_ID = 0x60  # a TPDU is ID, destination address (2 bytes), source address (2 bytes)


def swapped_tpdu(tpdu: bytes) -> bytes:
    """A reply's TPDU: the request's with destination and source addresses swapped."""
    if len(tpdu) != 5:
        raise Iso8583Error(f"a TPDU to swap must be 5 bytes, got {len(tpdu)}")
    return tpdu[:1] + tpdu[3:5] + tpdu[1:3]


@attrs.frozen
class Framing:
    """A length header, then an optional TPDU, then the message.

    ``header`` is ``binary`` (2-byte big-endian) or ``ascii`` (4 decimal digits);
    ``swap_tpdu``: a reply's TPDU swaps the request's addresses, as real hosts do
    (otherwise it is echoed unchanged).
    """

    tpdu_length: int = 0
    header: str = attrs.field(default=BINARY_HEADER)
    swap_tpdu: bool = False

    @header.validator
    def _check_header(self, _: attrs.Attribute[str], value: str) -> None:
        if value not in HEADER_KINDS:
            raise Iso8583Error(
                f"length header {value!r}: expected one of {', '.join(HEADER_KINDS)}"
            )

    @property
    def header_size(self) -> int:
        return 2 if self.header == BINARY_HEADER else 4

    @property
    def max_body(self) -> int:
        return MAX_FRAME if self.header == BINARY_HEADER else 9999

    def body_length(self, header: bytes) -> int:
        """The body length a received header announces."""
        if self.header == BINARY_HEADER:
            (length,) = _LENGTH_HEADER.unpack(header)
            return int(length)
        if not (header.isascii() and header.isdigit()):
            raise Iso8583Error(f"length header {header!r} is not 4 ASCII digits")
        return int(header)

    def reply_tpdu(self, tpdu: bytes) -> bytes:
        """The TPDU in front of the reply to a request that carried ``tpdu``."""
        return swapped_tpdu(tpdu) if self.swap_tpdu and tpdu else tpdu

    def frame(self, message: bytes, tpdu: bytes = b"") -> bytes:
        if len(tpdu) != self.tpdu_length:
            raise Iso8583Error(f"TPDU must be {self.tpdu_length} bytes, got {len(tpdu)}")
        body = tpdu + message
        if len(body) > self.max_body:
            raise Iso8583Error(
                f"message of {len(body)} bytes does not fit a {self.header} length header"
            )
        if self.header == BINARY_HEADER:
            return _LENGTH_HEADER.pack(len(body)) + body
        return b"%04d" % len(body) + body

    def split(self, body: bytes) -> tuple[bytes, bytes]:
        """A frame body -> (TPDU, message)."""
        if len(body) < self.tpdu_length:
            raise Iso8583Error(f"frame of {len(body)} bytes is shorter than its TPDU")
        return body[: self.tpdu_length], body[self.tpdu_length :]

    def read_frame(self, sock: socket.socket) -> bytes | None:
        """Block for one frame body from ``sock``; ``None`` on a clean EOF."""
        header = _recv_exactly(sock, self.header_size)
        if header is None:
            return None
        length = self.body_length(header)
        if length == 0:
            raise Iso8583Error("frame header announces an empty message")
        body = _recv_exactly(sock, length)
        if body is None:
            raise Iso8583Error(f"connection closed inside a {length}-byte frame")
        return body


def _recv_exactly(sock: socket.socket, count: int) -> bytes | None:
    chunks = bytearray()
    while len(chunks) < count:
        chunk = sock.recv(count - len(chunks))
        if not chunk:
            if chunks:
                raise Iso8583Error(f"connection closed after {len(chunks)} of {count} bytes")
            return None
        chunks += chunk
    return bytes(chunks)
