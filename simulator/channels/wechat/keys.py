"""The simulator's test credentials: generated at first use, never real ones.

WeChat Pay gives a merchant an APIv2 key (MD5 / HMAC-SHA256 signatures), an
APIv3 key (AEAD_AES_256_GCM for certificates and notifies) and an API
certificate; it signs its own answers with a *platform* key whose public half
the merchant gets either as a platform certificate (``/v3/certificates``) or
as a platform public key with its id (``PUB_KEY_ID_...``). possim generates
all of them with ``cryptography`` into ``<possim cache>/wechat-test-keys/``
(``$POSSIM_CACHE_DIR``, else the platform's user cache folder) the first time
they are needed, and loads them from there afterwards, so an SDK configured
once keeps working. They are test keys: anyone can read them.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import secrets
import tempfile
from pathlib import Path

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from drivers.escpos_cache import cache_dir
from simulator.errors import SimulatorError

KEYS_FOLDER = "wechat-test-keys"
MCH_ID = "1900000109"  # the merchant number WeChat's own examples use
APPID = "wxd678efh567hg6787"


class KeysFileError(SimulatorError):
    """The test keys' file cannot be read."""


@attrs.frozen
class WechatTestKeys:
    mch_id: str
    appid: str
    api_key: str = attrs.field(repr=False)  # APIv2 key, 32 characters
    apiv3_key: str = attrs.field(repr=False)  # APIv3 key, 32 characters
    merchant_private_pem: str = attrs.field(repr=False)
    merchant_certificate_pem: str
    platform_private_pem: str = attrs.field(repr=False)
    platform_certificate_pem: str
    platform_public_pem: str
    folder: Path

    @property
    def merchant_serial(self) -> str:
        """The merchant API certificate's serial number, as Authorization carries it."""
        return _serial(self.merchant_certificate_pem)

    @property
    def platform_serial(self) -> str:
        """The platform certificate's serial number (``Wechatpay-Serial``)."""
        return _serial(self.platform_certificate_pem)

    @property
    def public_key_id(self) -> str:
        """The platform public key's id: ``PUB_KEY_ID_`` and a stable suffix."""
        return f"PUB_KEY_ID_01{self.platform_serial[:30]}"

    def merchant_public_key(self) -> rsa.RSAPublicKey:
        return _private(self.merchant_private_pem).public_key()

    def platform_private_key(self) -> rsa.RSAPrivateKey:
        return _private(self.platform_private_pem)


def load(folder: Path | None = None) -> WechatTestKeys:
    """The test keys in ``folder`` (default: the cache), generated there if missing."""
    folder = folder or cache_dir() / KEYS_FOLDER
    path = folder / "keys.json"
    if not path.exists():
        _write_atomically(path, json.dumps(_generate(), indent=2))
    try:
        data = json.loads(path.read_text("utf-8"))
        return WechatTestKeys(folder=folder, **data)
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as error:
        raise KeysFileError(
            f"{path}: not possim's WeChat test keys ({type(error).__name__}); "
            "delete it and possim generates new ones"
        ) from None


def _generate() -> dict[str, str]:
    merchant_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    platform_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return {
        "mch_id": MCH_ID,
        "appid": APPID,
        "api_key": secrets.token_hex(16),
        "apiv3_key": secrets.token_hex(16),
        "merchant_private_pem": _pem(merchant_key),
        "merchant_certificate_pem": _certificate(merchant_key, f"{MCH_ID} possim test merchant"),
        "platform_private_pem": _pem(platform_key),
        "platform_certificate_pem": _certificate(platform_key, "possim WeChat Pay test platform"),
        "platform_public_pem": platform_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii"),
    }


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _certificate(key: rsa.RSAPrivateKey, common_name: str) -> str:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "possim TEST KEYS - NOT WeChat Pay"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _serial(certificate_pem: str) -> str:
    serial = x509.load_pem_x509_certificate(certificate_pem.encode("ascii")).serial_number
    return f"{serial:X}"


def _private(pem: str) -> rsa.RSAPrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def _write_atomically(path: Path, text: str) -> None:
    """Write a whole file under ``path`` unless one is there: of concurrent first
    uses, the first link wins and every process reads the same keys."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".keys-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)
