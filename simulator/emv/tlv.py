"""BER-TLV for EMV (pyemv underneath) with typed errors and DOL helpers."""

from __future__ import annotations

from collections.abc import Mapping

from pyemv import tlv as _tlv

from simulator.errors import EmvDataError

Tags = dict[str, bytes]


def decode(data: bytes) -> dict[str, object]:
    """Nested decode: constructed tags map to dicts."""
    try:
        return _tlv.decode(bytes(data))
    except (_tlv.DecodeError, ValueError, IndexError) as exc:
        raise EmvDataError(f"malformed TLV {bytes(data).hex().upper()[:64]}: {exc}") from None


def decode_flat(data: bytes) -> Tags:
    """Every primitive tag, constructed templates flattened away."""
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
    """A Data Object List (PDOL, CDOL1 ...) -> [(tag, length), ...]."""
    entries: list[tuple[str, int]] = []
    position = 0
    while position < len(dol):
        start = position
        first = dol[position]
        position += 1
        if first & 0x1F == 0x1F:
            while position < len(dol) and dol[position] & 0x80:
                position += 1
            position += 1
        if position >= len(dol):
            raise EmvDataError(f"DOL {dol.hex().upper()} is truncated at byte {start}")
        tag = dol[start:position].hex().upper()
        length = dol[position]
        position += 1
        entries.append((tag, length))
    return entries


def build_dol_data(dol: bytes, values: Mapping[str, bytes]) -> bytes:
    """Concatenate values for each DOL entry, padded/truncated per EMV Book 3 5.4.

    Unknown tags are zero-filled; numeric data is left-padded with zeros and
    others right-padded -- EMV's rule is per format, and every terminal value
    possim supplies is already the exact length, so padding only hits unknowns.
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
