"""Which of the terminal's devices are simulated and which are real, from their URLs.

Pure model code (no Textual). A ``sim://`` device is possim's virtual one,
whatever transport carries its bytes (``?transport=usb`` still reaches a virtual
printer); any other scheme is the real driver on real hardware -- except a
``pcsc://`` reader the simulation itself put a virtual card into through vpcd
(``--card-transport pcsc``): the stack is real, the card is not.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import attrs

from simulator.terminal.config import BUILTIN_GATEWAY, TerminalConfig

# (label, attribute of DeviceURLs) in the order the badges show them.
_DEVICES = (
    ("card", "card_reader"),
    ("PIN", "pin_entry"),
    ("printer", "printer"),
    ("scanner", "scanner"),
    ("speaker", "speaker"),
    ("stripe", "magstripe_reader"),
)


@attrs.frozen
class DeviceBadge:
    device: str
    simulated: bool
    how: str  # "sim", "sim/usb", "pcsc+vpcd", "usb", "espeak" ...
    url: str

    @property
    def text(self) -> str:
        return f"{self.device}:{self.how}"


def device_badges(config: TerminalConfig, card_transport: str) -> list[DeviceBadge]:
    """The badges of a terminal configured so, its card reached over ``card_transport``."""
    badges = []
    for label, field in _DEVICES:
        url = str(getattr(config.devices, field))
        parts = urlsplit(url)
        if parts.scheme == "sim":
            transport = parse_qs(parts.query).get("transport", ["sim"])[0]
            how = "sim" if transport == "sim" else f"sim/{transport}"
            badges.append(DeviceBadge(label, True, how, url))
        elif field == "card_reader" and card_transport == "pcsc":
            badges.append(DeviceBadge(label, True, "pcsc+vpcd", url))
        else:
            badges.append(DeviceBadge(label, False, parts.scheme or url, url))
    for label, url in (("host", config.card_gateway), ("QR", config.qr_gateway)):
        if url == BUILTIN_GATEWAY:
            badges.append(DeviceBadge(label, True, "sim", url))
        else:
            badges.append(DeviceBadge(label, False, urlsplit(url).scheme or url, url))
    return badges
