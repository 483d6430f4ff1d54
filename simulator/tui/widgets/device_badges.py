"""One badge per device and host: simulated (sim) or real, from the configured URLs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

if TYPE_CHECKING:
    from simulator.tui.badges import DeviceBadge


class DeviceBadges(Static):
    DEFAULT_CSS = """
    DeviceBadges { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.badges: list[DeviceBadge] = []

    def show(self, badges: Sequence[DeviceBadge]) -> None:
        self.badges = list(badges)
        text = Text()
        for badge in self.badges:
            style = "black on cyan" if badge.simulated else "black on green"
            text.append(f" {badge.text} ", style=style)
            text.append(" ")
        self.tooltip = "\n".join(f"{b.device}: {b.url}" for b in self.badges)
        self.update(text)
