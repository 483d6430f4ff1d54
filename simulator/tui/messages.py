"""Messages from the model side (bridge, operator thread) up to the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from drivers.printer.profile import PrinterProfile
    from simulator.devices.printer.paper import RenderedReceipt


class BusChanged(Message):
    """New events are on the bus: read them with ``bus.since`` (in order)."""


class CounterChanged(Message):
    """The person's side changed: amount typed, card chosen, card in or out."""


class ReceiptPrinted(Message):
    """The virtual printer cut a receipt; ``text`` is the paper as printed, ``receipt``
    its lines and ``profile`` the printer's, to draw its pictures (when known)."""

    def __init__(
        self,
        text: str,
        receipt: RenderedReceipt | None = None,
        profile: PrinterProfile | None = None,
    ) -> None:
        super().__init__()
        self.text = text
        self.receipt = receipt
        self.profile = profile


class ActionFailed(Message):
    """An action of the person could not be carried out (shown, never fatal)."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class PlaybackChanged(Message):
    """A played scenario's step states, speed or pause changed."""


class PlaybackFinished(Message):
    """The played scenario ended (passed or failed): the result is on the app."""
