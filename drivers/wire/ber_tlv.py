"""BER-TLV for EMV (pyemv underneath) with typed errors and DOL helpers.

Every malformed input raises :class:`~drivers.errors.EmvDataError` (EMV Book 3
Annex B for the encoding, 5.4 for Data Object Lists).

>>> data = pack("70", pack("5F20", b"POSSIM/TEST") + pack("9F08", bytes.fromhex("0030")))
>>> [(obj.tag, obj.value.hex().upper()) for obj in parse(data)[0].primitives()]
[('5F20', '504F5353494D2F54455354'), ('9F08', '0030')]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import attrs
from pyemv import tlv as _tlv

from drivers.errors import EmvDataError

Tags = dict[str, bytes]


def decode(data: bytes) -> dict[str, object]:
    """Nested decode: constructed tags map to dicts."""
    try:
        return _tlv.decode(bytes(data))
    except (_tlv.DecodeError, ValueError, IndexError) as exc:
        raise EmvDataError(f"malformed TLV {bytes(data).hex().upper()[:64]}: {exc}") from None


def decode_flat(data: bytes) -> Tags:
    """Every primitive tag, constructed templates flattened away.

    >>> decode_flat(bytes.fromhex("77099F2701809F36020007"))
    {'9F27': b'\\x80', '9F36': b'\\x00\\x07'}
    """
    try:
        decoded = _tlv.decode(bytes(data), flatten=True)
    except (_tlv.DecodeError, ValueError, IndexError) as exc:
        raise EmvDataError(f"malformed TLV {bytes(data).hex().upper()[:64]}: {exc}") from None
    return {tag: bytes(value) for tag, value in decoded.items()}


def encode(tags: Mapping[str, object]) -> bytes:
    try:
        return _tlv.encode(tags)
    except (_tlv.EncodeError, ValueError) as exc:
        raise EmvDataError(f"cannot encode TLV: {exc}") from None


def parse_dol(dol: bytes) -> list[tuple[str, int]]:
    """A Data Object List (PDOL, CDOL1 ...) -> [(tag, length), ...].

    >>> parse_dol(bytes.fromhex("9F02069F1A0295059A03"))
    [('9F02', 6), ('9F1A', 2), ('95', 5), ('9A', 3)]
    """
    entries: list[tuple[str, int]] = []
    position = 0
    end = len(dol)
    while position < end:
        start = position
        position += 1
        if dol[start] & 0x1F == 0x1F:
            while position < end and dol[position] & 0x80:
                position += 1
            position += 1
        if position >= end:
            raise EmvDataError(f"DOL {dol.hex().upper()} is truncated at byte {start}")
        entries.append((_tag_text(dol[start:position]), dol[position]))
        position += 1
    return entries


def build_dol_data(dol: bytes, values: Mapping[str, bytes]) -> bytes:
    """Concatenate values for each DOL entry, padded/truncated per EMV Book 3 5.4.

    Unknown tags are zero-filled; numeric data is left-padded with zeros and
    others right-padded -- EMV's rule is per format, and every terminal value
    possim supplies is already the exact length, so padding only hits unknowns.

    >>> build_dol_data(bytes.fromhex("9F1A029F3704"), {"9F1A": bytes.fromhex("0156")}).hex()
    '015600000000'
    """
    out = bytearray()
    for tag, length in parse_dol(dol):
        value = values.get(tag, b"")
        if len(value) >= length:
            out += value[:length]
        else:
            out += bytes(length - len(value)) + value
    return bytes(out)


def split_dol_data(dol: bytes, data: bytes) -> Tags:
    """The inverse of :func:`build_dol_data`: the card's view of terminal data."""
    values: Tags = {}
    position = 0
    for tag, length in parse_dol(dol):
        if position + length > len(data):
            raise EmvDataError(
                f"DOL data is {len(data)} bytes, DOL {dol.hex().upper()} asks for more"
            )
        values[tag] = data[position : position + length]
        position += length
    if position != len(data):
        raise EmvDataError(f"DOL data has {len(data) - position} bytes more than the DOL asks for")
    return values


# -- structure-preserving BER-TLV ----------------------------------------------
#
# pyemv's decoder returns dicts: handy, but it loses order and duplicates (a
# PSE directory record holds several ``61`` entries) and reads EMV's ``00``
# padding bytes as a tag. The kernel, the card and the trace redactor need the
# objects as they were encoded, so they use :func:`parse`.


@attrs.frozen
class TlvObject:
    """One BER-TLV object exactly as it was encoded."""

    tag: str  # upper-case hex, e.g. "9F26"
    header: bytes  # the tag and length bytes as found on the wire
    value: bytes
    children: tuple[TlvObject, ...] | None = None  # set for constructed objects

    @property
    def constructed(self) -> bool:
        return self.children is not None

    def primitives(self) -> Iterator[TlvObject]:
        """This object if primitive, else every primitive inside it, depth first."""
        if self.children is None:
            yield self
        else:
            for child in self.children:
                yield from child.primitives()

    def find(self, tag: str) -> TlvObject | None:
        """The first object named ``tag`` inside this one (not this one itself)."""
        for child in self.children or ():
            if child.tag == tag:
                return child
            found = child.find(tag)
            if found is not None:
                return found
        return None


def parse(data: bytes) -> list[TlvObject]:
    """Every top-level object in ``data``, constructed ones parsed recursively.

    ``00`` bytes before, between and after objects are skipped (EMV Book 3
    Annex B). Anything else that does not parse raises :class:`EmvDataError`.
    """
    data = bytes(data)
    return _parse(data, 0, len(data), 0)


# Tag bytes -> tag text ("9F26"): a handful of tags make up nearly every object.
_TAG_TEXT: dict[bytes, str] = {}
_TAG_TEXT_LIMIT = 4096


def _tag_text(tag: bytes) -> str:
    text = _TAG_TEXT.get(tag)
    if text is None:
        text = tag.hex().upper()
        if len(_TAG_TEXT) < _TAG_TEXT_LIMIT:
            _TAG_TEXT[tag] = text
    return text


def _parse(data: bytes, start: int, end: int, depth: int) -> list[TlvObject]:
    if depth > 8:
        raise EmvDataError(f"TLV nests deeper than 8 levels at byte {start}")
    objects: list[TlvObject] = []
    position = start
    while position < end:
        first = data[position]
        if first == 0x00:
            position += 1
            continue
        object_start = position
        position += 1
        if first & 0x1F == 0x1F:
            while True:
                if position >= end:
                    raise EmvDataError(f"TLV tag at byte {object_start} is truncated")
                more = data[position] & 0x80
                position += 1
                if not more:
                    break
                if position - object_start > 4:
                    raise EmvDataError(f"TLV tag at byte {object_start} is longer than 4 bytes")
        tag = _tag_text(data[object_start:position])
        if position >= end:
            raise EmvDataError(f"TLV object {tag} at byte {object_start} has no length")
        length = data[position]
        position += 1
        if length & 0x80:
            count = length & 0x7F
            if count == 0 or count > 3:
                raise EmvDataError(
                    f"TLV object {tag} at byte {object_start} has an unsupported length form "
                    f"{length:02X}"
                )
            if position + count > end:
                raise EmvDataError(f"TLV object {tag} at byte {object_start}: length is truncated")
            length = int.from_bytes(data[position : position + count], "big")
            position += count
        stop = position + length
        if stop > end:
            raise EmvDataError(
                f"TLV object {tag} at byte {object_start} claims {length} bytes, "
                f"only {end - position} follow"
            )
        objects.append(
            TlvObject(
                tag,
                data[object_start:position],
                data[position:stop],
                tuple(_parse(data, position, stop, depth + 1)) if first & 0x20 else None,
            )
        )
        position = stop
    return objects


def encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    if length <= 0xFF:
        return bytes([0x81, length])
    if length <= 0xFFFF:
        return b"\x82" + length.to_bytes(2, "big")
    raise EmvDataError(f"TLV value of {length} bytes is too long")


def pack(tag: str, value: bytes) -> bytes:
    """One TLV object; unlike :func:`encode` it allows repeating a tag.

    >>> pack("9F36", bytes.fromhex("0007")).hex().upper()
    '9F36020007'
    """
    try:
        tag_bytes = bytes.fromhex(tag)
    except ValueError:
        raise EmvDataError(f"TLV tag {tag!r} is not hex") from None
    if not tag_bytes:
        raise EmvDataError("empty TLV tag")
    return tag_bytes + encode_length(len(value)) + bytes(value)


def dol_length(dol: bytes) -> int:
    """The number of data bytes a DOL asks for."""
    return sum(length for _, length in parse_dol(dol))
