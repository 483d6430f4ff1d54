"""The built-in gateway's QR payment channels: WeChat Pay, Alipay and UnionPay QR
behind one aggregator HTTP API (docs/qr_api.md)."""
