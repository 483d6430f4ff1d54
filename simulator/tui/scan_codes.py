"""Sample customer payment codes for the scanner widget, one or more per wallet.

The same codes the scenario library scans (scenarios/qr_*.yaml), so what a
person tries in the TUI is what QA's scenarios prove; the gateway routes each
by its prefix and length (firmware_fixtures/gateway/qr_channels.yaml).
"""

from __future__ import annotations

import attrs

from drivers.wire.masking import mask_code


@attrs.frozen
class SampleCode:
    wallet: str  # the channel the gateway routes it to ("" for none)
    label: str
    code: str = attrs.field(repr=False)

    @property
    def shown(self) -> str:
        """How the widget shows it: the wallet and the last four digits only."""
        return f"{self.label} {mask_code(self.code)}"


SAMPLE_CODES: tuple[SampleCode, ...] = (
    SampleCode("wechat", "微信 WeChat", "134567890123456789"),
    SampleCode("alipay", "支付宝 Alipay", "285678901234567890"),
    SampleCode("unionpay_qr", "云闪付 UnionPay", "6225678901234567890"),
    SampleCode("", "invalid code", "999999999999999999"),
)
