"""The simulated UnionPay QR acquiring gateway, ACP (全渠道) style.

Transactions (UnionPay open platform, 二维码支付 product: open.unionpay.com/tjweb/acproduct/
APIList, "消费（被扫）", "申请二维码（主扫）", "交易状态查询", "退货", "消费撤销"):

=========================== ============ ==========================================
what                        txnType/Sub  endpoint
=========================== ============ ==========================================
C2B: the cardholder's code  01 / 06      /gateway/api/backTransReq.do (``qrNo``)
B2C: a code for the order   01 / 07      /gateway/api/backTransReq.do -> ``qrCode``
query                       00 / 00      /gateway/api/queryTrans.do -> ``origRespCode``
refund (退货)               04 / 00      /gateway/api/backTransReq.do (``origQryId``)
void (消费撤销)             31 / 00      /gateway/api/backTransReq.do (``origQryId``)
settlement file (文件传输)  76 / 01      /gateway/api/fileTransRequest.do (``settleDate``)
=========================== ============ ==========================================

``respCode`` of the answer: ``00`` accepted/succeeded, ``03``/``04``/``05`` result
unknown or pending -- query (``origRespCode`` then says), ``11`` signature,
``12`` duplicate, ``13`` a required field missing, ``34`` no such transaction,
``01`` failed. A B2C code is issued centrally by UnionPay (EMVCo ID 15) or, with
``reserved={qrIssuance=member}`` (possim's switch), as a member institution's
(a merchant account template, ID 26, sub-ID 00 UnionPay's RID).
"""

from __future__ import annotations

import base64
import re
import threading
import zlib
from collections.abc import Mapping
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from drivers.clock import Clock
from simulator.channels.events import ChannelCall, ChannelNotify
from simulator.channels.faults import ChannelFault, Faults
from simulator.channels.keys import test_key
from simulator.channels.notify import Attempt, Delivery, Notifier, post_form
from simulator.channels.unionpay import acp
from simulator.channels.unionpay.orders import Order, OrderBook
from simulator.channels.unionpay.settlement import settlement_zip
from simulator.clock import CHINA_STANDARD_TIME
from simulator.events import EventBus
from simulator.wire import emvco

TEST_MER_ID = "898000000000001"  # possim's test merchant (15 characters)
PASSWORD_FREE_LIMIT_FEN = 100_000
BUYER_CONFIRM_SECONDS = 10.0
# UnionPay's public material says it notifies backUrl again until the merchant answers
# HTTP 200, without a schedule: these are possim's (the built-in gateway's, too).
RETRY_SECONDS: tuple[float, ...] = (15, 60, 300, 900, 3600, 7200, 21600, 43200)
QR_NO = re.compile(r"62\d{17}")
ORDER_ID = re.compile(r"[A-Za-z0-9]{8,40}")
TXN_TIME = re.compile(r"\d{14}")
AMOUNT = re.compile(r"[1-9]\d{0,11}")
CONSUME, QUERY, REFUND, VOID, FILE = "01", "00", "04", "31", "76"
C2B, B2C = "06", "07"

_MSG = {
    "00": "成功[0000000]",
    "01": "交易失败",
    "03": "交易通讯超时，请发起查询交易",
    "05": "交易已受理，请稍后查询交易结果",
    "11": "验证签名失败",
    "12": "重复交易",
    "13": "报文交易要素缺失",
    "34": "查无此交易",
    "35": "原交易状态不正确",
    "36": "与原交易信息不符",
}


class UnionPayFault(ChannelFault):
    """The same kinds as Alipay's; the pay-only ones apply to ``unionpay.consume``."""

    CHANNEL = "UnionPay"
    PAY_METHOD = "unionpay.consume"
    METHOD_PREFIX = "unionpay."


class Refusal(Exception):
    def __init__(self, code: str, msg: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.msg = msg or _MSG[code]


def post_back_url(url: str, params: Mapping[str, str]) -> str:
    """UnionPay counts a notification delivered when the merchant answers HTTP 200."""
    return post_form(
        url,
        params,
        content_type="application/x-www-form-urlencoded;charset=UTF-8",
        outcome=lambda status, answer: "success" if status == 200 else f"HTTP {status}",
    )


class UnionPayChannel:
    def __init__(
        self,
        clock: Clock,
        signing_key: rsa.RSAPrivateKey,
        certificates: acp.TestCertificates,
        merchants: Mapping[str, Mapping[str, rsa.RSAPublicKey]],
        *,
        forger_key: rsa.RSAPrivateKey | None = None,
        bus: EventBus | None = None,
    ) -> None:
        self.clock = clock
        self.bus = bus
        self.signing_key = signing_key
        self.certificates = certificates
        self.merchants = {m: dict(certs) for m, certs in merchants.items()}
        self.forger_key = forger_key
        self.lock = threading.RLock()
        self.book = OrderBook()
        self.faults = Faults()
        self._seq = 0
        self.notifier = Notifier(
            clock,
            retry_seconds=RETRY_SECONDS,
            send=post_back_url,
            on_tick=self.catch_up,
            on_attempt=self._tell_attempt,
        )

    @classmethod
    def with_test_keys(
        cls, clock: Clock, *, key_dir: Path | None = None, bus: EventBus | None = None
    ) -> UnionPayChannel:
        signer = test_key("unionpay-simulator", key_dir).private_key
        merchant = test_key("unionpay-test-merchant", key_dir).private_key
        root = test_key("unionpay-test-root", key_dir).private_key
        certs = acp.test_certificates(root, signer, merchant)
        return cls(
            clock,
            signer,
            certs,
            {TEST_MER_ID: {certs.merchant_cert_id: merchant.public_key()}},
            forger_key=test_key("alipay-forger", key_dir).private_key,
            bus=bus,
        )

    # -- requests -------------------------------------------------------------

    def handle(self, path: str, params: Mapping[str, str]) -> tuple[str, float]:
        """The answer's text to one request, and the seconds to hold it back."""
        with self.lock:
            self.catch_up()
            answer = {k: v for k in _ECHOED if _echoable(v := params.get(k, ""))}
            method = _method(params)
            slow = None
            bad = False
            try:
                self._check(params)  # a refused request uses up no fault
                slow = self.faults.take(method, ("slow",))
                bad = self.faults.take(method, ("bad_signature",)) is not None
                answer.update(self._dispatch(path, params))
                if self.faults.take(method, ("system_error",)) is not None:
                    answer = {k: v for k, v in answer.items() if k in _ECHOED}
                    answer.update(respCode="03", respMsg=_MSG["03"])
                else:
                    answer.setdefault("respCode", "00")
                    answer.setdefault("respMsg", _MSG[answer["respCode"]])
            except Refusal as refused:
                answer.update(respCode=refused.code, respMsg=refused.msg)
            answer["version"] = acp.VERSION
            answer["signMethod"] = acp.SIGN_METHOD
            signed = self._signed(answer, self.forger_key if bad else None)
        if self.bus is not None:
            order = params.get("orderId", "")
            self.bus.publish(
                ChannelCall(method, order[:40] if _echoable(order) else "", answer["respCode"]),
                source="unionpay",
            )
        return acp.encode_answer(signed), slow.seconds if slow is not None else 0.0

    def _tell_attempt(self, attempt: Attempt) -> None:
        if self.bus is not None:
            self.bus.publish(
                ChannelNotify(attempt.out_trade_no, attempt.attempt, attempt.outcome),
                source="unionpay",
            )

    def _check(self, params: Mapping[str, str]) -> None:
        for name in ("version", "encoding", "signMethod", "txnType", "txnSubType", "merId"):
            if not params.get(name):
                raise Refusal("13", f"报文交易要素缺失[{name}]")
        if params["version"] != acp.VERSION or params["signMethod"] != acp.SIGN_METHOD:
            raise Refusal("13", "报文交易要素缺失[version/signMethod: 5.1.0 and 01]")
        certs = self.merchants.get(params["merId"])
        key = None if certs is None else certs.get(params.get("certId", ""))
        if key is None or not acp.verify(key, params, params.get("signature", "")):
            raise Refusal("11")

    def _dispatch(self, path: str, params: Mapping[str, str]) -> dict[str, str]:
        kind = (params["txnType"], params["txnSubType"])
        if path.endswith("/fileTransRequest.do"):
            if kind != (FILE, "01"):
                raise Refusal("13", "报文交易要素缺失[txnType 76 on fileTransRequest.do]")
            return self._settlement_file(params)
        if path.endswith("/queryTrans.do"):
            if kind != (QUERY, "00"):
                raise Refusal("13", "报文交易要素缺失[txnType 00 on queryTrans.do]")
            return self._query(params)
        if kind == (CONSUME, C2B):
            return self._consume(params)
        if kind == (CONSUME, B2C):
            return self._apply_qr(params)
        if kind in ((REFUND, "00"), (VOID, "00")):
            return self._refund_or_void(params)
        raise Refusal("13", f"报文交易要素缺失[no transaction {kind[0]}/{kind[1]}]")

    def _new_order(self, params: Mapping[str, str], txn_type: str, sub: str) -> Order:
        order_id = params.get("orderId", "")
        txn_time = params.get("txnTime", "")
        amount = params.get("txnAmt", "")
        if not ORDER_ID.fullmatch(order_id) or not TXN_TIME.fullmatch(txn_time):
            raise Refusal("13", "报文交易要素缺失[orderId AN8..40, txnTime YYYYMMDDhhmmss]")
        if not AMOUNT.fullmatch(amount) or params.get("currencyCode", "156") != "156":
            raise Refusal("13", "报文交易要素缺失[txnAmt in fen, currencyCode 156]")
        if self.book.find(params["merId"], order_id, txn_time) is not None:
            raise Refusal("12")
        self._seq += 1
        now = self.clock.now().astimezone(CHINA_STANDARD_TIME)
        return Order(
            mer_id=params["merId"],
            order_id=order_id,
            txn_time=txn_time,
            txn_type=txn_type,
            txn_sub_type=sub,
            amount_fen=int(amount),
            query_id=f"{now:%Y%m%d%H%M%S}{self._seq:07d}",
            created=now,
            back_url=params.get("backUrl", ""),
            req_reserved=r if _echoable(r := params.get("reqReserved", "")) else "",
            settle_date=f"{now:%m%d}",
            trace_no=f"{self._seq % 1_000_000:06d}",
        )

    def _consume(self, params: Mapping[str, str]) -> dict[str, str]:
        qr_no = params.get("qrNo", "")
        order = self._new_order(params, CONSUME, C2B)
        if not QR_NO.fullmatch(qr_no):
            raise Refusal("01", "交易失败[付款码无效: 62 开头 19 位]")
        fault = self.faults.take(
            "unionpay.consume", ("expired_code", "balance_not_enough", "user_paying")
        )
        if fault is not None and fault.kind == "expired_code":
            raise Refusal("01", "交易失败[付款码已失效]")
        if fault is not None and fault.kind == "balance_not_enough":
            raise Refusal("01", "交易失败[余额不足]")
        self.book.add(order)
        waits = fault is not None or order.amount_fen > PASSWORD_FREE_LIMIT_FEN
        if not waits:
            self._complete(order)
            return self._order_fields(order)
        if fault is None or fault.then == "success":
            seconds = fault.seconds if fault is not None else BUYER_CONFIRM_SECONDS
            order.pay_due = self.clock.monotonic() + seconds
        return dict(self._order_fields(order), respCode="05")

    def _apply_qr(self, params: Mapping[str, str]) -> dict[str, str]:
        order = self._new_order(params, CONSUME, B2C)
        issuance = "member" if "qrIssuance=member" in params.get("reserved", "") else "central"
        account: tuple[str, str | dict[str, str]] = (
            ("15", f"A000000333{order.mer_id}")
            if issuance == "central"
            else ("26", {"00": "A000000333", "01": order.mer_id})
        )
        order.issuance = issuance
        order.qr_code = emvco.build(
            merchant_account=account,
            mcc="5411",
            merchant_name="POSSIM TEST",
            merchant_city="SHANGHAI",
            amount_fen=order.amount_fen,
            bill_number=order.order_id,
        )
        self.book.add(order)
        return {"orderId": order.order_id, "txnTime": order.txn_time, "qrCode": order.qr_code}

    def _query(self, params: Mapping[str, str]) -> dict[str, str]:
        order = self.book.find(
            params["merId"], params.get("orderId", ""), params.get("txnTime", "")
        )
        if order is None:
            raise Refusal("34")
        return dict(
            self._order_fields(order),
            origRespCode=order.orig_resp_code,
            origRespMsg=order.orig_resp_msg,
        )

    def _refund_or_void(self, params: Mapping[str, str]) -> dict[str, str]:
        original = self.book.by_query_id(params.get("origQryId", ""))
        if original is None or original.mer_id != params["merId"]:
            raise Refusal("34")
        if original.txn_type != CONSUME or original.orig_resp_code != "00" or original.voided:
            raise Refusal("35")
        is_void = params["txnType"] == VOID
        order = self._new_order(params, params["txnType"], "00")
        remaining = original.amount_fen - original.refunded_fen
        if is_void and (order.amount_fen != original.amount_fen or original.refunded_fen):
            raise Refusal("36", "与原交易信息不符[消费撤销为全额，且原交易未退货]")
        if order.amount_fen > remaining:
            raise Refusal("36", "与原交易信息不符[退货金额超过原交易可退金额]")
        if (
            is_void
            and original.created.date() != self.clock.now().astimezone(CHINA_STANDARD_TIME).date()
        ):
            raise Refusal("35", "原交易状态不正确[消费撤销仅限当日]")
        order.orig_query_id = original.query_id
        self.book.add(order)
        original.refunded_fen += order.amount_fen
        original.voided = is_void
        self._complete(order)
        return dict(self._order_fields(order), origQryId=original.query_id)

    def _settlement_file(self, params: Mapping[str, str]) -> dict[str, str]:
        """The day's file (文件传输, txnType 76): ``fileContent`` is base64 of the zlib-
        compressed zip, as the ACP SDKs' ``deCodeFileContent`` reads it."""
        settle_date = params.get("settleDate", "")
        if not re.fullmatch(r"\d{4}", settle_date) or params.get("fileType", "00") != "00":
            raise Refusal("13", "报文交易要素缺失[settleDate MMDD, fileType 00]")
        today = self.clock.now().astimezone(CHINA_STANDARD_TIME)
        if settle_date == f"{today:%m%d}":
            raise Refusal("34", "查无此交易[the day's file exists from the next day]")
        name, content = settlement_zip(self.book.orders(), params["merId"], settle_date, today)
        return {
            "settleDate": settle_date,
            "fileType": "00",
            "fileName": name,
            "fileContent": base64.b64encode(zlib.compress(content)).decode("ascii"),
        }

    # -- the cardholder, time, notifications ---------------------------------

    def cardholder_pays(self, qr_code: str) -> Order:
        """The cardholder scans a B2C code with a UnionPay app and pays."""
        with self.lock:
            order = self.book.by_qr_code(qr_code)
            if order is None or order.orig_resp_code != "05":
                raise Refusal("34")
            self._complete(order)
            return order

    def catch_up(self) -> float | None:
        with self.lock:
            now = self.clock.monotonic()
            upcoming: float | None = None
            for order in self.book.orders():
                if order.pay_due is None or order.orig_resp_code != "05":
                    continue
                if order.pay_due <= now:
                    self._complete(order)
                else:
                    upcoming = order.pay_due if upcoming is None else min(upcoming, order.pay_due)
            return upcoming

    def _complete(self, order: Order) -> None:
        order.orig_resp_code, order.orig_resp_msg, order.pay_due = "00", _MSG["00"], None
        if not order.back_url:
            return
        params = dict(self._order_fields(order), respCode="00", respMsg=_MSG["00"])
        params.update(
            version=acp.VERSION,
            encoding="UTF-8",
            signMethod=acp.SIGN_METHOD,
            bizType="000000",
            accessType="0",
            currencyCode="156",
        )
        if order.orig_query_id:
            params["origQryId"] = order.orig_query_id
        method = "unionpay.consume" if order.txn_type == CONSUME else "unionpay.refund"
        lost = self.faults.take(method, ("notify_lost",)) is not None
        twice = self.faults.take(method, ("notify_duplicated",)) is not None
        forged = self.faults.take(method, ("notify_forged",)) is not None
        now = self.clock.monotonic()
        self.notifier.queue(
            Delivery(order.back_url, self._signed(params), now, lose_next=lost,
                     copies=2 if twice else 1)
        )  # fmt: skip
        if forged and self.forger_key is not None:
            fake = dict(params, txnAmt=str(order.amount_fen * 100))
            fake["settleAmt"] = fake["txnAmt"]
            self.notifier.queue(
                Delivery(order.back_url, self._signed(fake, self.forger_key), now, final=True)
            )

    def _order_fields(self, order: Order) -> dict[str, str]:
        fields = {
            "merId": order.mer_id,
            "orderId": order.order_id,
            "txnTime": order.txn_time,
            "txnType": order.txn_type,
            "txnSubType": order.txn_sub_type,
            "txnAmt": str(order.amount_fen),
            "queryId": order.query_id,
            "traceNo": order.trace_no,
            "traceTime": order.txn_time[4:],
            "settleDate": order.settle_date,
            "settleAmt": str(order.amount_fen),
            "settleCurrencyCode": "156",
        }
        if order.req_reserved:
            fields["reqReserved"] = order.req_reserved
        if order.qr_code:
            fields["qrCode"] = order.qr_code
        return fields

    def _signed(
        self, params: Mapping[str, str], key: rsa.RSAPrivateKey | None = None
    ) -> dict[str, str]:
        fields = {k: v for k, v in params.items() if k != "signature"}
        fields["signPubKeyCert"] = self.certificates.signer_pem
        fields["signature"] = acp.sign(key or self.signing_key, fields)
        return fields

    def start(self) -> None:
        self.notifier.start()

    def stop(self) -> None:
        self.notifier.stop()


_ECHOED = ("encoding", "bizType", "txnType", "txnSubType", "accessType", "merId", "orderId",
           "txnTime", "reqReserved")  # fmt: skip


def _echoable(value: str) -> bool:
    """Answers are not URL-encoded: a value with a separator in it would break them,
    so such a value (always a malformed one: no ACP field holds them) is not echoed."""
    return bool(value) and not any(c in value for c in "&={}[]\r\n")


def _method(params: Mapping[str, str]) -> str:
    return {
        ("01", "06"): "unionpay.consume",
        ("01", "07"): "unionpay.apply_qr",
        ("00", "00"): "unionpay.query",
        ("04", "00"): "unionpay.refund",
        ("31", "00"): "unionpay.void",
        ("76", "01"): "unionpay.file",
    }.get((params.get("txnType", ""), params.get("txnSubType", "")), "unionpay.other")


def cert_id_of(pem: str) -> str:
    """The certId a merchant puts in requests: its certificate's serial, in decimal."""
    from cryptography import x509

    return str(x509.load_pem_x509_certificate(pem.encode("ascii")).serial_number)


__all__ = ["TEST_MER_ID", "UnionPayChannel", "UnionPayFault", "cert_id_of"]
