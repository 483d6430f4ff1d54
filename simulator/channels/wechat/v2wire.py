"""WeChat Pay APIv2's wire: flat ``<xml>`` documents and their ``sign``.

签名算法 (pay.weixin.qq.com/wiki/doc/api/micropay.php?chapter=4_3): the
non-empty parameters but ``sign``, sorted by name (ASCII), joined as
``k=v&k=v``, then ``&key=<API key>``; MD5 of that (``sign_type`` MD5, the
default) or HMAC-SHA256 keyed with the API key, in upper-case hex.

The parser takes a flat document of at most :data:`MAX_FIELDS` text fields and
refuses any DOCTYPE or entity declaration (an XML bomb never expands).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from simulator.errors import WireFormatError

MAX_FIELDS = 200
SIGN_TYPES = ("MD5", "HMAC-SHA256")


class XmlError(WireFormatError):
    """The body is not a WeChat Pay v2 XML document."""


def parse(body: bytes) -> dict[str, str]:
    if b"<!" in body.replace(b"<![CDATA[", b""):
        raise XmlError("DOCTYPE and entity declarations are not accepted")
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError) as error:
        raise XmlError(f"not well-formed XML: {error}") from None
    if root.tag != "xml":
        raise XmlError(f"the root element must be <xml>, not <{root.tag[:40]}>")
    if len(root) > MAX_FIELDS:
        raise XmlError(f"at most {MAX_FIELDS} fields")
    fields: dict[str, str] = {}
    for child in root:
        if len(child):
            raise XmlError(f"<{child.tag[:40]}> must hold text, not elements")
        fields[child.tag] = (child.text or "").strip()
    return fields


def render(fields: Mapping[str, str]) -> bytes:
    parts = ["<xml>"]
    for name, value in fields.items():
        if value.isdigit():
            parts.append(f"<{name}>{value}</{name}>")
        else:
            safe = value.replace("]]>", "]]]]><![CDATA[>")
            parts.append(f"<{name}><![CDATA[{safe}]]></{name}>")
    parts.append("</xml>")
    return "".join(parts).encode("utf-8")


def signature(fields: Mapping[str, str], key: str, sign_type: str = "MD5") -> str:
    text = "&".join(f"{k}={fields[k]}" for k in sorted(fields) if k != "sign" and fields[k])
    message = f"{text}&key={key}".encode()
    if sign_type == "HMAC-SHA256":
        return hmac.new(key.encode(), message, hashlib.sha256).hexdigest().upper()
    return hashlib.md5(message).hexdigest().upper()


def signed(fields: Mapping[str, str], key: str, sign_type: str = "MD5") -> dict[str, str]:
    """``fields`` with a fresh ``nonce_str`` (if none) and their ``sign``."""
    out = {k: v for k, v in fields.items() if v != ""}
    out.setdefault("nonce_str", secrets.token_hex(16))
    out["sign"] = signature(out, key, sign_type)
    return out


def sign_is_valid(fields: Mapping[str, str], key: str) -> bool:
    sign_type = fields.get("sign_type") or "MD5"
    if sign_type not in SIGN_TYPES:
        return False
    expected = signature(fields, key, sign_type)
    return hmac.compare_digest(fields.get("sign", "").encode(), expected.encode())
