"""The simulated Alipay: apps and keys, the trade book, faults, notifications, time.

:class:`AlipayChannel` is transport-free: :meth:`AlipayChannel.handle` takes the
parameters of one ``gateway.do`` request and returns the answer's bytes (see
:mod:`simulator.channels.alipay.openapi`); :mod:`simulator.channels.alipay.server`
puts it on HTTP. Everything it decides is under one lock, so requests from
several threads see one consistent book.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import attrs
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.clock import Clock
from simulator.channels.alipay import signing
from simulator.channels.alipay.trades import (
    DEFAULT_MAX_TRADES,
    Refund,
    Trade,
    TradeBook,
    TradeStatus,
    buyer_of,
)
from simulator.channels.errors import ChannelError
from simulator.channels.events import ChannelCall, ChannelNotify
from simulator.channels.faults import Faults
from simulator.channels.keys import test_key
from simulator.channels.notify import RETRY_SECONDS, Attempt, Delivery, Notifier
from simulator.clock import CHINA_STANDARD_TIME
from simulator.events import EventBus
from simulator.wire.money import format_yuan

TEST_APP_ID = "2021000000000001"  # the test app possim knows out of the box
TEST_SELLER_ID = "2088000000000001"
SIMULATOR_KEY = "alipay-simulator"
TEST_APP_KEY = "alipay-test-app"
FORGER_KEY = "alipay-forger"  # signs forged notifications: not the simulator's key
BILL_URL_SECONDS = 30.0  # "bill_download_url 有效时间为30秒"
MAX_CANCELLED_UNKNOWN = 10_000
MAX_PROBLEMS = 100


@attrs.frozen
class AlipayConfig:
    seller_id: str = TEST_SELLER_ID
    # Above this a bar-code payment waits for the buyer's password (code 10003).
    password_free_limit_fen: int = 100_000
    buyer_confirm_seconds: float = 10.0
    notify_retry_seconds: tuple[float, ...] = RETRY_SECONDS
    max_trades: int = DEFAULT_MAX_TRADES
    # Notifications go to loopback URLs only unless this is set.
    allow_remote_notify: bool = False


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """A public key as PEM or as the bare base64 body the Alipay console shows."""
    text = pem.strip()
    if "-----BEGIN" not in text:
        text = f"-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----\n"
    try:
        key = serialization.load_pem_public_key(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise ChannelError(f"not an RSA public key in PEM or base64: {exc}") from exc
    if not isinstance(key, rsa.RSAPublicKey):
        raise ChannelError("the app key must be an RSA public key")
    return key


class AlipayChannel:
    def __init__(
        self,
        clock: Clock,
        signing_key: rsa.RSAPrivateKey,
        apps: Mapping[str, rsa.RSAPublicKey],
        *,
        config: AlipayConfig | None = None,
        forger_key: rsa.RSAPrivateKey | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.config = config or AlipayConfig()
        self.signing_key = signing_key
        self.forger_key = forger_key
        self.apps = dict(apps)
        self.lock = threading.RLock()
        self.book = TradeBook(self.config.max_trades)
        self.faults = Faults()
        self.base_url = "http://127.0.0.1"  # the server sets its own
        self.current_notify_url: str | None = None  # of the request being handled
        self.problems: deque[str] = deque(maxlen=MAX_PROBLEMS)  # the last ones only
        self._cancelled: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._seq = 0
        self._bill_secret = hashlib.sha256(
            signing_key.private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        ).digest()
        self.notifier = Notifier(
            clock,
            retry_seconds=self.config.notify_retry_seconds,
            restamp=self._restamp,
            on_tick=self.catch_up,
            on_attempt=self._tell_attempt,
        )

    @classmethod
    def with_test_keys(
        cls,
        clock: Clock,
        *,
        key_dir: Path | None = None,
        config: AlipayConfig | None = None,
        bus: EventBus | None = None,
    ) -> AlipayChannel:
        """The channel signing with possim's test key, knowing the test app (TEST_APP_ID)."""
        app = test_key(TEST_APP_KEY, key_dir)
        return cls(
            clock,
            test_key(SIMULATOR_KEY, key_dir).private_key,
            {TEST_APP_ID: app.public_key},
            config=config,
            forger_key=test_key(FORGER_KEY, key_dir).private_key,
            bus=bus,
        )

    # -- the gateway ----------------------------------------------------------

    def handle(self, params: Mapping[str, str]) -> tuple[bytes, float]:
        """One gateway.do request: the answer's bytes and the seconds to hold it back."""
        from simulator.channels.alipay.openapi import answer

        with self.lock:
            self.catch_up()
            body, delay = answer(self, params)
        if self.bus is not None:
            self._tell_call(params, body)
        return body, delay

    def _tell_call(self, params: Mapping[str, str], body: bytes) -> None:
        assert self.bus is not None
        try:
            node = next(v for k, v in json.loads(body).items() if k != "sign")
            biz = json.loads(params.get("biz_content", "") or "{}")
            order = str(biz.get("out_trade_no") or biz.get("trade_no") or "")
        except (ValueError, StopIteration, AttributeError):
            node, order = {}, ""
        self.bus.publish(
            ChannelCall(params.get("method", ""), order[:64], node.get("code", ""),
                        node.get("sub_code")),
            source="alipay",
        )  # fmt: skip

    def _tell_attempt(self, attempt: Attempt) -> None:
        if self.bus is not None:
            self.bus.publish(
                ChannelNotify(attempt.out_trade_no, attempt.attempt, attempt.outcome),
                source="alipay",
            )

    # -- time and numbers -----------------------------------------------------

    def time_text(self, when: datetime | None) -> str:
        if when is None:
            return ""
        return when.astimezone(CHINA_STANDARD_TIME).strftime("%Y-%m-%d %H:%M:%S")

    def next_trade_no(self) -> str:
        self._seq += 1
        day = self.clock.now().astimezone(CHINA_STANDARD_TIME).strftime("%Y%m%d")
        return f"{day}22001{self._seq:015d}"

    # -- state changes (under self.lock) --------------------------------------

    def catch_up(self) -> float | None:
        """Buyers whose confirmation is due pay now; the next such moment, if any."""
        with self.lock:
            now = self.clock.monotonic()
            upcoming: float | None = None
            for trade in self.book.trades():
                if trade.status != TradeStatus.WAIT_BUYER_PAY:
                    continue
                if trade.pay_due is not None and trade.pay_due <= now:
                    self.mark_paid(trade)
                elif trade.close_due is not None and trade.close_due <= now:
                    self.mark_closed(trade, timed_out=True)
                for due in (trade.pay_due, trade.close_due):
                    if due is not None and trade.status == TradeStatus.WAIT_BUYER_PAY:
                        upcoming = due if upcoming is None else min(upcoming, due)
            return upcoming

    def mark_paid(self, trade: Trade) -> None:
        trade.status = TradeStatus.TRADE_SUCCESS
        trade.paid_at = self.clock.now()
        trade.pay_due = None
        self._notify(trade)

    def mark_closed(self, trade: Trade, *, timed_out: bool = False) -> None:
        """Closed; notified when it had been paid (refunded) or ran out of time unpaid
        (trade_status TRADE_CLOSED: "未付款交易超时关闭，或支付完成后全额退款")."""
        was_paid = trade.paid_at is not None
        trade.status = TradeStatus.TRADE_CLOSED
        trade.closed_at = self.clock.now()
        trade.pay_due = trade.close_due = None
        if was_paid or (timed_out and trade.exists):
            self._notify(trade)

    def refunded(self, trade: Trade, refund: Refund) -> None:
        if trade.status == TradeStatus.TRADE_SUCCESS:  # a full refund notified by mark_closed
            self._notify(trade, refund)

    def cancel_unknown(self, app_id: str, out_trade_no: str) -> None:
        while len(self._cancelled) >= MAX_CANCELLED_UNKNOWN:
            self._cancelled.popitem(last=False)
        self._cancelled[(app_id, out_trade_no)] = None

    def cancelled_unknown(self, app_id: str, out_trade_no: str) -> bool:
        return (app_id, out_trade_no) in self._cancelled

    def buyer_scans(self, qr_code: str, *, buyer: str = "buyer", pay: bool = True) -> Trade:
        """The buyer scans a precreated code with the Alipay app and, if ``pay``, pays."""
        with self.lock:
            self.catch_up()
            trade = self.book.by_qr_code(qr_code)
            if trade is None:
                raise ChannelError(f"no precreated Alipay trade has the code {qr_code!r}")
            if trade.status != TradeStatus.WAIT_BUYER_PAY:
                raise ChannelError(
                    f"trade {trade.out_trade_no} is {trade.status.value}: not payable"
                )
            trade.scanned = True
            trade.buyer_user_id, trade.buyer_logon_id = buyer_of(buyer)
            if pay:
                self.mark_paid(trade)
            return trade

    # -- notifications --------------------------------------------------------

    def _notify(self, trade: Trade, refund: Refund | None = None) -> None:
        url = trade.notify_url
        if not url:
            return
        if not self._notify_allowed(url):
            self.problems.append(f"notify_url {url!r} is not loopback: not notified")
            return
        params = self._notify_params(trade, refund)
        method = "alipay.trade.pay" if trade.scene != "precreate" else "alipay.trade.precreate"
        lost = self.faults.take(method, ("notify_lost",)) is not None
        twice = self.faults.take(method, ("notify_duplicated",)) is not None
        forged = self.faults.take(method, ("notify_forged",)) is not None
        now = self.clock.monotonic()
        self.notifier.queue(
            Delivery(url, self._signed(params), now, lose_next=lost, copies=2 if twice else 1)
        )
        if forged and self.forger_key is not None:
            fake = dict(params, total_amount=format_yuan(trade.total_fen * 100))
            fake["receipt_amount"] = fake["total_amount"]
            self.notifier.queue(Delivery(url, self._signed(fake, self.forger_key), now, final=True))
        self.notifier.wake()

    def _notify_allowed(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError:
            return False
        if parts.scheme not in ("http", "https"):
            return False
        if self.config.allow_remote_notify or host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _notify_params(self, trade: Trade, refund: Refund | None) -> dict[str, str]:
        amount = format_yuan(trade.total_fen)
        self._seq += 1
        params = {
            "notify_time": self.time_text(self.clock.now()),
            "notify_type": "trade_status_sync",
            "notify_id": hashlib.sha256(f"{trade.trade_no}:{self._seq}".encode()).hexdigest()[:34],
            "app_id": trade.app_id,
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "trade_no": trade.trade_no,
            "out_trade_no": trade.out_trade_no,
            "buyer_id": trade.buyer_user_id,
            "buyer_logon_id": trade.buyer_logon_id,
            "seller_id": self.config.seller_id,
            "trade_status": trade.status.value,
            "total_amount": amount,
            "receipt_amount": amount,
            "buyer_pay_amount": amount,
            "subject": trade.subject,
            "gmt_create": self.time_text(trade.created),
            "gmt_payment": self.time_text(trade.paid_at),
            "fund_bill_list": f'[{{"amount":"{amount}","fundChannel":"ALIPAYACCOUNT"}}]',
        }
        if trade.refunds:
            last = refund or list(trade.refunds.values())[-1]
            params["refund_fee"] = format_yuan(trade.refunded_fen)
            params["gmt_refund"] = self.time_text(last.at) + ".000"
            params["out_biz_no"] = last.out_request_no
        if trade.closed_at is not None:
            params["gmt_close"] = self.time_text(trade.closed_at)
        return params

    def _signed(
        self, params: Mapping[str, str], key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, str]:
        content = signing.sign_content(params, drop_sign_type=True)
        return dict(params, sign=signing.sign(key or self.signing_key, content))

    def _restamp(self, params: dict[str, str]) -> dict[str, str]:
        fresh = {k: v for k, v in params.items() if k != "sign"}
        fresh["notify_time"] = self.time_text(self.clock.now())
        return self._signed(fresh)

    # -- bills ----------------------------------------------------------------

    def bill_download_url(self, app_id: str, bill_type: str, bill_date: str) -> str:
        expires = f"{self.clock.monotonic() + BILL_URL_SECONDS:.3f}"
        query = {
            "app_id": app_id,
            "bill_type": bill_type,
            "bill_date": bill_date,
            "expires": expires,
        }
        query["sig"] = self._bill_sig(query)
        return f"{self.base_url}/possim/alipay/bill?{urlencode(query)}"

    def _bill_sig(self, query: Mapping[str, str]) -> str:
        text = "&".join(f"{k}={query[k]}" for k in ("app_id", "bill_type", "bill_date", "expires"))
        return hmac.new(self._bill_secret, text.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def bill_request_valid(self, query: Mapping[str, str]) -> bool:
        try:
            expected = self._bill_sig(query)
            expires = float(query["expires"])
        except (KeyError, ValueError):
            return False
        return hmac.compare_digest(expected, query.get("sig", "")) and (
            self.clock.monotonic() <= expires
        )

    # -- life cycle -----------------------------------------------------------

    def start(self) -> None:
        self.notifier.start()

    def stop(self) -> None:
        self.notifier.stop()
