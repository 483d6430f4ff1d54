"""npm ``alipay-sdk`` (Alipay's Node SDK), unmodified, against the simulated Alipay: its
``gateway`` option pointed at possim, answers verified (``validateSign``) with the
simulator's public key, notifications checked with ``checkNotifySignV2``."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from simulator.channels.alipay.channel import TEST_APP_ID, TEST_APP_KEY
from simulator.channels.alipay.faults import AlipayFault
from simulator.channels.alipay.server import AlipayServer
from simulator.channels.keys import test_key
from simulator.clock import VirtualClock
from tests.alipay_helpers import AUTH_CODE, Merchant, alipay_server, sdk_for
from tests.npm_clients import NPM

pytestmark = [
    pytest.mark.system_package("node"),
    pytest.mark.system_package(
        "npm alipay-sdk (npm ci in tests/clients/npm)",
        path="tests/clients/npm/node_modules/alipay-sdk/package.json",
    ),
]


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("alipay-npm-keys")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def server(clock: VirtualClock, key_dir: Path) -> Iterator[AlipayServer]:
    with alipay_server(clock, key_dir) as running:
        yield running


def run_sdk(
    server: AlipayServer,
    key_dir: Path,
    calls: list[dict[str, Any]],
    notifies: list[dict[str, str]] | None = None,
    *,
    app_key: str = TEST_APP_KEY,
) -> dict[str, Any]:
    public = server.channel.signing_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    config = {
        "appId": TEST_APP_ID,
        "privateKey": test_key(app_key, key_dir).private_pem_pkcs1(),
        "alipayPublicKey": public.decode("ascii"),
        "gateway": server.gateway_url,
        "timeout": 30000,
    }
    done = subprocess.run(
        [shutil.which("node") or "node", str(NPM / "alipay.mjs")],
        input=json.dumps({"config": config, "calls": calls, "notifies": notifies or []}),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _pay(out_trade_no: str, **extra: str) -> dict[str, Any]:
    biz = {"out_trade_no": out_trade_no, "scene": "bar_code", "auth_code": AUTH_CODE,
           "subject": "possim npm", "total_amount": "12.34", **extra}  # fmt: skip
    return {"method": "alipay.trade.pay", "bizContent": biz}


def test_pay_precreate_query_refund_verified(server: AlipayServer, key_dir: Path) -> None:
    calls = [
        _pay("NPM1"),
        {"method": "alipay.trade.precreate",
         "bizContent": {"out_trade_no": "NPM2", "total_amount": "3.00", "subject": "s"}},
        {"method": "alipay.trade.query", "bizContent": {"out_trade_no": "NPM1"}},
        {"method": "alipay.trade.refund",
         "bizContent": {"out_trade_no": "NPM1", "refund_amount": "2.00", "out_request_no": "r"}},
    ]  # fmt: skip
    results = run_sdk(server, key_dir, calls)["results"]
    pay, precreate, query, refund = (r["ok"] for r in results)
    # camelcase is the SDK's default: it turns Alipay's keys into camelCase.
    assert pay["code"] == "10000" and pay["outTradeNo"] == "NPM1"
    assert precreate["qrCode"].startswith("https://qr.alipay.com/")
    assert query["tradeStatus"] == "TRADE_SUCCESS"
    assert (refund["fundChange"], refund["refundFee"]) == ("Y", "2.00")


def test_the_sdk_refuses_a_badly_signed_answer(server: AlipayServer, key_dir: Path) -> None:
    server.channel.faults.arm(AlipayFault("bad_signature"))
    (result,) = run_sdk(server, key_dir, [_pay("NPM3")])["results"]
    assert "验签失败" in result["error"]


def test_a_wrongly_signed_request_is_refused(server: AlipayServer, key_dir: Path) -> None:
    (result,) = run_sdk(server, key_dir, [_pay("NPM4")], app_key="alipay-impostor")["results"]
    assert (result["ok"]["code"], result["ok"]["subCode"]) == ("40002", "isv.invalid-signature")
    assert len(server.channel.book) == 0


def test_notifies_checked_by_the_sdk(
    server: AlipayServer, key_dir: Path, clock: VirtualClock
) -> None:
    server.channel.faults.arm(AlipayFault("notify_forged"))
    with Merchant(clock) as merchant:
        sdk_for(server, key_dir).api_alipay_trade_pay(
            "NPM5", "bar_code", AUTH_CODE, "s", total_amount="1.00", notify_url=merchant.url
        )
        assert clock.wait_until(lambda: merchant.count() >= 2, 60)
        forms = [dict(form) for form in merchant.received]
    tampered = dict(forms[0], total_amount="0.01")
    verdicts = run_sdk(server, key_dir, [], [forms[0], forms[1], tampered])["verdicts"]
    assert verdicts == [True, False, False]
