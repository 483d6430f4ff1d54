"""``possim channels serve wechat``: a standalone WeChat Pay that wechatpy can pay through."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from wechatpy.pay import WeChatPay

from tests.wechat_helpers import PAYMENT_CODE


def test_serve_prints_where_it_listens_and_its_keys_then_stops_on_sigint(tmp_path: Path) -> None:
    env = {**os.environ, "POSSIM_CACHE_DIR": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "possim", "channels", "serve", "wechat", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("WeChat Pay (v2 and v3) on http://127.0.0.1:"), first
        base_url = first.split(" on ", 1)[1].strip()
        keys_file = tmp_path / "wechat-test-keys" / "keys.json"
        assert second.startswith(f"test keys: {keys_file}")
        keys = json.loads(keys_file.read_text("utf-8"))
        pay = WeChatPay(appid=keys["appid"], api_key=keys["api_key"], mch_id=keys["mch_id"])
        pay.API_BASE_URL = base_url + "/"
        paid = pay.micropay.create("Cola", 100, PAYMENT_CODE, client_ip="127.0.0.1")
        assert paid["result_code"] == "SUCCESS"
    finally:
        process.send_signal(signal.SIGINT)
        _, errors = process.communicate(timeout=60)
    assert process.returncode == 0, errors


def test_every_channel_listens_where_host_says_after_a_warning(tmp_path: Path) -> None:
    # --host is the user telling possim to leave loopback: each channel warns and serves
    # there (Alipay and UnionPay once refused after printing the warning).
    env = {**os.environ, "POSSIM_CACHE_DIR": str(tmp_path)}
    for channel in ("wechat", "alipay", "unionpay"):
        process = subprocess.Popen(
            [sys.executable, "-m", "possim", "channels", "serve", channel, "--port", "0",
             "--host", "0.0.0.0", "--key-dir", str(tmp_path / "keys")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            first = process.stdout.readline()
            assert "0.0.0.0:" in first, (channel, first)
        finally:
            process.send_signal(signal.SIGINT)
            _, errors = process.communicate(timeout=60)
        assert process.returncode == 0, (channel, errors)
        assert "not loopback" in errors, (channel, errors)
