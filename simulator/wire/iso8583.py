"""ISO 8583 on the wire: spec files, the pyiso8583 codec, TCP framing and
redacted descriptions for traces.

Specs are JSON files in ``firmware_fixtures/iso8583/`` holding a pyiso8583
spec dict under ``fields``; ``possim_ascii`` is the default. Frames are a
length header (2-byte big-endian binary by default, or 4 ASCII digits),
optionally followed by a TPDU, then the message.
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import iso8583

import firmware_fixtures
from simulator.emv.apdu import redact_tlv
from simulator.errors import FixtureError, Iso8583Error
from simulator.redact import REDACTED, mask_pan, mask_track2

DEFAULT_SPEC = "possim_ascii"
MAX_FRAME = 0xFFFF
_LENGTH_HEADER = struct.Struct(">H")

# Fields that never appear in a trace in clear (PAN is masked instead).
_REDACTED_FIELDS = frozenset({"35", "36", "45", "52", "64", "128"})
_PAN_FIELD = "2"
_TRACK2_FIELD = "35"
_ICC_FIELD = "55"

Fields = dict[str, str]


@attrs.frozen
class Iso8583Spec:
    name: str
    fields: Mapping[str, Mapping[str, Any]]
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str = DEFAULT_SPEC) -> Iso8583Spec:
        path = firmware_fixtures.locate(
            "iso8583", name_or_path, (".json",), "ISO 8583 spec", FixtureError
        )
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FixtureError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None
        fields = document.get("fields") if isinstance(document, dict) else None
        if not isinstance(fields, dict) or "t" not in fields or "p" not in fields:
            raise FixtureError(
                path, "expected an object with 'fields' holding at least 't' and 'p'"
            )
        for key, field in fields.items():
            missing = {"data_enc", "len_enc", "len_type", "max_len"} - set(field)
            if missing:
                raise FixtureError(path, f"field {key!r} lacks {', '.join(sorted(missing))}")
        return cls(name=str(document.get("name", path.stem)), fields=fields, source=path)

    def describe_field(self, key: str) -> str:
        return str(self.fields.get(key, {}).get("desc", f"field {key}"))


class Iso8583Codec:
    """Encode/decode messages with one spec; every failure is an :class:`Iso8583Error`."""

    def __init__(self, spec: Iso8583Spec) -> None:
        self.spec = spec
        # Field names for traces, looked up for every field of every message.
        self._names = {key: spec.describe_field(key) for key in spec.fields}

    def encode(self, fields: Mapping[str, str]) -> bytes:
        document = dict(fields)
        try:
            raw, _ = iso8583.encode(document, self.spec.fields)
        except iso8583.EncodeError as exc:
            raise Iso8583Error(f"cannot encode {fields.get('t', '????')}: {exc}") from None
        return bytes(raw)

    def decode(self, raw: bytes) -> Fields:
        try:
            decoded, _ = iso8583.decode(raw, self.spec.fields)
        except iso8583.DecodeError as exc:
            raise Iso8583Error(f"malformed ISO 8583 message: {exc}") from None
        return dict(decoded)

    def describe(self, fields: Mapping[str, str]) -> dict[str, dict[str, str]]:
        """Field number -> {name, value}, with card data redacted, for traces."""
        names = self._names
        return {
            key: {
                "name": names.get(key) or self.spec.describe_field(key),
                "value": redact_field(key, value),
            }
            for key, value in sorted(fields.items(), key=_item_order)
            if key not in ("p", "1")
        }


def redact_field(key: str, value: str) -> str:
    if key == _ICC_FIELD:
        # Terminals may put PAN or track 2 tags in DE55 too: mask them as the card trace does.
        try:
            return redact_tlv(bytes.fromhex(value))
        except ValueError:
            return REDACTED
    if key == _PAN_FIELD:
        return mask_pan(value)
    if key == _TRACK2_FIELD:
        return mask_track2(value)
    if key in _REDACTED_FIELDS:
        return REDACTED
    return value


def summarize(fields: Mapping[str, str]) -> str:
    """One line for a trace: MTI, STAN, amount, response code; never card data."""
    parts = [fields.get("t", "????")]
    if "11" in fields:
        parts.append(f"STAN {fields['11']}")
    if "4" in fields:
        parts.append(f"amount {fields['4']}")
    if "2" in fields:
        parts.append(f"PAN {mask_pan(fields['2'])}")
    if "37" in fields:
        parts.append(f"RRN {fields['37']}")
    if "39" in fields:
        parts.append(f"RC {fields['39']}")
    return " ".join(parts)


def _field_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (-1, key)


def _item_order(item: tuple[str, str]) -> tuple[int, str]:
    return _field_order(item[0])


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


def is_request(mti: str) -> bool:
    """Requests and advices (function digit 0 or 2) expect a response (digit + 1)."""
    return len(mti) == 4 and mti.isascii() and mti.isdigit() and mti[2] in "02"


def response_mti(mti: str) -> str:
    return f"{mti[:2]}{int(mti[2]) + 1}0"


def answers(request: Mapping[str, str], reply: Mapping[str, str]) -> bool:
    """Whether ``reply`` is the response to ``request``: its MTI, its STAN and (when
    the host echoes it) its terminal id."""
    mti = request.get("t", "")
    terminal = request.get("41")
    return (
        is_request(mti)
        and reply.get("t") == response_mti(mti)
        and reply.get("11") == request.get("11")
        and reply.get("41", terminal) == terminal
    )
