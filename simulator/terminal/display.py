"""The terminal's screen as a model: what it shows, never how it is drawn.

Apps call :meth:`Display.show`; every change is a :class:`ScreenShown` event,
which the TUI draws and scenarios assert on.
"""

from __future__ import annotations

import enum
import threading
from typing import ClassVar

import attrs

from simulator.events import EventBus, EventPayload


class ScreenId(str, enum.Enum):
    IDLE = "idle"
    PRESENT_CARD = "present_card"
    READING_CARD = "reading_card"
    SELECT_APPLICATION = "select_application"  # the cardholder picks an EMV application
    SWIPE_CARD = "swipe_card"  # chip unreadable: swipe instead (fallback) or swipe again
    INSERT_CHIP = "insert_chip"  # a chip card was swiped: insert it instead
    ENTER_PIN = "enter_pin"
    PROCESSING = "processing"
    REVERSING = "reversing"
    APPROVED = "approved"
    DECLINED = "declined"
    CANCELLED = "cancelled"
    REMOVE_CARD = "remove_card"
    SEE_PHONE = "see_phone"  # contactless: verify on the phone, then tap again
    TAP_AGAIN = "tap_again"  # contactless: the tap failed (card too short, two cards): again
    TRY_ANOTHER_INTERFACE = "try_another_interface"  # contactless refused: insert or swipe
    PAID = "paid"  # the cashier app's "payment received" page
    PRINTER_FAULT = "printer_fault"  # paid, but the receipt waits for the printer
    PAYMENT_FAILED = "payment_failed"
    # QR payments (simulator/terminal/qr_payments.py)
    SCAN_CODE = "scan_code"  # scan the customer's payment code, with a countdown
    WAITING_PAYMENT = "waiting_payment"  # USERPAYING: the customer confirms on the phone
    SHOW_QR = "show_qr"  # a dynamic QR for the customer to scan


@attrs.frozen
class Screen:
    id: ScreenId
    title: str
    lines: tuple[str, ...] = ()

    def text(self) -> str:
        return _text(self.title, self.lines)


@attrs.frozen
class ScreenShown(EventPayload):
    """The display shows a new screen."""

    source: ClassVar[str] = "display"
    kind: ClassVar[str] = "screen"

    screen: ScreenId
    title: str
    lines: tuple[str, ...]

    def summary(self) -> str:
        return f"[{self.screen.value}] {_text(self.title, self.lines)}"


def _text(title: str, lines: tuple[str, ...]) -> str:
    return " | ".join((title, *lines))


class Display:
    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._lock = threading.Lock()
        self._screen = Screen(ScreenId.IDLE, "欢迎使用 Welcome")

    @property
    def screen(self) -> Screen:
        with self._lock:
            return self._screen

    def show(self, screen_id: ScreenId, title: str, *lines: str) -> None:
        screen = Screen(screen_id, title, tuple(lines))
        with self._lock:
            self._screen = screen
        self._bus.publish(ScreenShown(screen_id, title, screen.lines))
