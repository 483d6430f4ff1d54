"""The simulated UnionPay QR (ACP style) against a merchant client built on UnionPay's
published rules, as its ACP SDKs implement them (``SDKUtil.buildSignature`` / ``verify``:
sorted fields, SHA-256 hex, SHA256withRSA; ``signPubKeyCert`` checked against the root)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.channels.keys import test_key
from simulator.channels.unionpay import acp
from simulator.channels.unionpay.channel import TEST_MER_ID, UnionPayChannel, UnionPayFault
from simulator.channels.unionpay.server import BACK_TRANS, FILE_TRANS, QUERY_TRANS, UnionPayServer
from simulator.clock import VirtualClock
from simulator.wire import emvco
from tests.alipay_helpers import Merchant

QR_NO = "6225880212345678901"  # 62 + 17 digits: a UnionPay payment code


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unionpay-keys")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def server(clock: VirtualClock, key_dir: Path) -> Iterator[UnionPayServer]:
    running = UnionPayServer(UnionPayChannel.with_test_keys(clock, key_dir=key_dir))
    running.start()
    yield running
    running.stop()


class AcpClient:
    """A merchant's ACP client: signs with its key, checks answers like the SDK."""

    def __init__(self, server: UnionPayServer, key_dir: Path, key_name: str) -> None:
        self.base = server.base_url
        self.key = test_key(key_name, key_dir).private_key
        self.cert_id = server.channel.certificates.merchant_cert_id
        root_pem = _get(self.base + "/possim/unionpay/root-cert")
        self.root = x509.load_pem_x509_certificate(root_pem.encode())

    def request(self, path: str, **fields: str) -> dict[str, str]:
        params = {
            "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "bizType": "000000",
            "accessType": "0", "channelType": "08", "merId": TEST_MER_ID,
            "currencyCode": "156", "certId": self.cert_id, **fields,
        }  # fmt: skip
        params["signature"] = acp.sign(self.key, params)
        body = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(self.base + path, data=body, timeout=30) as answer:
            return acp.parse_answer(answer.read().decode("utf-8"))

    def verified(self, fields: dict[str, str]) -> bool:
        """SDKUtil.verify for 5.1.0: the certificate chains to the root, then the signature."""
        fields = dict(fields)
        signature = fields.pop("signature")
        cert = x509.load_pem_x509_certificate(fields["signPubKeyCert"].encode())
        root_key = self.root.public_key()
        assert isinstance(root_key, rsa.RSAPublicKey)
        try:
            root_key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            return False
        key = cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return acp.verify(key, fields, signature)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return bytes(answer.read()).decode("utf-8")


@pytest.fixture
def client(server: UnionPayServer, key_dir: Path) -> AcpClient:
    return AcpClient(server, key_dir, "unionpay-test-merchant")


def _consume(client: AcpClient, order_id: str, amount: str = "1234", **extra: str) -> Any:
    return client.request(
        BACK_TRANS, txnType="01", txnSubType="06", orderId=order_id,
        txnTime="20260115103000", txnAmt=amount, qrNo=QR_NO, **extra,
    )  # fmt: skip


def _query(client: AcpClient, order_id: str) -> dict[str, str]:
    return client.request(
        QUERY_TRANS, txnType="00", txnSubType="00", orderId=order_id, txnTime="20260115103000"
    )


def test_c2b_consume_query_and_a_verified_notify(
    client: AcpClient, server: UnionPayServer, clock: VirtualClock
) -> None:
    with Merchant(clock, reply="ok") as merchant:
        answer = _consume(client, "ORDER0001", backUrl=merchant.url)
        assert (answer["respCode"], answer["txnAmt"]) == ("00", "1234")
        assert client.verified(answer)
        queried = _query(client, "ORDER0001")
        assert (queried["respCode"], queried["origRespCode"]) == ("00", "00")
        assert queried["queryId"] == answer["queryId"]
        assert clock.wait_until(lambda: merchant.count() >= 1, 60)
        notice = merchant.received[0]
    assert client.verified(notice) and notice["respCode"] == "00"
    assert not client.verified(dict(notice, txnAmt="1"))  # tampered: refused


def test_password_payment_is_accepted_then_queried_to_success(
    client: AcpClient, clock: VirtualClock
) -> None:
    with clock.actor():
        answer = _consume(client, "ORDER0002", amount="200000")  # 2000.00: above password-free
        assert answer["respCode"] == "05" and client.verified(answer)
        assert _query(client, "ORDER0002")["origRespCode"] == "05"
        clock.advance(10)
        assert _query(client, "ORDER0002")["origRespCode"] == "00"


@pytest.mark.parametrize(("issuance", "tag"), [("central", "15"), ("member", "26")])
def test_b2c_order_in_both_issuance_modes(
    client: AcpClient, server: UnionPayServer, issuance: str, tag: str
) -> None:
    reserved = {"member": "{qrIssuance=member}", "central": ""}[issuance]
    extra = {"reserved": reserved} if reserved else {}
    answer = client.request(
        BACK_TRANS, txnType="01", txnSubType="07", orderId=f"B2C{issuance}01",
        txnTime="20260115103000", txnAmt="800", **extra,
    )  # fmt: skip
    assert answer["respCode"] == "00" and client.verified(answer)
    payload = emvco.parse(answer["qrCode"])
    assert payload.amount_fen == 800 and tag in payload.merchant_accounts()
    assert _query(client, f"B2C{issuance}01")["origRespCode"] == "05"
    scan = urllib.request.Request(
        server.base_url + "/possim/unionpay/scan",
        data=json.dumps({"qr_code": answer["qrCode"]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(scan, timeout=30).close()
    assert _query(client, f"B2C{issuance}01")["origRespCode"] == "00"


def test_refund_void_and_their_limits(client: AcpClient) -> None:
    paid = _consume(client, "ORDER0003", amount="1000")
    refund = client.request(
        BACK_TRANS, txnType="04", txnSubType="00", orderId="REFUND0001",
        txnTime="20260115103001", txnAmt="400", origQryId=paid["queryId"],
    )  # fmt: skip
    assert refund["respCode"] == "00" and refund["origQryId"] == paid["queryId"]
    too_much = client.request(
        BACK_TRANS, txnType="04", txnSubType="00", orderId="REFUND0002",
        txnTime="20260115103002", txnAmt="601", origQryId=paid["queryId"],
    )  # fmt: skip
    assert too_much["respCode"] == "36"
    void = client.request(
        BACK_TRANS, txnType="31", txnSubType="00", orderId="VOID00001",
        txnTime="20260115103003", txnAmt="1000", origQryId=paid["queryId"],
    )  # fmt: skip
    assert void["respCode"] == "36"  # a void is for the whole, untouched amount
    other = _consume(client, "ORDER0004", amount="500")
    voided = client.request(
        BACK_TRANS, txnType="31", txnSubType="00", orderId="VOID00002",
        txnTime="20260115103004", txnAmt="500", origQryId=other["queryId"],
    )  # fmt: skip
    assert voided["respCode"] == "00"


def test_bad_signature_and_replay_are_refused(
    client: AcpClient, server: UnionPayServer, key_dir: Path
) -> None:
    impostor = AcpClient(server, key_dir, "alipay-impostor")
    refused = _consume(impostor, "ORDER0005")
    assert refused["respCode"] == "11" and client.verified(refused)
    assert len(server.channel.book) == 0
    assert _consume(client, "ORDER0005")["respCode"] == "00"
    assert _consume(client, "ORDER0005")["respCode"] == "12"  # 重复交易: paid once
    assert len(server.channel.book) == 1


def test_faults_system_error_forged_notify_and_bad_answer_signature(
    client: AcpClient, server: UnionPayServer, clock: VirtualClock
) -> None:
    server.channel.faults.arm(UnionPayFault("system_error"))
    unknown = _consume(client, "ORDER0006")
    assert unknown["respCode"] == "03"  # 交易通讯超时，请发起查询交易
    assert _query(client, "ORDER0006")["origRespCode"] == "00"
    server.channel.faults.arm(UnionPayFault("bad_signature", method="unionpay.query"))
    assert not client.verified(_query(client, "ORDER0006"))
    server.channel.faults.arm(UnionPayFault("notify_forged"))
    with Merchant(clock, reply="ok") as merchant:
        _consume(client, "ORDER0007", backUrl=merchant.url)
        assert clock.wait_until(lambda: merchant.count() >= 2, 60)
        verdicts = sorted((n["txnAmt"], client.verified(n)) for n in merchant.received)
    assert verdicts == [("1234", True), ("123400", False)]


def test_settlement_file_the_next_day(client: AcpClient, clock: VirtualClock) -> None:
    """文件传输 (txnType 76): fileContent is base64 of zlib-compressed bytes -- a zip -- as
    the ACP SDKs' deCodeFileContent reads it; the day's file exists from the next day."""
    import base64
    import io
    import zipfile
    import zlib

    paid = _consume(client, "ORDER0008", amount="1500")
    file_request = {"txnType": "76", "txnSubType": "01", "settleDate": "0115",
                    "txnTime": "20260115103000", "fileType": "00"}  # fmt: skip
    assert client.request(FILE_TRANS, **file_request)["respCode"] == "34"
    clock.advance(86_400)
    answer = client.request(FILE_TRANS, **file_request)
    assert answer["respCode"] == "00" and client.verified(answer)
    archive = zipfile.ZipFile(io.BytesIO(zlib.decompress(base64.b64decode(answer["fileContent"]))))
    (name,) = archive.namelist()
    assert name == f"INN26011588ZM_{TEST_MER_ID}" and answer["fileName"] == name + ".zip"
    lines = archive.read(name).decode().splitlines()
    assert f"{paid['queryId']}|ORDER0008|01|06|20260115103000|1500|1500|" in lines


def test_answers_parse_like_the_sdk_with_braces() -> None:
    assert acp.parse_answer("a=1&b={x=1&y=2}&c=") == {"a": "1", "b": "{x=1&y=2}", "c": ""}


_VALID = {
    "txnType": st.sampled_from(["01", "00", "04", "31", "76", "99"]),
    "txnSubType": st.sampled_from(["06", "07", "00", "01"]),
    "settleDate": st.sampled_from(["0114", "0115", "x"]),
    "orderId": st.sampled_from(["FUZZ0001", "FUZZ0002", "x"]),
    "txnTime": st.sampled_from(["20260115103000", "2026"]),
    "txnAmt": st.sampled_from(["100", "200000", "0", "-1"]),
    "qrNo": st.sampled_from([QR_NO, "123"]),
    "origQryId": st.text(max_size=22),
    "currencyCode": st.sampled_from(["156", "840"]),
    "reserved": st.sampled_from(["{qrIssuance=member}", "{"]),
    "reqReserved": st.text(max_size=20),
    "version": st.sampled_from(["5.1.0", "5.0.0"]),
    "signMethod": st.sampled_from(["01", "11"]),
}
_fields = st.fixed_dictionaries(
    {}, optional={k: st.one_of(v, st.text(max_size=30)) for k, v in _VALID.items()}
)
_plausible = st.fixed_dictionaries(
    {
        "txnType": st.just("01"),
        "txnSubType": st.sampled_from(["06", "07"]),
        "orderId": st.from_regex(r"FUZZ[0-9]{4}", fullmatch=True),
        "txnTime": st.just("20260115103000"),
        "txnAmt": st.sampled_from(["100", "200000"]),
        "qrNo": st.just(QR_NO),
    }
)
_SEEN: set[str] = set()


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    plausible=st.sampled_from(["signed", "unsigned", "no"]),
    good_fields=_plausible,
    fields=_fields,
    signed=st.booleans(),
    path=st.sampled_from([BACK_TRANS, QUERY_TRANS, FILE_TRANS]),
)
def _fuzz_every_request_is_answered_and_refusals_change_nothing(
    key_dir: Path,
    plausible: str,
    good_fields: dict[str, str],
    fields: dict[str, str],
    signed: bool,
    path: str,
) -> None:
    if plausible != "no":  # well-formed consumes, signed or not, to reach each check
        fields, signed, path = good_fields, plausible == "signed", BACK_TRANS
    channel = _FUZZ.get("channel")
    if channel is None:
        channel = _FUZZ["channel"] = UnionPayChannel.with_test_keys(VirtualClock(), key_dir=key_dir)
    params = {"version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "merId": TEST_MER_ID,
              "certId": channel.certificates.merchant_cert_id, **fields}  # fmt: skip
    key = test_key("unionpay-test-merchant", key_dir).private_key
    params["signature"] = acp.sign(key, params) if signed else "bm9wZQ=="
    before = channel.book.snapshot()
    text, _ = channel.handle(path, params)
    answer = acp.parse_answer(text)
    assert answer["respCode"] and answer["signature"]
    if answer["respCode"] not in ("00", "05"):
        assert channel.book.snapshot() == before
    _SEEN.add(answer["respCode"])


def test_fuzz_every_request_is_answered_and_refusals_change_nothing(key_dir: Path) -> None:
    """The fuzzing, then proof that it reached the transactions and each refusal."""
    _SEEN.clear()
    _fuzz_every_request_is_answered_and_refusals_change_nothing(key_dir=key_dir)
    assert {"00", "11", "13"} <= _SEEN, _SEEN


_FUZZ: dict[str, UnionPayChannel] = {}


def test_channels_serve_unionpay_then_ctrl_c(tmp_path: Path) -> None:
    """What the command prints is all a merchant client needs; SIGINT stops it with 0."""
    from cryptography.hazmat.primitives import serialization

    from tests.process_helpers import possim, start_like_a_background_job

    command = start_like_a_background_job(
        possim("channels", "serve", "unionpay", "--port", "0", "--key-dir", str(tmp_path))
    )
    try:
        url = command.wait_for(r"simulated UnionPay QR: (\S+)").group(1)
        found = command.wait_for(r"test merId (\d+), certId (\d+); its private key (\S+);")
        key = serialization.load_pem_private_key(Path(found.group(3)).read_bytes(), None)
        assert isinstance(key, rsa.RSAPrivateKey)
        params = {
            "version": "5.1.0", "encoding": "UTF-8", "signMethod": "01", "txnType": "01",
            "txnSubType": "06", "bizType": "000000", "accessType": "0", "channelType": "08",
            "merId": found.group(1), "certId": found.group(2), "orderId": "CLI00001",
            "txnTime": "20260115103000", "txnAmt": "100", "currencyCode": "156", "qrNo": QR_NO,
        }  # fmt: skip
        params["signature"] = acp.sign(key, params)
        body = urllib.parse.urlencode(params).encode()
        with urllib.request.urlopen(url, data=body, timeout=30) as answer:
            assert acp.parse_answer(answer.read().decode())["respCode"] == "00"
        command.interrupt()
    finally:
        command.stop()
    assert command.process.returncode == 0, command.output


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(body=st.binary(max_size=2048), path=st.sampled_from([BACK_TRANS, QUERY_TRANS, FILE_TRANS]))
def test_raw_http_bytes_never_get_a_5xx(key_dir: Path, body: bytes, path: str) -> None:
    server = _FUZZ_SERVER.get("server")
    if server is None:
        server = UnionPayServer(UnionPayChannel.with_test_keys(VirtualClock(), key_dir=key_dir))
        server.start()
        _FUZZ_SERVER["server"] = server
    before = server.channel.book.snapshot()
    request = urllib.request.Request(server.base_url + path, data=body)
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            status, text = answer.status, answer.read()
    except urllib.error.HTTPError as refused:
        status, text = refused.code, refused.read()
    assert status < 500, text
    if status == 200:
        assert acp.parse_answer(text.decode("utf-8"))["respCode"] not in ("00", "05")
    assert server.channel.book.snapshot() == before


_FUZZ_SERVER: dict[str, UnionPayServer] = {}


@pytest.fixture(scope="module", autouse=True)
def _stop_fuzz_server() -> Iterator[None]:
    yield
    server = _FUZZ_SERVER.pop("server", None)
    if server is not None:
        server.stop()
