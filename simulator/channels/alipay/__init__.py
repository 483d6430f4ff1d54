"""Alipay's OpenAPI gateway (``gateway.do``), simulated: RSA2-signed requests and answers,
the face-to-face trade state machine, signed async notifications and bills.

See docs/channel_alipay.md.
"""
