"""What a trace may hold of card data, and how the rest is kept.

* PIN commands (VERIFY, PIN CHANGE/UNBLOCK, RESET RETRY COUNTER): the line
  shows the header and ``*`` for the data; the bytes are kept only as
  ``digest`` = HMAC-SHA256(secret, scrypt(APDU, per-trace salt)). A replay
  checks the driver sent the same PIN block by computing the same digest; the
  PIN cannot be read back. Without ``$POSSIM_TRACE_KEY`` (secret empty) it can
  still be *searched* -- a PIN has few values -- and scrypt only makes that
  slow (~0.1 s a guess here); with the key set, not without the key.
* Card responses holding a PAN, track 2/track 1, the cardholder name or a
  PAN-like digit run: the line shows them masked (first 6 / last 4) by the
  same rules as the terminal's traces (:mod:`drivers.wire.iso7816`); the exact
  bytes, which the replayed card must return byte for byte, are ``sealed``:
  AES-256-GCM under the trace's key. The key is ``$POSSIM_TRACE_KEY`` (64 hex
  digits; the header keeps only its check value) when set at recording time,
  else a random key written into the header -- then sealing only keeps card
  data out of greps, diffs and logs, and the file counts as card data.
  docs/replay.md says why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from drivers.traffic.trace import Message, TraceFormatError, TraceRecordingError

KEY_ENV = "POSSIM_TRACE_KEY"
_KCV_LABEL = b"possim trace key check"


def new_salt() -> str:
    return secrets.token_hex(16)


# scrypt cost: ~0.1 s a digest here. A PIN block has few possible values (10^4 for
# a 4-digit PIN), so an unkeyed digest can only be made slow to search, not
# impossible; with $POSSIM_TRACE_KEY it is also keyed and useless without the key.
_SCRYPT_N = 2**14


def digest(salt: str, data: bytes, secret: bytes = b"") -> str:
    """The salted, slow, optionally keyed digest a trace keeps of a PIN command."""
    stretched = hashlib.scrypt(data, salt=bytes.fromhex(salt), n=_SCRYPT_N, r=8, p=1)
    return hmac.new(secret, stretched, hashlib.sha256).hexdigest()


def _check_value(key: bytes) -> str:
    return hmac.new(key, _KCV_LABEL, hashlib.sha256).hexdigest()[:12]


def _env_key() -> bytes | None:
    text = os.environ.get(KEY_ENV, "").strip()
    if not text:
        return None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise TraceRecordingError(f"${KEY_ENV} must be 64 hex digits (an AES-256 key)")
    return key


class Sealer:
    """Seals and unseals the sensitive responses of one trace."""

    def __init__(self, key: bytes, header: dict[str, Any], *, secret: bool = False) -> None:
        self._aead = AESGCM(key)
        self.header = header
        # Keys PIN digests too -- only when it is not written in the trace itself.
        self.secret = key if secret else b""

    @classmethod
    def for_recording(cls) -> Sealer:
        key = _env_key()
        if key is not None:
            return cls(key, {"key": f"env:{KEY_ENV}", "kcv": _check_value(key)}, secret=True)
        key = AESGCM.generate_key(bit_length=256)
        return cls(key, {"key": "header", "value": key.hex(), "kcv": _check_value(key)})

    @classmethod
    def for_replay(cls, seal: Any, path: Path) -> Sealer:
        if not isinstance(seal, Mapping):
            raise TraceFormatError(path, "header: seal is missing", line=1)
        secret = seal.get("key") != "header"
        if not secret:
            value = seal.get("value")
            if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", value):
                raise TraceFormatError(
                    path, "header: seal.value: expected the key, 64 hex digits", line=1
                )
            key = bytes.fromhex(value)
        else:
            env = _env_key()
            if env is None:
                raise TraceFormatError(
                    path,
                    f"the card data in this trace is sealed with ${KEY_ENV}: set it to the key "
                    "it was recorded with",
                    line=1,
                )
            key = env
        if _check_value(key) != seal.get("kcv"):
            if not secret:
                raise TraceFormatError(path, "header: seal.kcv does not match seal.value", line=1)
            raise TraceFormatError(path, f"${KEY_ENV} is not the key this trace was sealed with")
        return cls(key, dict(seal), secret=secret)

    def seal(self, data: bytes, binding: bytes) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, data, binding)
        return base64.b64encode(nonce + sealed).decode("ascii")

    def unseal(self, text: str, binding: bytes, message: Message, path: Path) -> bytes:
        """The bytes sealed on ``message``'s line, or a TraceFormatError at that line."""
        try:
            raw = base64.b64decode(text, validate=True)
            return self._aead.decrypt(raw[:12], raw[12:], binding)
        except (ValueError, InvalidTag):
            raise TraceFormatError(
                path,
                f"exchange {message.n}: this line or its sealed bytes were edited after "
                "recording (the seal no longer matches): record the trace again",
                line=message.line or None,
            ) from None
