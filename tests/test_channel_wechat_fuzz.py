"""Fuzzing possim's WeChat Pay APIs (hypothesis): no 5xx, and a refused request changes nothing.

Requests are signed correctly (so the business code runs on the fuzzed input) or not at all.
A v2 refusal is ``return_code`` FAIL or ``result_code`` FAIL (but USERPAYING, which is
an order waiting for its password); a v3 refusal is any 4xx.
"""

from __future__ import annotations

import itertools
import json
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from wechatpayv3.utils import build_authorization, load_private_key

from drivers.clock import RealClock
from simulator.channels.wechat import v2wire
from simulator.channels.wechat.server import WechatPaySimulator
from tests.wechat_helpers import PAYMENT_CODE, wechat_pay

V2_PATHS = [
    "pay/micropay",
    "pay/orderquery",
    "secapi/pay/reverse",
    "pay/unifiedorder",
    "pay/closeorder",
    "secapi/pay/refund",
    "pay/refundquery",
    "pay/downloadbill",
]
V2_NAMES = [
    "out_trade_no", "total_fee", "auth_code", "body", "attach", "transaction_id", "trade_type",
    "notify_url", "spbill_create_ip", "out_refund_no", "refund_fee", "bill_date", "bill_type",
    "product_id", "sign_type",
]  # fmt: skip
FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_nonces = itertools.count()


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WechatPaySimulator]:
    with wechat_pay(RealClock(), tmp_path_factory.getbasetemp() / "wechat-keys") as simulator:
        yield simulator


def _value() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["", "0", "1", "100", "150000", "-5", "1e3", "NATIVE", "JSAPI",
                         "HMAC-SHA256", "SHA1", "20260115", "2026011", "ALL", "REVOKED",
                         PAYMENT_CODE, "O-1", "O-2", "x" * 40, "http://127.0.0.1:9/n"]),
        st.text(st.characters(exclude_categories=("Cs",)), max_size=40),
    )  # fmt: skip


v2_fields = st.dictionaries(
    st.one_of(st.sampled_from(V2_NAMES), st.from_regex(r"[a-z][a-z_]{0,11}", fullmatch=True)),
    _value(),
    max_size=8,
)


@FUZZ
@given(path=st.sampled_from(V2_PATHS), fields=v2_fields, signed=st.booleans())
def test_v2_never_fails_and_refusals_change_nothing(
    sim: WechatPaySimulator, path: str, fields: dict[str, str], signed: bool
) -> None:
    keys = sim.core.keys
    document = {"appid": keys.appid, "mch_id": keys.mch_id, **fields}
    if signed:
        sign_type = document.get("sign_type", "MD5")
        document = v2wire.signed(document, keys.api_key, sign_type if sign_type in
                                 v2wire.SIGN_TYPES else "MD5")  # fmt: skip
    body = v2wire.render({k: v for k, v in document.items() if v})
    before = sim.core.trades.snapshot()
    answer = requests.post(f"{sim.base_url}/{path}", data=body, timeout=30)
    assert answer.status_code == 200
    if answer.headers["Content-Type"].startswith("text/plain"):
        return  # a bill
    reply = v2wire.parse(answer.content)
    refused = reply["return_code"] == "FAIL" or (
        reply.get("result_code") == "FAIL" and reply.get("err_code") != "USERPAYING"
    )
    if refused:
        assert sim.core.trades.snapshot() == before, reply
    else:
        assert v2wire.sign_is_valid(reply, keys.api_key)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=20),
              st.sampled_from([PAYMENT_CODE, "O-1", "O-2", "http://x/n", 100, "\ud800x"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)  # fmt: skip
V3_NAMES = ["appid", "mchid", "description", "out_trade_no", "amount", "payer", "notify_url",
            "out_refund_no", "transaction_id", "scene_info"]  # fmt: skip
v3_documents = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "description": json_values,
            "out_trade_no": st.one_of(st.sampled_from(["O-1", "O-2", "O 3", ""]), json_values),
            "amount": st.one_of(
                st.fixed_dictionaries({"total": st.integers(-5, 2**40)},
                                      optional={"refund": st.integers(-5, 300)}),
                json_values,
            ),
            "payer": st.one_of(st.just({"auth_code": PAYMENT_CODE}), json_values),
            "notify_url": json_values,
            "out_refund_no": json_values,
            "transaction_id": json_values,
        },
    ),
    st.dictionaries(st.sampled_from(V3_NAMES), json_values, max_size=5),
    json_values,
)  # fmt: skip
V3_POSTS = ["/v3/pay/transactions/codepay", "/v3/pay/transactions/native",
            "/v3/refund/domestic/refunds", "/v3/pay/transactions/out-trade-no/{no}/reverse",
            "/v3/pay/transactions/out-trade-no/{no}/close"]  # fmt: skip
V3_GETS = ["/v3/pay/transactions/out-trade-no/{no}?mchid={mchid}",
           "/v3/pay/transactions/id/{no}?mchid={mchid}", "/v3/refund/domestic/refunds/{no}",
           "/v3/bill/tradebill?bill_date={no}", "/v3/billdownload/file?token={no}"]  # fmt: skip


def _signed(sim: WechatPaySimulator, method: str, path: str, body: str) -> dict[str, str]:
    keys = sim.core.keys
    merchant_key = load_private_key(keys.merchant_private_pem)
    authorization = build_authorization(
        path, method, keys.mch_id, keys.merchant_serial, merchant_key,
        data=body or None, nonce_str=f"FUZZ{next(_nonces)}{time.monotonic_ns()}",
    )  # fmt: skip
    return {"Authorization": authorization, "Content-Type": "application/json"}


@FUZZ
@given(
    template=st.sampled_from(V3_POSTS + V3_GETS),
    number=st.one_of(st.sampled_from(["O-1", "O-2", "2026-01-15"]), st.text(max_size=12)),
    document=v3_documents,
    with_ids=st.booleans(),
)
def test_v3_never_fails_and_refusals_change_nothing(
    sim: WechatPaySimulator, template: str, number: str, document: Any, with_ids: bool
) -> None:
    keys = sim.core.keys
    if with_ids and isinstance(document, dict):
        document = {"appid": keys.appid, "mchid": keys.mch_id, **document}
    quoted = urllib.parse.quote(number, safe="") or "x"
    path = template.format(no=quoted, mchid=keys.mch_id)
    method = "POST" if template in V3_POSTS else "GET"
    body = json.dumps(document) if method == "POST" else ""
    before = sim.core.trades.snapshot()
    answer = requests.request(method, sim.base_url + path, data=body.encode(), timeout=30,
                              headers=_signed(sim, method, path, body))  # fmt: skip
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert sim.core.trades.snapshot() == before, answer.text
