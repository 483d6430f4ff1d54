"""Dynamic QR paid by a simulated customer, signed notifies and their retries
on the virtual clock."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest
from qr_helpers import Receiver, running_gateway

from simulator.clock import VirtualClock
from simulator.gateway.qr.channels import QrChannels
from simulator.gateway.qr.notify import NotifyFailed, NotifySent
from simulator.wire import emvco

WECHAT_SCHEDULE = [15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800,
                   21600, 21600]  # fmt: skip
DELAY = QrChannels.load().notify_delay_seconds  # before the first attempt
QUIET = 100_000.0  # virtual seconds to wait to see that nothing more happens


def test_the_wechat_schedule_is_the_documented_one() -> None:
    assert list(QrChannels.load()["wechat"].notify_retry_seconds) == WECHAT_SCHEDULE
    assert sum(WECHAT_SCHEDULE) >= 24 * 3600


@pytest.mark.parametrize(
    ("channel", "issuance", "tag"),
    [
        ("wechat", None, "29"),
        ("alipay", None, "30"),
        ("unionpay_qr", "central", "15"),
        ("unionpay_qr", "member", "26"),
        ("unionpay_qr", None, "15"),
    ],
)
def test_precreate_payload_parses_is_paid_and_notified(
    tmp_path: Path, channel: str, issuance: str | None, tag: str
) -> None:
    clock = VirtualClock()
    receiver = Receiver(clock)
    extra = {} if issuance is None else {"issuance": issuance}
    try:
        with running_gateway(tmp_path, clock) as (gateway, client), clock.actor():
            status, answer = client.precreate("Q1", 2345, channel, receiver.url, **extra)
            assert (status, answer["result"], answer["trade_state"]) == (200, "SUCCESS", "NOTPAY")
            qr = emvco.parse(answer["qr_payload"])  # raises unless the CRC verifies
            assert qr.dynamic and qr.amount_fen == 2345 and qr.bill_number == "Q1"
            assert tag in qr.merchant_accounts()
            assert client.precreate("Q1", 2345, channel, receiver.url, **extra)[1] == answer
            other = "alipay" if channel != "alipay" else "wechat"
            paid = client.sim("customer/pay_qr", qr_payload=answer["qr_payload"], wallet=other)
            assert paid[1]["error_code"] == "WALLET_MISMATCH"
            status, paid = client.sim(
                "customer/pay_qr", qr_payload=answer["qr_payload"], wallet=channel
            )
            assert (status, paid["result"], paid["trade_state"]) == (200, "SUCCESS", "SUCCESS")
            assert client.query("Q1")[1]["trade_state"] == "SUCCESS"
            assert clock.wait_until(lambda: receiver.count() == 1, 60)
            clock.sleep(QUIET)
            ((_, body, signed),) = receiver.received
            assert signed
            assert body["event"] == "TRANSACTION.SUCCESS"
            assert (body["out_trade_no"], body["amount_fen"], body["channel"]) == (
                "Q1",
                2345,
                channel,
            )
            assert body["transaction_id"] == paid["transaction_id"]
            # paying again is refused; the order holds one charge
            again = client.sim("customer/pay_qr", qr_payload=answer["qr_payload"], wallet=channel)
            assert again[1]["error_code"] == "ORDER_PAID"
            (order,) = gateway.qr.orders()
            assert order.charged_fen == 2345 and order.notify_attempts == 1
            assert order.notified_at is not None
    finally:
        receiver.close()


def test_notify_retries_follow_the_schedule_on_virtual_time(tmp_path: Path) -> None:
    clock = VirtualClock()
    receiver = Receiver(clock, answers=lambda n: 500)
    started = time.perf_counter()
    try:
        with running_gateway(tmp_path, clock) as (gateway, client), clock.actor():
            client.micropay("N1", 100, "134567890123456789", notify_url=receiver.url)
            t0 = clock.monotonic()
            assert clock.wait_until(lambda: receiver.count() == 16, 2 * 24 * 3600)
            clock.sleep(QUIET)
            bus = gateway.server._bus
            sent, failed = bus.of(NotifySent), bus.of(NotifyFailed)
    finally:
        receiver.close()
    real = time.perf_counter() - started
    expected = [t0 + offset for offset in itertools.accumulate([DELAY, *WECHAT_SCHEDULE])]
    assert [at for at, _, _ in receiver.received] == expected
    assert [e.at for e in sent] == [e.at for e in failed] == expected
    assert expected[-1] - t0 >= 24 * 3600
    assert failed[-1].summary.endswith("gave up")
    assert [e.payload.attempt for e in sent] == list(range(1, 17))
    assert [e.payload.retry_in for e in failed] == [*WECHAT_SCHEDULE, None]
    assert real < 1.0, f"24 h of retries took {real:.2f} s of real time"


def test_a_receiver_answering_500_then_200_gets_exactly_one_retry(tmp_path: Path) -> None:
    clock = VirtualClock()
    receiver = Receiver(clock, answers=lambda n: 500 if n == 1 else 200)
    try:
        with running_gateway(tmp_path, clock) as (gateway, client), clock.actor():
            client.micropay("N2", 100, "134567890123456789", notify_url=receiver.url)
            t0 = clock.monotonic()
            assert clock.wait_until(lambda: receiver.count() == 2, 3600)
            clock.sleep(QUIET)
            (order,) = gateway.qr.orders()
    finally:
        receiver.close()
    assert [at - t0 for at, _, _ in receiver.received] == [DELAY, DELAY + 15]
    assert order.notify_attempts == 2


def test_replay_sends_the_same_notify_once_more(tmp_path: Path) -> None:
    clock = VirtualClock()
    receiver = Receiver(clock)
    try:
        with running_gateway(tmp_path, clock) as (_gateway, client), clock.actor():
            client.micropay("N3", 100, "2834567890123456", notify_url=receiver.url)
            assert clock.wait_until(lambda: receiver.count() == 1, 60)
            status, answer = client.sim("notify/replay", out_trade_no="N3")
            assert (status, answer["result"]) == (200, "SUCCESS")
            assert clock.wait_until(lambda: receiver.count() == 2, 60)
            clock.sleep(QUIET)
            first, second = (body for _, body, _ in receiver.received)
            assert first == second  # the same notify, notify_id included
            assert client.sim("notify/replay", out_trade_no="NOPE")[0] == 404
    finally:
        receiver.close()
    assert receiver.count() == 2
