"""Hands on the simulated hardware that are not a customer's: the scanner, the
printer's paper and cover, a card pulled mid-command, and time passing.

Their events are published under the hands' ``actor`` (``scenario``, ``counter``).
"""

from __future__ import annotations

import enum
from typing import Any, ClassVar

import attrs

from simulator.events import SUMMARY_ONLY, EventPayload
from simulator.hands.base import HandsBase

# Bytes no scanner decodes to text (lone UTF-8 continuation bytes, never CR or LF):
# the serial driver drops such a frame, and so does the in-process scanner.
NOISE_BYTES = bytes(range(0x80, 0xC0))


@attrs.frozen
class PrinterFaults:
    """A change to the virtual printer's faults (docs/printer.md): ``True`` sets a
    flag, ``False`` clears it; ``*_after`` lets that many more bytes through first;
    ``paper_lines_left`` puts a roll with that many lines left. ``None``: unchanged."""

    paper_end: bool | None = None
    paper_near_end: bool | None = None
    cover_open: bool | None = None
    offline: bool | None = None
    paper_end_after: int | None = None
    cover_open_after: int | None = None
    offline_after: int | None = None
    paper_lines_left: int | None = None

    def given(self) -> dict[str, bool | int]:
        """The changes, by name, in declaration order."""
        return {k: v for k, v in attrs.asdict(self).items() if v is not None}

    def describe(self) -> str:
        return "printer " + ", ".join(f"{k}={v}" for k, v in self.given().items())


@attrs.frozen
class ScannerNoise(EventPayload):
    """Noise on the scanner line: bytes that are no text, and/or a truncated code."""

    kind: ClassVar[str] = "fault"

    garbage: int
    # A partial code's length, never it.
    partial_length: int | None = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        parts = [f"{self.garbage} bytes of garbage"] if self.garbage else []
        if self.partial_length is not None:
            parts.append(f"a partial code of {self.partial_length} characters")
        return "scanner noise: " + " and ".join(parts)


@attrs.frozen
class CardPullArmed(EventPayload):
    """The card will leave the slot at the terminal's ``remove_at_apdu``-th command."""

    kind: ClassVar[str] = "fault"

    remove_at_apdu: int

    def summary(self) -> str:
        return f"card pulled at APDU {self.remove_at_apdu}"


@attrs.frozen
class PrinterFaultsChanged(EventPayload):
    """The virtual printer's faults set, cleared or armed (see :class:`PrinterFaults`)."""

    kind: ClassVar[str] = "printer_fault"

    change: PrinterFaults

    def summary(self) -> str:
        return f"printer fault: {self.change.describe()}"

    def detail(self) -> dict[str, Any]:
        return dict(self.change.given())


class PrinterAction(enum.Enum):
    """What a person did to the printer; the value is how the transcript says it."""

    PAPER_OUT = "paper roll taken out"
    PAPER_REFILLED = "paper refilled"
    COVER_OPENED = "printer cover opened"
    COVER_CLOSED = "printer cover closed"


@attrs.frozen
class PrinterHandled(EventPayload):
    """A person took the paper out, refilled it, opened or closed the cover."""

    kind: ClassVar[str] = "printer_fault"

    action: PrinterAction = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return self.action.value


class Devices(HandsBase):
    """The scanner, the printer, the card slot's fault and the clock."""

    # -- the scanner ------------------------------------------------------------------

    def scan(self, code: str, times: int = 1) -> None:
        """Scan ``code`` (``times`` > 1: the same code delivered again, a doubled scan)."""
        self._scanner("scan a code").scan(code, times)

    def scanner_noise(self, garbage: int, partial: str | None = None) -> None:
        """Noise on the scanner line: ``garbage`` bytes that are no text, ended like a
        code, and/or ``partial``, a truncated code that arrives as a code of its own."""
        scanner = self._scanner("add noise on its line")
        noise = ScannerNoise(garbage, None if partial is None else len(partial))
        self.bus.publish(noise, source=self.actor)
        if garbage:
            repeated = NOISE_BYTES * (garbage // len(NOISE_BYTES) + 1)
            scanner.noise(repeated[:garbage])
        if partial is not None:
            scanner.scan(partial)

    # -- the printer ------------------------------------------------------------------

    def printer_faults(self, change: PrinterFaults) -> None:
        """Set, clear or arm printer faults (see :class:`PrinterFaults`)."""
        faults = change.given()
        self._printer_port("inject its faults").inject(**faults)  # type: ignore[arg-type]
        self.bus.publish(PrinterFaultsChanged(change), source=self.actor)

    def take_paper_out(self) -> None:
        """Pull the paper roll out: paper end."""
        self._printer_port("take its paper out").inject(paper_end=True)
        self.bus.publish(PrinterHandled(PrinterAction.PAPER_OUT), source=self.actor)

    def refill_paper(self) -> None:
        """Load a new roll: paper end and near end clear; a receipt left half-printed is
        torn off (it does not count as a receipt)."""
        self._printer_port("refill its paper").refill_paper()
        self.bus.publish(PrinterHandled(PrinterAction.PAPER_REFILLED), source=self.actor)

    def open_cover(self) -> None:
        self._printer_port("open its cover").inject(cover_open=True)
        self.bus.publish(PrinterHandled(PrinterAction.COVER_OPENED), source=self.actor)

    def close_cover(self) -> None:
        self._printer_port("close its cover").close_cover()
        self.bus.publish(PrinterHandled(PrinterAction.COVER_CLOSED), source=self.actor)

    # -- the card slot ----------------------------------------------------------------

    def pull_card_at(self, apdu: int) -> None:
        """The card leaves the slot mid-command: the terminal's ``apdu``-th command from
        now (1 = the next) finds the slot empty."""
        if apdu < 1:
            raise ValueError(f"the card can be pulled at APDU 1 or later, not {apdu}")
        self._card_slot("pull a card out mid-command").remove_after(apdu - 1)
        self.bus.publish(CardPullArmed(apdu), source=self.actor)

    def pull_tapped_card_at(self, apdu: int) -> None:
        """The tapped card leaves the field too soon: the terminal's ``apdu``-th command
        from now (1 = the next) finds the field empty."""
        if apdu < 1:
            raise ValueError(f"the card can leave at APDU 1 or later, not {apdu}")
        self._picc_slot("take a card out of the field mid-command").remove_after(apdu - 1)
        self.bus.publish(CardPullArmed(apdu), source=self.actor)

    # -- time -------------------------------------------------------------------------

    def wait(self, seconds: float) -> None:
        """Let ``seconds`` pass while the shop goes on (virtual: instant when idle)."""
        self.clock.sleep(seconds)

    def advance(self, seconds: float) -> None:
        """Move the virtual clock ``seconds`` forward at once (timeouts fire)."""
        self.clock.advance(seconds)
