"""The structure-preserving TLV parser added to drivers.wire.ber_tlv."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv


def test_parse_keeps_order_duplicates_and_nesting() -> None:
    entry1 = tlv.pack("61", tlv.pack("4F", bytes.fromhex("A000000333010101")))
    entry2 = tlv.pack("61", tlv.pack("4F", bytes.fromhex("A000000333010102")))
    (record,) = tlv.parse(tlv.pack("70", entry1 + entry2))
    assert record.tag == "70" and record.constructed
    assert record.children is not None
    assert [child.tag for child in record.children] == ["61", "61"]
    second = record.children[1].find("4F")
    assert second is not None and second.value.hex().upper() == "A000000333010102"
    assert [obj.tag for obj in record.primitives()] == ["4F", "4F"]


def test_parse_skips_padding_and_reads_long_lengths() -> None:
    long_value = bytes(200)
    data = b"\x00\x00" + tlv.pack("9F4D", long_value) + b"\x00"
    (obj,) = tlv.parse(data)
    assert obj.tag == "9F4D"
    assert obj.header == bytes.fromhex("9F4D81C8")
    assert obj.value == long_value


@pytest.mark.parametrize(
    "hex_data",
    ["9F", "9F02", "9F0206000000", "5A8501", "70035A0501", "9F8080808001"],
)
def test_malformed_tlv_raises_emv_data_error(hex_data: str) -> None:
    with pytest.raises(EmvDataError):
        tlv.parse(bytes.fromhex(hex_data))


def test_dol_length() -> None:
    assert tlv.dol_length(bytes.fromhex("9F02069F1A02")) == 8
    assert tlv.dol_length(b"") == 0


@given(st.binary(max_size=64))
def test_random_bytes_parse_or_raise_emv_data_error(data: bytes) -> None:
    try:
        objects = tlv.parse(data)
    except EmvDataError:
        return
    joined = b"".join(obj.header + obj.value for obj in objects)
    # What was skipped is padding; re-parsing the objects gives them back.
    assert len(data) - len(joined) <= data.count(0)
    assert tlv.parse(joined) == objects
