"""Alipay's faults: the channels' fault kinds (:mod:`simulator.channels.faults`) on
Alipay's OpenAPI methods."""

from __future__ import annotations

from typing import ClassVar

from simulator.channels.faults import ChannelFault


class AlipayFault(ChannelFault):
    """The pay-only kinds apply to ``alipay.trade.pay``."""

    CHANNEL: ClassVar[str] = "Alipay"
    PAY_METHOD: ClassVar[str] = "alipay.trade.pay"
    METHOD_PREFIX: ClassVar[str] = "alipay."
