"""What the channel simulators tell the event stream, when given a bus: each call and
its answer's codes, and each notification attempt. Published with ``source=`` the
channel's name (``alipay``, ``unionpay``); no key, no signature, no payment code."""

from __future__ import annotations

from typing import ClassVar

import attrs

from simulator.events import OMIT_NONE, EventPayload


@attrs.frozen
class ChannelCall(EventPayload):
    """A request answered: the method, the order it concerns, the answer's codes."""

    kind: ClassVar[str] = "channel_call"

    method: str  # alipay.trade.pay ... / unionpay.consume ...
    order: str  # out_trade_no / orderId ("" when the request named none)
    code: str  # 10000, 40004 ... / respCode
    sub_code: str | None = attrs.field(default=None, metadata=OMIT_NONE)

    def summary(self) -> str:
        tail = f" {self.sub_code}" if self.sub_code else ""
        return f"{self.method} {self.order or '-'}: {self.code}{tail}"


@attrs.frozen
class ChannelNotify(EventPayload):
    """One notification delivery attempt and its outcome."""

    kind: ClassVar[str] = "channel_notify"

    order: str
    attempt: int
    outcome: str  # "success", "lost", "no answer: ..." or the merchant's answer

    def summary(self) -> str:
        return f"notify {self.order} attempt {self.attempt}: {self.outcome}"
