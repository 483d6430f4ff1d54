"""Drivers wrapped so every exchange becomes a redacted event.

Drivers stay ignorant of events; the terminal wraps whatever the registry gave
it (real or simulated) in these proxies, which publish the payloads below.
Redaction happens here, at the one place every byte passes through: a payload
holds no PIN, no full PAN and no track 2.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import ClassVar

import attrs

from drivers.card_reader import CardPresented, CardReader
from drivers.magstripe_reader import MagstripeReader
from drivers.pin_entry import DigitsChanged, PinEntry
from drivers.printer import PrintDocument, Printer, PrinterStatus
from drivers.scanner import Scanner
from drivers.speaker import Speaker
from drivers.wire.iso7816 import command_name, redact_command, redact_response
from drivers.wire.masking import mask_code, mask_track2, pin_asterisks
from simulator.events import SUMMARY_ONLY, EventBus, EventPayload

# -- the card reader ------------------------------------------------------------------


@attrs.frozen
class CardDetected(EventPayload):
    """A card came into the reader's field or slot."""

    source: ClassVar[str] = "card_reader"
    kind: ClassVar[str] = "card"

    interface: str  # a drivers.card_reader.Interface value
    atr: str  # hex

    def summary(self) -> str:
        return f"card presented ({self.interface})"


@attrs.frozen
class CardPoweredOn(EventPayload):
    source: ClassVar[str] = "card_reader"
    kind: ClassVar[str] = "card"

    atr: str = attrs.field(metadata=SUMMARY_ONLY)  # hex

    def summary(self) -> str:
        return f"power on, ATR {self.atr}"


@attrs.frozen
class CardPoweredOff(EventPayload):
    source: ClassVar[str] = "card_reader"
    kind: ClassVar[str] = "card"

    def summary(self) -> str:
        return "power off"


@attrs.frozen
class ApduExchanged(EventPayload):
    """One command to the card and its response, redacted (hex)."""

    source: ClassVar[str] = "card_reader"
    kind: ClassVar[str] = "apdu"

    command_name: str
    command: str
    response: str
    sw: str  # the status word, "----" if the response had none

    def summary(self) -> str:
        return f"{self.command_name}: {self.command} -> SW {self.sw}"


# -- the PIN pad ------------------------------------------------------------------------


@attrs.frozen
class PinEntryStarted(EventPayload):
    source: ClassVar[str] = "pin_entry"
    kind: ClassVar[str] = "pin"

    def summary(self) -> str:
        return "PIN entry started"


@attrs.frozen
class PinDigitsChanged(EventPayload):
    """The cardholder typed or cleared a digit: how many there are, never which."""

    source: ClassVar[str] = "pin_entry"
    kind: ClassVar[str] = "pin"

    count: int = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"PIN: {pin_asterisks(self.count) or '(empty)'}"


@attrs.frozen
class PinEntered(EventPayload):
    """The PIN is complete (``length`` 0: bypassed)."""

    source: ClassVar[str] = "pin_entry"
    kind: ClassVar[str] = "pin"

    length: int = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"PIN entered: {pin_asterisks(self.length) or 'bypassed'}"


@attrs.frozen
class KeyPressed(EventPayload):
    """A menu key (which application), never a PIN digit."""

    source: ClassVar[str] = "pin_entry"
    kind: ClassVar[str] = "key"

    key: str

    def summary(self) -> str:
        return f"key {self.key} pressed"


# -- the printer, the speaker, the scanner, the magstripe reader -----------------------


@attrs.frozen
class PrintJobSent(EventPayload):
    """The terminal sends a document to its printer (PANs in it masked)."""

    source: ClassVar[str] = "printer"
    kind: ClassVar[str] = "print"

    title: str
    text: str

    def summary(self) -> str:
        return f"print {self.title}"


@attrs.frozen
class Said(EventPayload):
    """The speaker says ``text``."""

    source: ClassVar[str] = "speaker"
    kind: ClassVar[str] = "utterance"

    text: str
    language: str

    def summary(self) -> str:
        return self.text


@attrs.frozen
class CodeScanned(EventPayload):
    """The scanner read a code (a customer's payment code: only its last 4 digits)."""

    source: ClassVar[str] = "scanner"
    kind: ClassVar[str] = "scan"

    code: str

    def summary(self) -> str:
        return f"scanned {self.code}"


@attrs.frozen
class CardSwiped(EventPayload):
    """A card was swiped (its track 2 masked; "(unreadable)" if none was read)."""

    source: ClassVar[str] = "magstripe_reader"
    kind: ClassVar[str] = "swipe"

    track2: str

    def summary(self) -> str:
        return f"card swiped: {self.track2}"


# -- the proxies ------------------------------------------------------------------------


class TracedCardReader(CardReader):
    def __init__(self, inner: CardReader, bus: EventBus) -> None:
        self.inner = inner
        self.name = inner.name
        self._bus = bus

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        presented = self.inner.wait_for_card(timeout)
        if presented is not None:
            self._bus.publish(CardDetected(presented.interface.value, presented.atr.hex().upper()))
        return presented

    def card_present(self) -> bool:
        return self.inner.card_present()

    def presentation(self) -> int | None:
        return self.inner.presentation()

    def connect(self) -> bytes:
        atr = self.inner.connect()
        self._bus.publish(CardPoweredOn(atr.hex().upper()))
        return atr

    def disconnect(self) -> None:
        self.inner.disconnect()
        self._bus.publish(CardPoweredOff())

    def _transmit_raw(self, apdu: bytes) -> bytes:
        name = command_name(apdu)
        command = redact_command(apdu)
        response = self.inner._transmit_raw(apdu)
        sw = response[-2:].hex().upper() if len(response) >= 2 else "----"
        self._bus.publish(ApduExchanged(name, command, redact_response(apdu, response), sw))
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
            self._bus.publish(PinDigitsChanged(count))
            if on_digits is not None:
                on_digits(count)

        self._bus.publish(PinEntryStarted())
        pin = self.inner.read_pin(
            min_length=min_length, max_length=max_length, timeout=timeout, on_digits=digits_changed
        )
        self._bus.publish(PinEntered(len(pin)))
        return pin

    def read_key(self, *, keys: Collection[str], timeout: float) -> str:
        # A menu choice (which application), never a PIN digit: safe to trace.
        key = self.inner.read_key(keys=keys, timeout=timeout)
        self._bus.publish(KeyPressed(key))
        return key

    def close(self) -> None:
        self.inner.close()


class TracedPrinter(Printer):
    def __init__(self, inner: Printer, bus: EventBus) -> None:
        self.inner = inner
        self.paper_width_chars = inner.paper_width_chars
        self._bus = bus

    def print_document(self, document: PrintDocument) -> None:
        self._bus.publish(PrintJobSent(document.title, document.plain_text()))
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
        self._bus.publish(Said(text, language))
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
            self._bus.publish(CodeScanned(shown))
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
            self._bus.publish(CardSwiped(shown))
        return track2

    def swipe_waiting(self) -> bool:
        return self.inner.swipe_waiting()

    def discard_swipes(self) -> None:
        self.inner.discard_swipes()

    def close(self) -> None:
        self.inner.close()
