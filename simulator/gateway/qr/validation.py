"""What the QR API accepts in a request: the body's JSON and each field.

Every refusal is an :class:`Invalid` carrying the API's error shape
(docs/qr_api.md, Errors): HTTP 400 ``INVALID_REQUEST`` with a message naming
what is wrong, or 401 ``SIGNATURE_INVALID``. Whatever a body holds, parsing it
costs time and memory in proportion to its size (at most ``MAX_BODY``
bytes) and ends in a dict of JSON values or an :class:`Invalid` -- never in
another exception, which the API would have to answer 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from simulator.gateway.qr.orders import Reply

MAX_BODY = 16 * 1024  # bytes of request body
MAX_JSON_DEPTH = 8  # nesting of arrays and objects; every documented body is flat
MAX_AMOUNT_FEN = 10_000_000_000  # 100 million yuan
_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class Invalid(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.reply = Reply(status, {"error_code": code, "message": message})


def bad(message: str) -> Invalid:
    return Invalid(400, "INVALID_REQUEST", message)


def unsigned() -> Invalid:
    return Invalid(
        401, "SIGNATURE_INVALID", "missing or wrong X-Possim-Signature for this merchant"
    )


def parse_body(raw: bytes) -> dict[str, Any]:
    """A request body -> its JSON object, or :class:`Invalid`."""
    if len(raw) > MAX_BODY:
        raise bad(f"the body is larger than {MAX_BODY} bytes")
    try:
        body = json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise bad(f"the body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError):
        # ValueError covers integers too long to convert (sys.get_int_max_str_digits)
        raise bad("the body is not JSON") from None
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    _check_values(body)
    return body


def _check_values(body: dict[str, Any]) -> None:
    """Bounded nesting, and text that can be stored and shown: no lone surrogates."""
    pending: list[tuple[Any, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict):
            items: list[Any] = [*value.keys(), *value.values()]
        elif isinstance(value, list):
            items = value
        elif isinstance(value, str):
            _check_text(value)
            continue
        else:
            continue
        if depth > MAX_JSON_DEPTH:
            raise bad(f"the body nests arrays or objects deeper than {MAX_JSON_DEPTH} levels")
        pending.extend((item, depth + 1) for item in items)


def _check_text(value: str) -> None:
    if value.isascii():
        return
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad("the body holds a \\u escape of a lone surrogate, which is not text") from None


# -- fields ------------------------------------------------------------------------


def ident(body: Mapping[str, Any], field: str, *, optional: bool = False) -> Any:
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not _ID.match(value):
        raise bad(f"field {field!r} must be 1-32 characters of A-Z a-z 0-9 _ -")
    return value


def is_ident(value: str) -> bool:
    return _ID.match(value) is not None


def amount(body: Mapping[str, Any], field: str) -> int:
    value = body.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_AMOUNT_FEN:
        raise bad(f"field {field!r} must be an integer number of fen, 1-{MAX_AMOUNT_FEN}")
    return value


def text(body: Mapping[str, Any], field: str, limit: int, *, optional: bool = False) -> Any:
    value = body.get(field)
    if value is None and optional:
        return None
    if not isinstance(value, str) or len(value) > limit or (not optional and not value):
        raise bad(f"field {field!r} must be a string of at most {limit} characters")
    return value


def url(body: Mapping[str, Any], field: str, *, optional: bool = False) -> Any:
    value = text(body, field, 512, optional=optional)
    if value is None:
        return None
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 -- raises ValueError for a port out of range
    except ValueError:
        raise bad(f"field {field!r} must be an http(s) URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad(f"field {field!r} must be an http(s) URL")
    return value
