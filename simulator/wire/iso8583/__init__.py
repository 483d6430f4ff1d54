"""ISO 8583 on the wire, in four small modules (like pyiso8583's own):

* :mod:`~simulator.wire.iso8583.spec` -- spec files (which fields, how encoded);
* :mod:`~simulator.wire.iso8583.codec` -- messages <-> bytes, request/response pairing;
* :mod:`~simulator.wire.iso8583.framing` -- length header and TPDU on TCP;
* :mod:`~simulator.wire.iso8583.redaction` -- what a trace may show of a message.

Every failure is an :class:`~simulator.errors.Iso8583Error`; its ``field`` names
the data element at fault where there is one. The names below are the public API.
"""

from simulator.wire.iso8583.codec import Iso8583Codec, answers, is_request, response_mti
from simulator.wire.iso8583.framing import (
    ASCII_HEADER,
    BINARY_HEADER,
    HEADER_KINDS,
    MAX_FRAME,
    TPDU_ID,
    Framing,
    swapped_tpdu,
)
from simulator.wire.iso8583.redaction import redact_field, summarize
from simulator.wire.iso8583.spec import DEFAULT_SPEC, Fields, Iso8583Spec

__all__ = [
    "ASCII_HEADER",
    "BINARY_HEADER",
    "DEFAULT_SPEC",
    "HEADER_KINDS",
    "MAX_FRAME",
    "TPDU_ID",
    "Fields",
    "Framing",
    "Iso8583Codec",
    "Iso8583Spec",
    "answers",
    "is_request",
    "redact_field",
    "response_mti",
    "summarize",
    "swapped_tpdu",
]
