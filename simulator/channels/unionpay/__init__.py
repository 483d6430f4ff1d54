"""UnionPay QR in the ACP (全渠道) style, simulated: signed form requests and answers, the
C2B payment-code consumption and the B2C order, notifications to ``backUrl``.

See docs/channel_unionpay.md.
"""
