"""WeChat Pay APIv3's signatures and encryption.

签名生成 / 签名验证 (pay.weixin.qq.com/wiki/doc/apiv3/wechatpay/wechatpay4_0.shtml, 4_1):

* a request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",
  signature="..",timestamp="..",serial_no=".."``; the signature is SHA256withRSA (PKCS#1
  v1.5) by the merchant's API key over ``METHOD\\nURL\\ntimestamp\\nnonce\\nbody\\n``
  (URL: path and query as sent);
* an answer or a notify carries ``Wechatpay-Timestamp``, ``Wechatpay-Nonce``,
  ``Wechatpay-Serial``, ``Wechatpay-Signature`` (and ``Wechatpay-Signature-Type``): the
  platform key's signature over ``timestamp\\nnonce\\nbody\\n``;
* certificates and notify resources are AEAD_AES_256_GCM under the APIv3 key, with a
  12-character nonce and the given associated data.
"""

from __future__ import annotations

import base64
import re
import secrets

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
_PARAM = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*')
_NEEDED = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")


class AuthorizationError(Exception):
    """Why a request's Authorization is refused, in WeChat's words (401 SIGN_ERROR)."""


def parse_authorization(header: str) -> dict[str, str]:
    schema, _, rest = header.partition(" ")
    if not header:
        raise AuthorizationError(
            "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"
        )
    if schema != SCHEMA:
        raise AuthorizationError(
            "Http头Authorization认证类型不正确，目前仅支持WECHATPAY2-SHA256-RSA2048"
        )
    params: dict[str, str] = {}
    for part in rest.split(","):
        match = _PARAM.fullmatch(part)
        if match is None:
            raise AuthorizationError(
                "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"
            )
        params[match.group(1)] = match.group(2)
    if any(not params.get(name) for name in _NEEDED):
        raise AuthorizationError(
            "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》"
        )
    return params


def request_message(method: str, url: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method}\n{url}\n{timestamp}\n{nonce}\n".encode() + body + b"\n"


def verify(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def sign(private_key: rsa.RSAPrivateKey, message: bytes) -> str:
    raw = private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def signed_headers(
    private_key: rsa.RSAPrivateKey, serial: str, timestamp: int, body: bytes
) -> dict[str, str]:
    nonce = secrets.token_hex(16)
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return {
        "Wechatpay-Timestamp": str(timestamp),
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature": sign(private_key, message),
        "Wechatpay-Signature-Type": SCHEMA,
    }


def encrypt(apiv3_key: str, plaintext: str, associated_data: str) -> dict[str, str]:
    """An AEAD_AES_256_GCM envelope as /v3/certificates and notifies carry it."""
    nonce = secrets.token_hex(6)  # 12 characters, used as their ASCII bytes
    sealed = AESGCM(apiv3_key.encode()).encrypt(
        nonce.encode(), plaintext.encode(), associated_data.encode()
    )
    return {
        "algorithm": "AEAD_AES_256_GCM",
        "nonce": nonce,
        "associated_data": associated_data,
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
    }
