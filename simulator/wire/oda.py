"""Offline data authentication for fDDA: RSA certificates and signed dynamic data
(EMV 4.3 Book 2, 5 and 6; the fDDA variant of Book C-3 / Visa's qVSDC).

Both sides use this module: personalisation (the card bureau) builds a card's
issuer and ICC public key certificates, the card signs its dynamic data, and the
terminal recovers the keys from the certificates and checks the signature. The
format is EMV's "signature with message recovery" (ISO/IEC 9796-2): the signed
block starts ``6A`` and ends ``BC``, with a SHA-1 hash before the trailer.

* issuer public key certificate (tag ``90``, format ``02``): issuer identifier
  (the PAN's leftmost 3-8 digits, F-padded to 4 bytes), expiry MMYY, serial,
  hash and key algorithm, key length, exponent length, the modulus's leftmost
  digits (the rest in the remainder, tag ``92``), hash;
* ICC public key certificate (``9F46``, format ``04``): the PAN (F-padded to 10
  bytes), expiry, serial, algorithms, lengths, the modulus's leftmost digits
  (the rest in ``9F48``), hash over the certificate, the remainder, the
  exponent and the static data to be authenticated;
* signed dynamic application data (``9F4B``, format ``05``): the ICC dynamic
  data (its length, then the ICC dynamic number), ``BB`` padding, the hash over
  them and the terminal's dynamic data -- for fDDA the unpredictable number
  ``9F37``, the amount ``9F02``, the currency ``5F2A`` and the card
  authentication related data ``9F69`` (Book C-3's fDDA input).

The keys are the simulator's own (``firmware_fixtures/oda/test_keys.yaml``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import attrs

from drivers import fixtures
from simulator.errors import FixtureError, SimulatorError

_HEADER, _TRAILER = 0x6A, 0xBC
FORMAT_ISSUER, FORMAT_ICC, FORMAT_SDAD = 0x02, 0x04, 0x05
_SHA1, _RSA = 0x01, 0x01
_HASH_LENGTH = 20


class OdaError(SimulatorError):
    """A certificate or signature that does not verify; the message says which check."""


@attrs.frozen
class RsaKey:
    n: int
    e: int
    d: int | None = attrs.field(default=None, repr=False)  # None: a public key

    @property
    def length(self) -> int:
        return (self.n.bit_length() + 7) // 8

    @property
    def modulus(self) -> bytes:
        return self.n.to_bytes(self.length, "big")

    @property
    def exponent(self) -> bytes:
        return self.e.to_bytes(max(1, (self.e.bit_length() + 7) // 8), "big")

    def public(self) -> RsaKey:
        return RsaKey(self.n, self.e)

    def sign(self, block: bytes) -> bytes:
        if self.d is None:
            raise OdaError("a public key cannot sign")
        return pow(int.from_bytes(block, "big"), self.d, self.n).to_bytes(self.length, "big")

    def recover(self, signature: bytes) -> bytes:
        if len(signature) != self.length:
            raise OdaError(f"a {len(signature)}-byte signature under a {self.length}-byte key")
        value = int.from_bytes(signature, "big")
        if value >= self.n:
            raise OdaError("the signature is not below the key's modulus")
        return pow(value, self.e, self.n).to_bytes(self.length, "big")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RsaKey:
        d = data.get("d")
        return cls(
            int(str(data["n"]).replace(" ", ""), 16),
            int(str(data["e"])),
            None if d is None else int(str(d).replace(" ", ""), 16),
        )


def _sha1(*parts: bytes) -> bytes:
    return hashlib.sha1(b"".join(parts), usedforsecurity=False).digest()


def _signed(key: RsaKey, body: bytes, hashed_extra: bytes) -> bytes:
    """6A || body || hash(body || extra) || BC, signed; ``body`` fills the rest."""
    digest = _sha1(body, hashed_extra)
    return key.sign(bytes([_HEADER]) + body + digest + bytes([_TRAILER]))


def _opened(key: RsaKey, signature: bytes, fmt: int, what: str) -> tuple[bytes, bytes]:
    """(body, hash) of a recovered block, after its header, trailer and format checks."""
    block = key.recover(signature)
    if block[0] != _HEADER or block[-1] != _TRAILER:
        raise OdaError(f"the {what} does not recover to 6A ... BC")
    if block[1] != fmt:
        raise OdaError(f"the {what} has format {block[1]:02X}, expected {fmt:02X}")
    return block[1 : -1 - _HASH_LENGTH], block[-1 - _HASH_LENGTH : -1]


def _pan_digits(pan: str, length: int) -> bytes:
    digits = pan + "F" * (length * 2 - len(pan))
    return bytes.fromhex(digits[: length * 2])


def _split(modulus: bytes, room: int) -> tuple[bytes, bytes]:
    """The modulus's leftmost digits (padded with BB to ``room``) and the remainder."""
    if len(modulus) <= room:
        return modulus + b"\xbb" * (room - len(modulus)), b""
    return modulus[:room], modulus[room:]


@attrs.frozen
class OdaKeys:
    """The simulator's CA (with its index), issuer and ICC keys (all with private parts)."""

    ca_index: int
    ca: RsaKey
    issuer: RsaKey
    icc: RsaKey


_loaded: dict[str, OdaKeys] = {}


def simulator_keys(name: str = "test_keys") -> OdaKeys:
    """``firmware_fixtures/oda/<name>.yaml``, loaded once."""
    found = _loaded.get(name)
    if found is not None:
        return found
    path = fixtures.locate("oda", name, (".yaml",), "ODA key file", FixtureError)
    document = fixtures.load(path, error=FixtureError)
    try:
        keys = OdaKeys(
            int(str(document["ca"]["index"]), 16),
            RsaKey.from_mapping(document["ca"]),
            RsaKey.from_mapping(document["issuer"]),
            RsaKey.from_mapping(document["icc"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        problem = f"expected ca (index, e, n, d), issuer and icc keys: {exc}"
        raise FixtureError(path, problem) from None
    _loaded[name] = keys
    return keys


# -- personalisation: certificates -------------------------------------------------------------


def issuer_certificate(
    ca: RsaKey, issuer: RsaKey, pan: str, expiry_mmyy: str, serial: bytes = b"\x00\x00\x01"
) -> tuple[bytes, bytes]:
    """Tag 90 and the remainder (tag 92) for ``issuer``'s public key, signed by ``ca``."""
    room = ca.length - 36
    leftmost, remainder = _split(issuer.modulus, room)
    body = (
        bytes([FORMAT_ISSUER])
        + _pan_digits(pan[:6], 4)
        + bytes.fromhex(expiry_mmyy)
        + serial
        + bytes([_SHA1, _RSA, issuer.length, len(issuer.exponent)])
        + leftmost
    )
    return _signed(ca, body, remainder + issuer.exponent), remainder


def icc_certificate(
    issuer: RsaKey, icc: RsaKey, pan: str, expiry_mmyy: str, static_data: bytes
) -> tuple[bytes, bytes]:
    """Tag 9F46 and the remainder (9F48) for ``icc``'s public key, signed by ``issuer``."""
    room = issuer.length - 42
    leftmost, remainder = _split(icc.modulus, room)
    body = (
        bytes([FORMAT_ICC])
        + _pan_digits(pan, 10)
        + bytes.fromhex(expiry_mmyy)
        + b"\x00\x00\x01"
        + bytes([_SHA1, _RSA, icc.length, len(icc.exponent)])
        + leftmost
    )
    return _signed(issuer, body, remainder + icc.exponent + static_data), remainder


def sign_dynamic_data(icc: RsaKey, icc_dynamic_number: bytes, terminal_data: bytes) -> bytes:
    """Tag 9F4B: the card's signature over its dynamic number and the terminal's data."""
    dynamic = bytes([len(icc_dynamic_number)]) + icc_dynamic_number
    body = bytes([FORMAT_SDAD, _SHA1, len(dynamic)]) + dynamic
    body += b"\xbb" * (icc.length - 22 - len(body))  # 6A, hash and BC take the other 22
    return _signed(icc, body, terminal_data)


# -- the terminal: recovery and verification -----------------------------------------------------


def recover_issuer_key(
    ca: RsaKey, certificate: bytes, remainder: bytes, exponent: bytes, pan: str
) -> RsaKey:
    body, digest = _opened(ca, certificate, FORMAT_ISSUER, "issuer public key certificate")
    if _sha1(body, remainder, exponent) != digest:
        raise OdaError("the issuer public key certificate's hash does not match")
    issuer_id = body[1:5].hex().upper().rstrip("F")
    if not pan.startswith(issuer_id):
        raise OdaError(f"the issuer certificate is for issuer {issuer_id}, not this PAN")
    length = body[12]
    modulus = (body[14:] + remainder)[:length]
    return RsaKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"))


def recover_icc_key(
    issuer: RsaKey,
    certificate: bytes,
    remainder: bytes,
    exponent: bytes,
    pan: str,
    static_data: bytes,
) -> RsaKey:
    body, digest = _opened(issuer, certificate, FORMAT_ICC, "ICC public key certificate")
    if _sha1(body, remainder, exponent, static_data) != digest:
        raise OdaError("the ICC public key certificate's hash does not match")
    if body[1:11].hex().upper().rstrip("F") != pan:
        raise OdaError("the ICC public key certificate is for another PAN")
    length = body[18]
    modulus = (body[20:] + remainder)[:length]
    return RsaKey(int.from_bytes(modulus, "big"), int.from_bytes(exponent, "big"))


def verify_dynamic_data(icc: RsaKey, signature: bytes, terminal_data: bytes) -> None:
    """Raises OdaError unless ``signature`` (9F4B) signs ``terminal_data``."""
    body, digest = _opened(icc, signature, FORMAT_SDAD, "signed dynamic application data")
    if _sha1(body, terminal_data) != digest:
        raise OdaError("the signed dynamic application data's hash does not match")


def fdda_terminal_data(tags: Mapping[str, bytes]) -> bytes:
    """What fDDA signs besides the card's dynamic number: 9F37 9F02 5F2A 9F69."""
    missing = [tag for tag in ("9F37", "9F02", "5F2A", "9F69") if tag not in tags]
    if missing:
        raise OdaError(f"fDDA input lacks {', '.join(missing)}")
    return tags["9F37"] + tags["9F02"] + tags["5F2A"] + tags["9F69"]


__all__ = [
    "OdaError",
    "OdaKeys",
    "RsaKey",
    "fdda_terminal_data",
    "icc_certificate",
    "issuer_certificate",
    "recover_icc_key",
    "recover_issuer_key",
    "sign_dynamic_data",
    "simulator_keys",
    "verify_dynamic_data",
]
