"""Alipay's RSA and RSA2 signatures (opendocs.alipay.com/common/02kf5q, "自行实现签名").

The string to sign: every parameter except ``sign`` (and, for async
notifications, ``sign_type`` too) whose value is not empty, sorted by name in
ASCII order, joined as ``name=value`` with ``&``, values raw (not URL-encoded).
``RSA2`` is SHA256withRSA, ``RSA`` SHA1withRSA (PKCS#1 v1.5), the signature
base64. An answer is signed over the exact JSON text of its ``*_response``
object (opendocs.alipay.com/common/02mse7, "同步响应验签").
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

SIGN_TYPES = ("RSA2", "RSA")


def sign_content(params: Mapping[str, str], *, drop_sign_type: bool = False) -> str:
    dropped = {"sign", "sign_type"} if drop_sign_type else {"sign"}
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k not in dropped and v != "")


def _hash(sign_type: str) -> hashes.HashAlgorithm:
    # Alipay's "RSA" is SHA1withRSA.
    return hashes.SHA256() if sign_type == "RSA2" else hashes.SHA1()


def sign(key: rsa.RSAPrivateKey, content: str, sign_type: str = "RSA2") -> str:
    signature = key.sign(content.encode("utf-8"), padding.PKCS1v15(), _hash(sign_type))
    return base64.b64encode(signature).decode("ascii")


def verify(key: rsa.RSAPublicKey, content: bytes, signature: str, sign_type: str = "RSA2") -> bool:
    try:
        raw = base64.b64decode(signature.encode("ascii"), validate=False)
        key.verify(raw, content, padding.PKCS1v15(), _hash(sign_type))
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return True
