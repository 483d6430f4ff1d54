"""Each channel's own statement format, by channel name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from simulator.gateway.backoffice.formats.alipay import AlipayBill
from simulator.gateway.backoffice.formats.card import CardSettlementFile
from simulator.gateway.backoffice.formats.unionpay_qr import UnionPayQrFile
from simulator.gateway.backoffice.formats.wechat import WechatBill
from simulator.gateway.backoffice.statement import StatementFormat

FORMATS: Mapping[str, StatementFormat] = MappingProxyType(
    {
        "wechat": WechatBill(),
        "alipay": AlipayBill(),
        "unionpay_qr": UnionPayQrFile(),
        "card": CardSettlementFile(),
    }
)
