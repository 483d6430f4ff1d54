"""Fuzzing the QR API from its own OpenAPI description (schemathesis):
never a 5xx, and a rejected request (4xx) never changes the ledger.

Half the generated requests are made to look legitimate (the test merchant's
id, a valid signature) so the fuzzing reaches past the signature check.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from qr_helpers import KEY, MID, running_gateway

from drivers.clock import RealClock
from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.qr.http import openapi_path
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign

NOWHERE = "http://127.0.0.1:9/notify"  # the discard port: connection refused
schema = schemathesis.openapi.from_path(openapi_path())


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltinGateway]:
    with running_gateway(tmp_path_factory.mktemp("qr-fuzz"), RealClock()) as (running, client):
        # something to refund, reverse and query
        client.micropay("PAID1", 1000, "134567890123456789")
        yield running


def _send(base_url: str, case: Any) -> tuple[int, bytes]:
    body = case.body if isinstance(case.body, (dict, list, str, int, float, bool)) else None
    legitimate = zlib.crc32(repr((case.path, body, case.query)).encode()) % 2 == 0
    if legitimate and isinstance(body, dict) and "merchant_id" in body:
        body = {**body, "merchant_id": MID}
    if isinstance(body, dict) and isinstance(body.get("notify_url"), str):
        body = {**body, "notify_url": NOWHERE}  # never notify hosts made up by the fuzzer
    query = dict(case.query or {})
    if legitimate and "merchant_id" in query:
        query["merchant_id"] = MID
    path = case.path
    for name, value in (case.path_parameters or {}).items():
        path = path.replace("{" + name + "}", quote(str(value), safe=""))
    raw_query = urlencode(query, doseq=True)
    url = base_url + path + (f"?{raw_query}" if raw_query else "")
    data = None if case.method.upper() == "GET" else json.dumps(body).encode("utf-8")
    signed = (data if data is not None else raw_query.encode()) if legitimate else b"x"
    headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(KEY, signed)}
    request = urllib.request.Request(url, data=data, method=case.method.upper(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_no_5xx_and_rejections_change_nothing(case: Any, gateway: BuiltinGateway) -> None:
    before = gateway.qr.snapshot()
    status, raw = _send(gateway.qr_base_url, case)
    assert status < 500, raw
    if case.path == "/openapi.yaml":
        return
    assert raw.startswith(b"{"), (status, raw, case.path)
    answer = json.loads(raw)
    if status >= 400 or answer.get("error_code") == "AUTH_CODE_INVALID":
        assert gateway.qr.snapshot() == before, (status, answer)
