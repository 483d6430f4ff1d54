"""ISO 8583 message authentication codes (DE64, or DE128 with a secondary bitmap).

The algorithm is the acquirers' common *retail MAC*: ANSI X9.19, i.e. ISO/IEC
9797-1 MAC algorithm 3 with padding method 1 (zeros), single DES CBC under the
left half of a double-length key and a final TDES step with both halves. The
primitive is ``psec.mac.generate_retail_mac``.

The MAC covers the encoded message (MTI, bitmaps, every field) up to the MAC
field itself, which is always the message's last field: so a message is encoded
with a placeholder MAC and the placeholder's bytes are overwritten.

A host refuses a request whose MAC fails with DE39 ``A0`` and no MAC of its
own (it shares no trusted key with that sender); :meth:`MessageMac.verify_reply`
accepts exactly that unsigned refusal.

Keys are bytes held with ``repr=False``: never in a repr, an event or a trace
(the codec already redacts DE64/DE128 in descriptions).
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping

import attrs
import psec

from simulator.errors import Iso8583Error
from simulator.wire.iso8583 import Iso8583Codec

X919 = "x919"  # ANSI X9.19 / ISO 9797-1 algorithm 3, padding method 1
MAC_ALGORITHMS = (X919,)
MAC_REFUSED = "A0"  # DE39: the request's MAC did not verify (CUP); such replies carry no MAC
PRIMARY_MAC = "64"
SECONDARY_MAC = "128"


class MacError(Iso8583Error):
    """A message's MAC is missing or does not verify, or MAC settings are unusable."""


def retail_mac(key: bytes, data: bytes) -> bytes:
    """The 8-byte ANSI X9.19 MAC of ``data`` under a double-length TDES ``key``.

    The example is ANSI X9.19's own (key 0123456789ABCDEF FEDCBA9876543210):

    >>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> retail_mac(key, b"Now is the time for all ").hex().upper()
    'A1C72E74EA3FA9B6'
    """
    if len(key) != 16:
        raise MacError(f"a retail MAC key is 16 bytes (double-length TDES), got {len(key)}")
    return bytes(psec.mac.generate_retail_mac(key[:8], key[8:], data, padding=1))


def parse_mac_key(text: str, where: str = "MAC key") -> bytes:
    """A hex double-length TDES key -> bytes; the error never repeats the key."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise MacError(f"{where} must be hex") from None
    if len(key) != 16:
        raise MacError(f"{where} must be a double-length TDES key (32 hex digits)")
    if key[:8] == key[8:]:
        raise MacError(f"{where} has equal halves (single DES)")
    return key


def mac_field(fields: Mapping[str, str]) -> str:
    """DE128 when the message has a secondary bitmap (any field above 64), else DE64."""
    secondary = any(key.isdigit() and int(key) > 64 for key in fields if key != SECONDARY_MAC)
    return SECONDARY_MAC if secondary else PRIMARY_MAC


@attrs.frozen
class MessageMac:
    """Signs and verifies whole ISO 8583 messages with one key and one codec."""

    codec: Iso8583Codec
    key: bytes = attrs.field(repr=False)
    algorithm: str = X919

    def __attrs_post_init__(self) -> None:
        if self.algorithm not in MAC_ALGORITHMS:
            raise MacError(
                f"MAC algorithm {self.algorithm!r}: expected one of {', '.join(MAC_ALGORITHMS)}"
            )
        if len(self.key) != 16:
            raise MacError("a MAC key is a double-length TDES key (16 bytes)")
        for field in (PRIMARY_MAC, SECONDARY_MAC):
            spec = self.codec.spec.fields.get(field)
            if spec is None or spec.get("len_type") != 0 or int(spec.get("max_len", 0)) < 4:
                raise MacError(
                    f"spec {self.codec.spec.name}: DE{field} must be a fixed-length MAC field"
                )

    def compute(self, data: bytes) -> bytes:
        return retail_mac(self.key, data)

    def encode(self, fields: Mapping[str, str]) -> bytes:
        """``fields`` encoded with a MAC (any MAC value in ``fields`` is replaced)."""
        field = mac_field(fields)
        document = {k: v for k, v in fields.items() if k not in (PRIMARY_MAC, SECONDARY_MAC)}
        document[field] = self._placeholder(field)
        raw = self.codec.encode(document)
        size = self._size(field)
        return raw[:-size] + self._wire_value(field, self.compute(raw[:-size]))

    def verify(self, raw: bytes, fields: Mapping[str, str]) -> None:
        """Raise :class:`MacError` unless ``raw`` (decoded as ``fields``) carries a good MAC."""
        field = SECONDARY_MAC if SECONDARY_MAC in fields else PRIMARY_MAC
        if field not in fields:
            raise MacError("the message carries no MAC (DE64/DE128)")
        size = self._size(field)
        expected = self._wire_value(field, self.compute(raw[:-size]))
        if not hmac.compare_digest(expected, raw[-size:]):
            raise MacError(f"the MAC in DE{field} does not verify")

    def verify_reply(self, raw: bytes, fields: Mapping[str, str]) -> None:
        """As :meth:`verify`, except that a MAC refusal (DE39 A0) may carry no MAC:
        the host could not agree on a key with us, and a refusal charges nothing."""
        unsigned = PRIMARY_MAC not in fields and SECONDARY_MAC not in fields
        if unsigned and fields.get("39") == MAC_REFUSED:
            return
        self.verify(raw, fields)

    # -- the MAC field's wire form ----------------------------------------------

    def _size(self, field: str) -> int:
        return int(self.codec.spec.fields[field]["max_len"])

    def _placeholder(self, field: str) -> str:
        binary = self.codec.spec.fields[field]["data_enc"] == "b"
        return "00" * self._size(field) if binary else "0" * self._size(field)

    def _wire_value(self, field: str, mac: bytes) -> bytes:
        """How the MAC's bytes appear in the message for this spec's field."""
        spec = self.codec.spec.fields[field]
        size = int(spec["max_len"])
        if spec["data_enc"] == "b":
            return mac[:size]
        # A character-encoded MAC field carries the MAC's hex digits (the first ``size``).
        return mac.hex().upper()[:size].encode(str(spec["data_enc"]))
