"""WeChat Pay, simulated: its v2 XML and v3 JSON APIs on loopback (docs/channel_wechat.md)."""
