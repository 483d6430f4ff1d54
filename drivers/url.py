"""Device URLs: ``scheme://target?key=value&...`` names every device, real or simulated."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, unquote, urlsplit

import attrs

from drivers.errors import DeviceURLError


@attrs.frozen
class DeviceURL:
    """A parsed device URL: ``scheme://target?key=value&...``."""

    raw: str
    scheme: str
    target: str
    params: Mapping[str, str] = attrs.field(factory=dict)

    @classmethod
    def parse(cls, url: str) -> DeviceURL:
        if "://" not in url:
            raise DeviceURLError(f"{url!r} is not a device URL: expected scheme://target")
        parts = urlsplit(url)
        if not parts.scheme:
            raise DeviceURLError(f"{url!r} has no scheme")
        target = unquote(parts.netloc + parts.path)
        return cls(
            raw=url,
            scheme=parts.scheme.lower(),
            target=target,
            params=dict(parse_qsl(parts.query, keep_blank_values=True)),
        )
