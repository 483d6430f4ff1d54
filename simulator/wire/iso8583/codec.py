"""ISO 8583 messages <-> bytes with one spec (pyiso8583 underneath), and which
reply answers which request.

>>> codec = Iso8583Codec(Iso8583Spec.load())
>>> raw = codec.encode({"t": "0800", "11": "000001", "70": "301"})
>>> codec.decode(raw)["70"]
'301'
>>> try:
...     codec.encode({"t": "0200", "4": "1234567890123"})
... except Iso8583Error as exc:
...     print(exc.field)
4
"""

from __future__ import annotations

from collections.abc import Mapping

import iso8583

from simulator.errors import Iso8583Error
from simulator.wire.iso8583.redaction import redact_field
from simulator.wire.iso8583.spec import Fields, Iso8583Spec


class Iso8583Codec:
    """Encode/decode messages with one spec; every failure is an :class:`Iso8583Error`
    whose ``field`` names the data element at fault."""

    def __init__(self, spec: Iso8583Spec) -> None:
        self.spec = spec
        # Field names for traces, looked up for every field of every message.
        self._names = {key: spec.describe_field(key) for key in spec.fields}

    def encode(self, fields: Mapping[str, str]) -> bytes:
        document = dict(fields)
        try:
            raw, _ = iso8583.encode(document, self.spec.fields)
        except iso8583.EncodeError as exc:
            raise Iso8583Error(
                f"cannot encode {fields.get('t', '????')}: {exc}", field=str(exc.field)
            ) from None
        return bytes(raw)

    def decode(self, raw: bytes) -> Fields:
        try:
            decoded, _ = iso8583.decode(raw, self.spec.fields)
        except iso8583.DecodeError as exc:
            raise Iso8583Error(f"malformed ISO 8583 message: {exc}", field=str(exc.field)) from None
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


def _field_order(key: str) -> tuple[int, str]:
    return (int(key), "") if key.isdigit() else (-1, key)


def _item_order(item: tuple[str, str]) -> tuple[int, str]:
    return _field_order(item[0])


def is_request(mti: str) -> bool:
    """Requests and advices (function digit 0 or 2) expect a response (digit + 1).

    >>> is_request("0200"), is_request("0420"), is_request("0210")
    (True, True, False)
    """
    return len(mti) == 4 and mti.isascii() and mti.isdigit() and mti[2] in "02"


def response_mti(mti: str) -> str:
    """The MTI of the response to a request.

    >>> response_mti("0400")
    '0410'
    """
    return f"{mti[:2]}{int(mti[2]) + 1}0"


def answers(request: Mapping[str, str], reply: Mapping[str, str]) -> bool:
    """Whether ``reply`` is the response to ``request``: its MTI, its STAN and (when
    the host echoes it) its terminal id.

    >>> answers({"t": "0200", "11": "000007"}, {"t": "0210", "11": "000007", "39": "00"})
    True
    """
    mti = request.get("t", "")
    terminal = request.get("41")
    return (
        is_request(mti)
        and reply.get("t") == response_mti(mti)
        and reply.get("11") == request.get("11")
        and reply.get("41", terminal) == terminal
    )
