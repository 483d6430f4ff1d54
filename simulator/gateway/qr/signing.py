"""HMAC-SHA256 request and notify signatures (docs/qr_api.md, Authentication).

``X-Possim-Signature`` is the lower-case hex HMAC-SHA256, under the
merchant's API key, of the raw request body (POST) or of the raw query string
as sent (GET, without the ``?``).
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit, urlunsplit

SIGNATURE_HEADER = "X-Possim-Signature"


def sign(key: str, data: bytes) -> str:
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def verify(key: str, data: bytes, signature: str | None) -> bool:
    if not signature:
        return False
    given = signature.strip().lower().encode("utf-8", "replace")
    return hmac.compare_digest(sign(key, data).encode("ascii"), given)


def shown_url(url: str) -> str:
    """A URL for events: the port (ephemeral in simulations) as ``PORT``, so a
    simulation's transcript is the same on every run."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    if port is None or parts.hostname is None:
        return url
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return urlunsplit(parts._replace(netloc=f"{host}:PORT"))
