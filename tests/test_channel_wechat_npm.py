"""wechatpay-axios-plugin (npm, unmodified) against possim's WeChat Pay: v2 and v3, signatures
checked by the SDK (v2 ``sign`` MD5 and HMAC-SHA256; v3 ``Wechatpay-Signature`` and a
``Wechatpay-Timestamp`` within its 5 minutes of the local clock).

tests/clients/npm-wechat/package.json pins it (test-only; ``npm ci`` there, as ``make`` does).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from drivers.clock import RealClock
from simulator.channels.wechat.server import WechatPaySimulator
from tests.wechat_helpers import PAYMENT_CODE, wechat_pay

NPM = Path(__file__).parent / "clients" / "npm-wechat"
pytestmark = [
    pytest.mark.system_package("node"),
    pytest.mark.system_package(
        "the npm WeChat Pay client (npm ci in tests/clients/npm-wechat)",
        path="tests/clients/npm-wechat/node_modules/.package-lock.json",
    ),
]


@pytest.fixture
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WechatPaySimulator]:
    with wechat_pay(RealClock(), tmp_path_factory.getbasetemp() / "wechat-keys") as simulator:
        yield simulator


def test_wechatpay_axios_plugin_pays_queries_refunds_and_closes(sim: WechatPaySimulator) -> None:
    keys = sim.core.keys
    request = {
        "base_url": sim.base_url,
        "code": PAYMENT_CODE,
        "keys": {
            **{k: v for k, v in attrs.asdict(keys).items() if isinstance(v, str)},
            "merchant_serial": keys.merchant_serial,
            "public_key_id": keys.public_key_id,
        },
    }
    done = subprocess.run(
        [shutil.which("node") or "node", str(NPM / "wechat.mjs")],
        input=json.dumps(request), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert results["v2_micropay"]["status"] == 200, results["v2_micropay"]
    assert results["v2_micropay"]["data"]["result_code"] == "SUCCESS"
    assert results["v2_orderquery_hmac"]["data"]["trade_state"] == "SUCCESS"
    assert len(results["v2_orderquery_hmac"]["data"]["sign"]) == 64  # HMAC-SHA256
    assert results["v3_codepay"]["data"]["trade_state"] == "SUCCESS", results["v3_codepay"]
    assert results["v3_query"]["data"]["amount"]["total"] == 300
    assert results["v3_refund"]["data"]["status"] == "SUCCESS"
    # 关闭订单 of a paid order: refused, and the refusal is signed too.
    assert results["v3_close"]["status"] == 403, results["v3_close"]
    assert results["v3_close"]["data"]["code"] == "ORDERPAID"
