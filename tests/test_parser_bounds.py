"""Every parser the gateway feeds with what clients send, fuzzed with resource
bounds: each input is parsed -- or refused with the package's own error --
within ``CPU_BOUND`` seconds of CPU and ``memory_bound(size)`` bytes of peak
allocation, whatever it holds. Not only "no crash": a parser that went
quadratic or blew up an input a thousandfold fails here.

The parsers: the ISO 8583 frame header and message codec (the card host), the
QR API's request bodies (``validation.parse_body``) and the notify receivers'
answers (the notifier). CPU time is the calling thread's own (``time.thread_time``),
so a loaded machine does not make it fail; memory is measured with tracemalloc.
"""

from __future__ import annotations

import json
import struct
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from gateway_helpers import frame, magstripe_purchase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.errors import SimulatorError
from simulator.gateway.qr import notify
from simulator.gateway.qr.delivery import MAX_ANSWER
from simulator.gateway.qr.validation import MAX_BODY, Invalid, parse_body
from simulator.gateway.server import DEFAULT_MAX_MESSAGE
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec

CPU_BOUND = 0.5  # seconds per input; each takes well under a millisecond
CODEC = Iso8583Codec(Iso8583Spec.load())
FRAMING = Framing()
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))


def memory_bound(size: int) -> int:
    """Peak bytes a parse may allocate for an input of ``size`` bytes: the
    parsed values' object overhead (a 1-byte JSON value is a 28+ byte object),
    plus room for the interpreter's own bookkeeping."""
    return 64 * size + 256 * 1024


def bounded(parse: Callable[[bytes], Any], data: bytes, refusals: tuple[type, ...]) -> Any:
    """``parse(data)`` within the bounds; its result, or None if it refused."""
    tracemalloc.start()  # only around the parse: tracing hypothesis itself is slow
    try:
        started = time.thread_time()
        try:
            result = parse(data)
        except refusals:
            result = None
        cpu = time.thread_time() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert cpu < CPU_BOUND, f"{cpu:.3f} s of CPU for {len(data)} bytes"
    assert peak < memory_bound(len(data)), f"{peak} bytes at the peak for {len(data)} bytes"
    return result


# -- ISO 8583 ----------------------------------------------------------------------------

A_PURCHASE = frame(magstripe_purchase("000001"))[2:]


def decode_frame_body(body: bytes) -> Any:
    _, message = FRAMING.split(body)
    return CODEC.decode(message)


@FUZZ
@given(st.binary(max_size=DEFAULT_MAX_MESSAGE))
def test_iso8583_random_messages(data: bytes) -> None:
    bounded(decode_frame_body, data, (SimulatorError,))


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(A_PURCHASE) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(A_PURCHASE)),
    st.binary(max_size=64),
)
def test_iso8583_mutated_purchases(flips: list[tuple[int, int]], cut: int, tail: bytes) -> None:
    data = bytearray(A_PURCHASE)
    for position, value in flips:
        data[position] = value
    bounded(decode_frame_body, bytes(data[:cut]) + tail, (SimulatorError,))


@FUZZ
@given(st.binary(min_size=4, max_size=4))
def test_iso8583_length_headers(header: bytes) -> None:
    for framing in (Framing(), Framing(header="ascii")):
        length = bounded(
            lambda raw, f=framing: f.body_length(raw[: f.header_size]), header, (SimulatorError,)
        )
        assert length is None or 0 <= length <= 0xFFFF


# -- QR API bodies -----------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)

CRAFTED = {
    "deep arrays": b"[" * MAX_BODY,
    "deep objects": b'{"a":' * (MAX_BODY // 5),
    "closed deep": b"[" * (MAX_BODY // 2) + b"]" * (MAX_BODY // 2),
    "long number": b'{"amount_fen": ' + b"9" * (MAX_BODY - 20) + b"}",
    "many keys": b"{" + b",".join(b'"%d":0' % n for n in range(1800)) + b"}",
    "long string": b'{"d": "' + b"\\u00e9" * (MAX_BODY // 7) + b'"}',
    "surrogates": b'{"d": "' + b"\\ud800" * (MAX_BODY // 7) + b'"}',
    "huge exponent": b'{"amount_fen": 1e999999999}',
    "NaN": b'{"amount_fen": NaN}',
    "not utf-8": b'{"d": "\xff\xfe"}',
    "too big": b" " * (MAX_BODY + 1),
}


def check_body(data: bytes) -> None:
    body = bounded(parse_body, data, (Invalid,))
    if body is not None:
        assert isinstance(body, dict)
        json.dumps(body).encode("utf-8")  # storable and printable as it is


@pytest.mark.parametrize("data", list(CRAFTED.values()), ids=list(CRAFTED))
def test_qr_crafted_bodies(data: bytes) -> None:
    check_body(data)


@FUZZ
@given(JSON_VALUES)
def test_qr_random_json_bodies(value: Any) -> None:
    check_body(json.dumps(value).encode())


@FUZZ
@given(st.binary(max_size=MAX_BODY))
def test_qr_random_bytes_bodies(data: bytes) -> None:
    check_body(data)


# -- notify answers ------------------------------------------------------------------------


@FUZZ
@given(st.one_of(st.binary(max_size=MAX_ANSWER), JSON_VALUES.map(lambda v: json.dumps(v).encode())))
def test_notify_answers(data: bytes) -> None:
    assert bounded(notify._says_success, data, ()) in (True, False)


def test_notify_answer_crafted() -> None:
    deep = b'{"code": "SUCCESS", "x": ' + b"[" * (MAX_ANSWER // 2) + b"}"
    assert bounded(notify._says_success, deep, ()) is False
    assert bounded(notify._says_success, b'{"code": "SUCCESS"}', ()) is True


def test_the_framing_header_struct_is_what_the_fuzzing_assumes() -> None:
    assert struct.pack(">H", len(A_PURCHASE)) + A_PURCHASE == frame(magstripe_purchase("000001"))
