"""Model events into Textual messages, from whichever thread they happen on.

The bus, the printer and the counter call their subscribers on the
simulation's threads; :meth:`textual.message_pump.MessagePump.post_message` is
thread-safe, so the bridge only posts. Bus events are not carried in the
message: the app reads ``bus.since(seen)`` on its own thread, so it sees them
in ``seq`` order whatever thread published them, and a burst of events costs
one message.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from textual.message_pump import MessagePump

from simulator.devices.printer.paper import RenderedReceipt
from simulator.events import Event
from simulator.shop import Shop
from simulator.tui.counter import Counter
from simulator.tui.messages import ActionFailed, BusChanged, CounterChanged, ReceiptPrinted


class Bridge:
    def __init__(self, target: MessagePump, shop: Shop, counter: Counter) -> None:
        self._target = target
        self._shop = shop
        self._counter = counter
        self._lock = threading.Lock()
        self._bus_posted = False
        self._detach: list[Callable[[], None]] = []

    def attach(self) -> None:
        self._detach.append(self._shop.bus.subscribe(self._on_event))
        printer = self._shop.view.virtual_printer
        if printer is not None:
            printer.on_receipt.append(self._on_receipt)
            self._detach.append(lambda: printer.on_receipt.remove(self._on_receipt))
        self._counter.on_change.append(self._on_counter)
        self._counter.on_error.append(self._on_error)
        self._detach.append(lambda: self._counter.on_change.remove(self._on_counter))
        self._detach.append(lambda: self._counter.on_error.remove(self._on_error))

    def detach(self) -> None:
        while self._detach:
            self._detach.pop()()

    def bus_read(self) -> None:
        """Called by the app before it reads the bus: the next event posts again."""
        with self._lock:
            self._bus_posted = False

    def _on_event(self, event: Event) -> None:
        with self._lock:
            if self._bus_posted:
                return
            self._bus_posted = True
        self._target.post_message(BusChanged())

    def _on_receipt(self, receipt: RenderedReceipt) -> None:
        printer = self._shop.view.virtual_printer
        profile = printer.profile if printer is not None else None
        self._target.post_message(ReceiptPrinted(receipt.text, receipt, profile))

    def _on_counter(self) -> None:
        self._target.post_message(CounterChanged())

    def _on_error(self, error: BaseException) -> None:
        self._target.post_message(ActionFailed(f"{type(error).__name__}: {error}"))
