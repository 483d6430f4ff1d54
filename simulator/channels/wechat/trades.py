"""WeChat Pay's orders and refunds: one state machine behind both API versions.

States (``trade_state``, WeChat's names; pay.weixin.qq.com, 查询订单 ``trade_state``)::

    micropay / codepay -> SUCCESS | USERPAYING | PAYERROR (refused: AUTHCODEEXPIRE, NOTENOUGH ...)
    USERPAYING -- the customer enters the password (``password_seconds`` later) --> SUCCESS
    unifiedorder / native -> NOTPAY -- the customer scans and pays --> SUCCESS
    NOTPAY | USERPAYING | PAYERROR -- close --> CLOSED (a paid order is refused: ORDERPAID)
    SUCCESS | REFUND -- refund --> REFUND
    anything but a paid order of another day -- reverse --> REVOKED (money returned)

Password rule (付款码支付, "验证密码规则": 支付金额>1000元的交易需要验证用户支付密码): a
payment above ``PASSWORD_FREE_LIMIT_FEN`` waits ``password_seconds`` of the clock for
the customer, then succeeds. Time comes from the simulator's clock, so a scenario on
the virtual clock sees the same answers every run.

The book keeps at most ``max_trades`` orders: beyond that the oldest is forgotten
(docs/reliability.md). It is kept in memory; the interface (:class:`Trades`) is what
a ledger-backed book would implement later.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections import OrderedDict
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone

import attrs

from drivers.clock import Clock

PASSWORD_FREE_LIMIT_FEN = 100_000  # 1000 yuan
DEFAULT_PASSWORD_SECONDS = 10.0
DEFAULT_MAX_TRADES = 10_000
NATIVE_EXPIRES = timedelta(hours=2)  # unifiedorder's time_expire default
PAID = ("SUCCESS", "REFUND")
CHINA_TIME = timezone(timedelta(hours=8), "CST")  # WeChat's times and bill days


@attrs.define
class Refund:
    out_refund_no: str
    refund_id: str
    amount_fen: int
    created_at: datetime
    status: str = "SUCCESS"
    notify_url: str | None = None


@attrs.define
class Trade:
    mch_id: str
    appid: str
    out_trade_no: str
    trade_type: str  # MICROPAY | NATIVE
    amount_fen: int
    description: str
    attach: str
    created_at: datetime
    transaction_id: str
    openid: str
    state: str = "NOTPAY"
    paid_at: datetime | None = None
    password_due: datetime | None = None  # USERPAYING until then
    code_digest: str | None = None
    notify_url: str | None = None
    code_url: str | None = None
    expires_at: datetime | None = None
    error: str | None = None  # why a payment failed (PAYERROR)
    api: str = "v2"  # which API placed it: the notify speaks the same one
    sign_type: str = "MD5"  # v2: the signature type of the request that placed it
    refunds: list[Refund] = attrs.Factory(list)

    @property
    def refunded_fen(self) -> int:
        return sum(refund.amount_fen for refund in self.refunds)


@attrs.frozen
class Outcome:
    """What a call did: the trade it concerns and, if refused, a neutral error name
    (:data:`ERRORS`), which each API version spells in its own way."""

    trade: Trade | None = None
    error: str | None = None
    refund: Refund | None = None
    newly_paid: bool = False  # the caller notifies
    new_refund: bool = False  # the caller notifies, if the refund has a notify_url


# The refusals, by neutral name: what they mean (WeChat's err_code_des style).
ERRORS = {
    "SYSTEMERROR": "系统超时",
    "AUTHCODEEXPIRE": "二维码已过期，请用户在微信上刷新后再试",
    "AUTH_CODE_INVALID": "请扫描微信支付授权码(18位数字，以10、11、12、13、14、15开头)",
    "NOTENOUGH": "用户余额不足",
    "ORDERPAID": "该订单已支付",
    "ORDERCLOSED": "该订单已关闭",
    "ORDERREVERSED": "该订单已撤销",
    "ORDERNOTEXIST": "此交易订单号不存在",
    "OUT_TRADE_NO_USED": "同一笔交易不能多次提交",
    "USERPAYING": "需要用户输入支付密码",
    "REVERSE_EXPIRE": "订单已支付且超过撤销期限，请使用退款接口",
    "TRADE_STATE_ERROR": "订单状态不允许该操作",
    "REFUND_EXCEEDED": "累计退款金额大于支付金额",
    "REFUND_NO_USED": "订单金额或退款金额与之前请求不一致，请核实后再试",
    "REFUNDNOTEXIST": "退款订单查询失败",
}


def is_payment_code(code: str) -> bool:
    """付款码: 18 digits starting 10-15 (WeChat's micropay ``auth_code`` rule)."""
    return len(code) == 18 and code.isascii() and code.isdigit() and code[:2] in _CODE_PREFIXES


_CODE_PREFIXES = ("10", "11", "12", "13", "14", "15")


class Trades:
    """The merchant's orders, keyed by (mch_id, out_trade_no); thread-safe."""

    def __init__(
        self,
        clock: Clock,
        *,
        password_seconds: float = DEFAULT_PASSWORD_SECONDS,
        max_trades: int = DEFAULT_MAX_TRADES,
    ) -> None:
        self._clock = clock
        self._password = timedelta(seconds=password_seconds)
        self._max = max_trades
        self._lock = threading.RLock()
        self._trades: OrderedDict[tuple[str, str], Trade] = OrderedDict()
        self._serial = itertools.count(1)

    # -- reading -------------------------------------------------------------------

    def get(self, mch_id: str, out_trade_no: str) -> Trade | None:
        with self._lock:
            trade = self._trades.get((mch_id, out_trade_no))
            return None if trade is None else self._settle(trade)

    def by_transaction(self, mch_id: str, transaction_id: str) -> Trade | None:
        with self._lock:
            for trade in self._trades.values():
                if trade.mch_id == mch_id and trade.transaction_id == transaction_id:
                    return self._settle(trade)
        return None

    def find_refund(self, mch_id: str, out_refund_no: str) -> tuple[Trade, Refund] | None:
        with self._lock:
            for trade in self._trades.values():
                for refund in trade.refunds:
                    if trade.mch_id == mch_id and refund.out_refund_no == out_refund_no:
                        return trade, refund
        return None

    def all(self) -> Iterator[Trade]:
        with self._lock:
            trades = [self._settle(trade) for trade in self._trades.values()]
        return iter(trades)

    def __len__(self) -> int:
        return len(self._trades)

    def snapshot(self) -> tuple[tuple[object, ...], ...]:
        """Every order and refund as plain values, for "nothing changed" checks."""
        with self._lock:
            return tuple((*attrs.astuple(trade, recurse=True),) for trade in self._trades.values())

    # -- paying --------------------------------------------------------------------

    def micropay(
        self,
        *,
        mch_id: str,
        appid: str,
        out_trade_no: str,
        amount_fen: int,
        auth_code: str,
        description: str,
        attach: str = "",
        refusal: str | None = None,
        hold_seconds: float | None = None,
    ) -> Outcome:
        """A payment code payment. ``refusal``: a fault's error (AUTHCODEEXPIRE ...);
        ``hold_seconds``: a fault's USERPAYING time, whatever the amount."""
        if not is_payment_code(auth_code):
            return Outcome(error="AUTH_CODE_INVALID")
        digest = hashlib.sha256(auth_code.encode("ascii")).hexdigest()
        with self._lock:
            trade = self._trades.get((mch_id, out_trade_no))
            if trade is not None:
                self._settle(trade)
                same = (trade.trade_type, trade.amount_fen, trade.code_digest) == (
                    "MICROPAY",
                    amount_fen,
                    digest,
                )
                if not same:
                    return Outcome(trade, "OUT_TRADE_NO_USED")
                return Outcome(trade, _payment_error(trade))
            if refusal is not None:
                return Outcome(error=refusal)  # refused before an order exists
            trade = self._add(
                mch_id, appid, out_trade_no, "MICROPAY", amount_fen, description, attach
            )
            trade.code_digest = digest
            now = self._now()
            if hold_seconds is not None or amount_fen > PASSWORD_FREE_LIMIT_FEN:
                hold = self._password if hold_seconds is None else timedelta(seconds=hold_seconds)
                trade.state, trade.password_due = "USERPAYING", now + hold
                return Outcome(trade, "USERPAYING")
            self._pay(trade, now)
            return Outcome(trade, newly_paid=True)

    def native(
        self,
        *,
        mch_id: str,
        appid: str,
        out_trade_no: str,
        amount_fen: int,
        description: str,
        notify_url: str,
        attach: str = "",
    ) -> Outcome:
        with self._lock:
            trade = self._trades.get((mch_id, out_trade_no))
            if trade is not None:
                self._settle(trade)
                if (trade.trade_type, trade.amount_fen) != ("NATIVE", amount_fen):
                    return Outcome(trade, "OUT_TRADE_NO_USED")
                if trade.state in PAID:
                    return Outcome(trade, "ORDERPAID")
                if trade.state != "NOTPAY":
                    return Outcome(trade, "ORDERCLOSED")
                return Outcome(trade)
            trade = self._add(
                mch_id, appid, out_trade_no, "NATIVE", amount_fen, description, attach
            )
            trade.notify_url = notify_url
            trade.code_url = f"weixin://wxpay/bizpayurl?pr={trade.transaction_id[-12:]}"
            trade.expires_at = trade.created_at + NATIVE_EXPIRES
            return Outcome(trade)

    def customer_pays(self, code_url: str) -> Outcome:
        """The simulated customer scans a NATIVE order's ``code_url`` and pays."""
        with self._lock:
            for trade in self._trades.values():
                if trade.code_url == code_url:
                    self._settle(trade)
                    if trade.state != "NOTPAY":
                        return Outcome(trade, _state_error(trade))
                    self._pay(trade, self._now())
                    return Outcome(trade, newly_paid=True)
        return Outcome(error="ORDERNOTEXIST")

    # -- undoing -------------------------------------------------------------------

    def close(self, mch_id: str, out_trade_no: str) -> Outcome:
        with self._lock:
            trade = self.get(mch_id, out_trade_no)
            if trade is None:
                return Outcome(error="ORDERNOTEXIST")
            if trade.state in PAID:
                return Outcome(trade, "ORDERPAID")
            if trade.state == "REVOKED":
                return Outcome(trade, "ORDERREVERSED")
            if trade.state == "CLOSED":
                # 关闭订单: "ORDERCLOSED 订单已关闭，无法重复关闭"
                return Outcome(trade, "ORDERCLOSED")
            trade.state = "CLOSED"
            return Outcome(trade)

    def reverse(self, mch_id: str, out_trade_no: str) -> Outcome:
        """撤销: closes an unpaid order, returns a paid one's money the day it was paid."""
        with self._lock:
            trade = self.get(mch_id, out_trade_no)
            if trade is None:
                return Outcome(error="ORDERNOTEXIST")
            if trade.state in PAID:
                assert trade.paid_at is not None
                if trade.paid_at.date() != self._now().date():
                    return Outcome(trade, "REVERSE_EXPIRE")
            trade.state = "REVOKED"
            trade.password_due = None
            return Outcome(trade)

    def refund(
        self,
        mch_id: str,
        out_trade_no: str,
        out_refund_no: str,
        amount_fen: int,
        notify_url: str | None = None,
    ) -> Outcome:
        with self._lock:
            trade = self.get(mch_id, out_trade_no)
            if trade is None:
                return Outcome(error="ORDERNOTEXIST")
            for existing in trade.refunds:
                if existing.out_refund_no == out_refund_no:
                    if existing.amount_fen != amount_fen:
                        return Outcome(trade, "REFUND_NO_USED")
                    return Outcome(trade, refund=existing)
            if self.find_refund(mch_id, out_refund_no) is not None:
                return Outcome(trade, "REFUND_NO_USED")
            if trade.state not in PAID:
                return Outcome(trade, "TRADE_STATE_ERROR")
            if amount_fen > trade.amount_fen - trade.refunded_fen:
                return Outcome(trade, "REFUND_EXCEEDED")
            now = self._now()
            refund_id = f"50{now:%Y%m%d}{next(self._serial):018d}"
            refund = Refund(out_refund_no, refund_id, amount_fen, now, notify_url=notify_url)
            trade.refunds.append(refund)
            trade.state = "REFUND"
            return Outcome(trade, refund=refund, new_refund=True)

    # -- internals -----------------------------------------------------------------

    def _add(
        self,
        mch_id: str,
        appid: str,
        out_trade_no: str,
        trade_type: str,
        amount_fen: int,
        description: str,
        attach: str,
    ) -> Trade:
        now = self._now()
        serial = next(self._serial)
        trade = Trade(
            mch_id=mch_id,
            appid=appid,
            out_trade_no=out_trade_no,
            trade_type=trade_type,
            amount_fen=amount_fen,
            description=description,
            attach=attach,
            created_at=now,
            transaction_id=f"42{serial % 100:02d}{now:%Y%m%d}{serial:016d}",
            openid=f"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o{serial % 1000:03d}",
        )
        self._trades[(mch_id, out_trade_no)] = trade
        while len(self._trades) > self._max:
            self._trades.popitem(last=False)
        return trade

    def _now(self) -> datetime:
        return self._clock.now().astimezone(CHINA_TIME)

    def _pay(self, trade: Trade, now: datetime) -> None:
        trade.state, trade.paid_at, trade.password_due = "SUCCESS", now, None

    def _settle(self, trade: Trade) -> Trade:
        """Apply what time has done: a password entered, a QR order expired."""
        now = self._now()
        if trade.state == "USERPAYING" and trade.password_due and now >= trade.password_due:
            self._pay(trade, trade.password_due)
        if trade.state == "NOTPAY" and trade.expires_at is not None and now >= trade.expires_at:
            trade.state = "CLOSED"
        return trade


def _payment_error(trade: Trade) -> str | None:
    """A repeated payment request: the order's state as the first answer gave it."""
    if trade.state in PAID:
        return None
    if trade.state == "USERPAYING":
        return "USERPAYING"
    return _state_error(trade)


def _state_error(trade: Trade) -> str:
    return {
        "SUCCESS": "ORDERPAID",
        "REFUND": "ORDERPAID",
        "REVOKED": "ORDERREVERSED",
        "PAYERROR": trade.error or "SYSTEMERROR",
    }.get(trade.state, "ORDERCLOSED")
