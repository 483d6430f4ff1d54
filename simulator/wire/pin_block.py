"""Online PIN on the wire: ISO 9564 format-0 PIN blocks enciphered under a
terminal PIN key (TPK), as ISO 8583 DE52 carries them.

The terminal enciphers (:func:`encipher_pin`), the acquirer host deciphers
(:func:`decipher_pin`); both go through ``psec`` so the arithmetic is the
library's, not ours. The clear PIN exists only inside these calls and the
PIN pad: callers must never log, trace or store it.
"""

from __future__ import annotations

import warnings

from psec import des, pinblock

from simulator.errors import WireFormatError

PIN_BLOCK_LENGTH = 8


class PinBlockError(WireFormatError):
    """A PIN block cannot be built or does not decode (wrong key, format or PAN)."""


def _tdes_key(key: bytes) -> bytes:
    if len(key) not in (16, 24):
        raise PinBlockError(f"a PIN key is a double- or triple-length TDES key, got {len(key)} B")
    return key


def encipher_pin(pin: str, pan: str, key: bytes) -> bytes:
    """The 8-byte DE52 for ``pin``: format-0 block (PIN xor PAN) under ``key``.

    >>> key = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    >>> block = encipher_pin("1234", "6212345678901234", key)
    >>> decipher_pin(block, "6212345678901234", key)
    '1234'
    """
    try:
        block = pinblock.encode_pinblock_iso_0(pin, pan)
    except ValueError:
        # psec's message quotes the PIN: never pass it on.
        raise PinBlockError("the PIN or PAN cannot form an ISO 9564 format-0 block") from None
    with warnings.catch_warnings():
        # cryptography deprecates two-key TDES, which ISO 9564 and EMV still mandate.
        warnings.simplefilter("ignore")
        return bytes(des.encrypt_tdes_ecb(_tdes_key(key), block))


def decipher_pin(enciphered: bytes, pan: str, key: bytes) -> str:
    """The clear PIN from a DE52 value; :class:`PinBlockError` if it does not decode."""
    if len(enciphered) != PIN_BLOCK_LENGTH:
        raise PinBlockError(f"a PIN block is {PIN_BLOCK_LENGTH} bytes, got {len(enciphered)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        block = bytes(des.decrypt_tdes_ecb(_tdes_key(key), enciphered))
    try:
        return str(pinblock.decode_pinblock_iso_0(block, pan))
    except ValueError:
        raise PinBlockError(
            "DE52 is not a format-0 PIN block for this PAN (wrong key, format or PAN)"
        ) from None
