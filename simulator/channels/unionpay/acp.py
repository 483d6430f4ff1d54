"""The ACP (全渠道) message rules: signing, answers, the test certificates.

signMethod ``01`` in version 5.1.0 (UnionPay's ACP SDKs, ``SDKUtil.buildSignature``):
the fields but ``signature`` whose value is not empty, sorted by name, joined
``name=value`` with ``&`` (values raw); the lower-case hex SHA-256 of that
string; SHA256withRSA over the hex string, base64. A 5.1.0 answer or
notification carries the signer's certificate in ``signPubKeyCert`` (PEM) and
the merchant checks it chains to UnionPay's root before verifying with it;
a request names the merchant's signing certificate by ``certId``, its serial
number in decimal. Answers are ``name=value&...`` with values *not*
URL-encoded (the SDKs' ``parseQString`` splits them, minding ``{...}`` and
``[...]``); requests and notifications are form-encoded.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
from collections.abc import Mapping

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

VERSION = "5.1.0"
SIGN_METHOD = "01"
_NOT_BEFORE = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc)
_NOT_AFTER = datetime.datetime(2035, 1, 1, tzinfo=datetime.timezone.utc)


def sign_text(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "signature" and v != "")


def _digest_hex(params: Mapping[str, str]) -> bytes:
    return hashlib.sha256(sign_text(params).encode("utf-8")).hexdigest().encode("ascii")


def sign(key: rsa.RSAPrivateKey, params: Mapping[str, str]) -> str:
    raw = key.sign(_digest_hex(params), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(raw).decode("ascii")


def verify(key: rsa.RSAPublicKey, params: Mapping[str, str], signature: str) -> bool:
    try:
        raw = base64.b64decode(signature.encode("ascii"))
        key.verify(raw, _digest_hex(params), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError, UnicodeEncodeError):
        return False
    return True


def encode_answer(params: Mapping[str, str]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()))


def parse_answer(text: str) -> dict[str, str]:
    """``name=value&...`` as the ACP SDKs read it: ``&`` inside ``{}``/``[]`` is data."""
    fields: dict[str, str] = {}
    key, value, in_key, closing = "", "", True, ""
    for char in text:
        if closing:
            value += char
            if char == closing:
                closing = ""
        elif char in "{[" and not in_key:
            closing = "}" if char == "{" else "]"
            value += char
        elif in_key and char == "=":
            key, value, in_key = value, "", False
        elif char == "&":
            fields[value if in_key else key] = "" if in_key else value
            key, value, in_key = "", "", True
        else:
            value += char
    fields[value if in_key else key] = "" if in_key else value
    return fields


@attrs.frozen
class TestCertificates:
    """UnionPay's test root and the signing certificates issued under it (never real)."""

    __test__ = False

    root: x509.Certificate
    signer: x509.Certificate  # the simulated UnionPay's signing certificate
    merchant: x509.Certificate  # the test merchant's signing certificate

    @property
    def signer_pem(self) -> str:
        return self.signer.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode("ascii")

    @property
    def merchant_cert_id(self) -> str:
        return str(self.merchant.serial_number)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "possim TEST ONLY"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _certificate(
    subject: str,
    serial: int,
    public_key: rsa.RSAPublicKey,
    issuer: str,
    issuer_key: rsa.RSAPrivateKey,
    *,
    ca: bool,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(_NOT_BEFORE)
        .not_valid_after(_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def test_certificates(
    root_key: rsa.RSAPrivateKey, signer_key: rsa.RSAPrivateKey, merchant_key: rsa.RSAPrivateKey
) -> TestCertificates:
    """The same certificates for the same keys, every time (fixed serials and dates)."""
    root_name = "possim TEST UnionPay root"
    root = _certificate(root_name, 1, root_key.public_key(), root_name, root_key, ca=True)
    return TestCertificates(
        root=root,
        signer=_certificate(
            "possim TEST UnionPay signer", 69_026_276_696, signer_key.public_key(),
            root_name, root_key, ca=False,
        ),
        merchant=_certificate(
            "possim TEST merchant", 69_042_905_377, merchant_key.public_key(),
            root_name, root_key, ca=False,
        ),
    )  # fmt: skip


test_certificates.__test__ = False  # type: ignore[attr-defined]
