"""Drivers wrapped so every exchange becomes a redacted event.

Drivers stay ignorant of events; the terminal wraps whatever the registry gave
it (real or simulated) in these proxies. Redaction happens here, at the one
place every byte passes through.
"""

from __future__ import annotations

from collections.abc import Collection

from drivers.card_reader import CardPresented, CardReader
from drivers.magstripe_reader import MagstripeReader
from drivers.pin_entry import DigitsChanged, PinEntry
from drivers.printer import PrintDocument, Printer, PrinterStatus
from drivers.scanner import Scanner
from drivers.speaker import Speaker
from drivers.wire.iso7816 import command_name, redact_command, redact_response
from drivers.wire.masking import mask_code, mask_track2, pin_asterisks
from simulator.events import EventBus


class TracedCardReader(CardReader):
    def __init__(self, inner: CardReader, bus: EventBus) -> None:
        self.inner = inner
        self.name = inner.name
        self._bus = bus

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        presented = self.inner.wait_for_card(timeout)
        if presented is not None:
            self._bus.publish(
                "card_reader",
                "card",
                f"card presented ({presented.interface.value})",
                interface=presented.interface.value,
                atr=presented.atr.hex().upper(),
            )
        return presented

    def card_present(self) -> bool:
        return self.inner.card_present()

    def connect(self) -> bytes:
        atr = self.inner.connect()
        self._bus.publish("card_reader", "card", f"power on, ATR {atr.hex().upper()}")
        return atr

    def disconnect(self) -> None:
        self.inner.disconnect()
        self._bus.publish("card_reader", "card", "power off")

    def _transmit_raw(self, apdu: bytes) -> bytes:
        name = command_name(apdu)
        command = redact_command(apdu)
        response = self.inner._transmit_raw(apdu)
        sw = response[-2:].hex().upper() if len(response) >= 2 else "----"
        self._bus.publish(
            "card_reader",
            "apdu",
            f"{name}: {command} -> SW {sw}",
            command_name=name,
            command=command,
            response=redact_response(apdu, response),
            sw=sw,
        )
        return response

    def close(self) -> None:
        self.inner.close()


class TracedPinEntry(PinEntry):
    def __init__(self, inner: PinEntry, bus: EventBus) -> None:
        self.inner = inner
        self._bus = bus

    def read_pin(
        self,
        *,
        min_length: int,
        max_length: int,
        timeout: float,
        on_digits: DigitsChanged | None = None,
    ) -> str:
        def digits_changed(count: int) -> None:
            self._bus.publish("pin_entry", "pin", f"PIN: {pin_asterisks(count) or '(empty)'}")
            if on_digits is not None:
                on_digits(count)

        self._bus.publish("pin_entry", "pin", "PIN entry started")
        pin = self.inner.read_pin(
            min_length=min_length, max_length=max_length, timeout=timeout, on_digits=digits_changed
        )
        self._bus.publish(
            "pin_entry", "pin", f"PIN entered: {pin_asterisks(len(pin)) or 'bypassed'}"
        )
        return pin

    def read_key(self, *, keys: Collection[str], timeout: float) -> str:
        # A menu choice (which application), never a PIN digit: safe to trace.
        key = self.inner.read_key(keys=keys, timeout=timeout)
        self._bus.publish("pin_entry", "key", f"key {key} pressed", key=key)
        return key

    def close(self) -> None:
        self.inner.close()


class TracedPrinter(Printer):
    def __init__(self, inner: Printer, bus: EventBus) -> None:
        self.inner = inner
        self.paper_width_chars = inner.paper_width_chars
        self._bus = bus

    def print_document(self, document: PrintDocument) -> None:
        self._bus.publish(
            "printer",
            "print",
            f"print {document.title}",
            title=document.title,
            text=document.plain_text(),
        )
        self.inner.print_document(document)

    def status(self) -> PrinterStatus:
        return self.inner.status()

    def close(self) -> None:
        self.inner.close()


class TracedSpeaker(Speaker):
    def __init__(self, inner: Speaker, bus: EventBus) -> None:
        self.inner = inner
        self._bus = bus

    def say(self, text: str, *, language: str = "zh") -> None:
        self._bus.publish("speaker", "utterance", text, text=text, language=language)
        self.inner.say(text, language=language)

    def close(self) -> None:
        self.inner.close()


class TracedScanner(Scanner):
    def __init__(self, inner: Scanner, bus: EventBus) -> None:
        self.inner = inner
        self._bus = bus

    def read_code(self, timeout: float) -> str | None:
        code = self.inner.read_code(timeout)
        if code is not None:
            # A customer's payment code is a bearer token: only its last 4 digits show.
            shown = mask_code(code) if code.isdigit() and len(code) >= 16 else code
            self._bus.publish("scanner", "scan", f"scanned {shown}", code=shown)
        return code

    def close(self) -> None:
        self.inner.close()


class TracedMagstripeReader(MagstripeReader):
    def __init__(self, inner: MagstripeReader, bus: EventBus) -> None:
        self.inner = inner
        self.name = inner.name
        self._bus = bus

    def take_swipe(self) -> str | None:
        track2 = self.inner.take_swipe()
        if track2 is not None:
            shown = mask_track2(track2) if track2 else "(unreadable)"
            self._bus.publish("magstripe_reader", "swipe", f"card swiped: {shown}", track2=shown)
        return track2

    def swipe_waiting(self) -> bool:
        return self.inner.swipe_waiting()

    def discard_swipes(self) -> None:
        self.inner.discard_swipes()

    def close(self) -> None:
        self.inner.close()
