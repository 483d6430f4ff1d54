"""The shapes of Alipay's answers: public codes (opendocs.alipay.com/common/02km9f, 公共错误码)."""

from __future__ import annotations

from typing import Any

SUCCESS = "10000"
WAITING = "10003"  # 业务处理中: alipay.trade.pay waits for the buyer; query until a result
UNAVAILABLE = "20000"
MISSING = "40001"
INVALID = "40002"
BUSINESS_FAILED = "40004"

_MSG = {
    SUCCESS: "Success",
    WAITING: " order success pay inprocess",
    UNAVAILABLE: "Service Currently Unavailable",
    MISSING: "Missing Required Arguments",
    INVALID: "Invalid Arguments",
    BUSINESS_FAILED: "Business Failed",
}


class Refused(Exception):
    """A request refused with a public or business code; the answer's node."""

    def __init__(self, code: str, sub_code: str, sub_msg: str) -> None:
        super().__init__(f"{code} {sub_code}: {sub_msg}")
        self.code = code
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def node(self, **extra: Any) -> dict[str, Any]:
        return {
            "code": self.code,
            "msg": _MSG[self.code],
            "sub_code": self.sub_code,
            "sub_msg": self.sub_msg,
            **extra,
        }


def ok(**fields: Any) -> dict[str, Any]:
    return {"code": SUCCESS, "msg": _MSG[SUCCESS], **fields}


def waiting(**fields: Any) -> dict[str, Any]:
    return {"code": WAITING, "msg": _MSG[WAITING], **fields}


def business(sub_code: str, sub_msg: str) -> Refused:
    return Refused(BUSINESS_FAILED, sub_code, sub_msg)


def invalid_parameter(what: str) -> Refused:
    return business("ACQ.INVALID_PARAMETER", f"参数无效: {what}")


# The business sub-codes possim answers, with Alipay's texts (the error tables of
# alipay.trade.pay/query/refund/cancel/close, opendocs.alipay.com/open/194/106039 ff.).
TRADE_NOT_EXIST = ("ACQ.TRADE_NOT_EXIST", "交易不存在")
TRADE_HAS_SUCCESS = ("ACQ.TRADE_HAS_SUCCESS", "交易已被支付")
TRADE_HAS_CLOSE = ("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
TRADE_STATUS_ERROR = ("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
CONTEXT_INCONSISTENT = ("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改")
AUTH_CODE_INVALID = (
    "ACQ.PAYMENT_AUTH_CODE_INVALID",
    "支付失败，获取顾客账户信息失败，请顾客刷新付款码后重新收款，如再次收款失败，请联系管理员处理。",
)
BALANCE_NOT_ENOUGH = ("ACQ.BUYER_BALANCE_NOT_ENOUGH", "买家余额不足")
SYSTEM_ERROR = ("ACQ.SYSTEM_ERROR", "系统错误")
REFUND_AMT_EXCEEDED = ("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
BILL_NOT_EXIST = ("isp.bill_not_exist", "账单不存在")
