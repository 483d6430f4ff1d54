"""``ShopView``: typed, read-only queries on a simulated shop -- what every
expectation, report and screen reads.

Two kinds of query:

* **streams** -- what happened, in order, from the event stream: screens shown,
  EMV applications selected, ISO 8583 messages the acquirer host saw, the QR
  link's HTTP calls, utterances, notifies. Each comes back as the events
  themselves, typed: an :class:`~simulator.events.Envelope` (``seq``, virtual
  time, the transcript line) around the publisher's payload
  (:class:`~simulator.terminal.display.ScreenShown`,
  :class:`~simulator.gateway.server.HostIsoMessage` ...). A query takes
  ``after=seq``: a *cursor*, the ``seq`` of the last event a caller has dealt
  with (an expectation that matched a screen looks after it next time).
* **state** -- how things stand now: the screen shown, the journal, the
  acquirer's ledger, the QR orders, the money charged, the receipts cut (with
  the kind of each), the simulated devices' state.

Nothing here changes the shop: acting on it is :class:`~simulator.hands.Hands`.

Example::

    >>> from pathlib import Path
    >>> from tempfile import TemporaryDirectory
    >>> from simulator.devices import cards
    >>> from simulator.shop import Shop
    >>> from simulator.terminal.config import TerminalConfig
    >>> with TemporaryDirectory() as folder, Shop(TerminalConfig.load(), Path(folder)) as shop:
    ...     _ = shop.pay_by_card(1234, cards.load("unionpay_debit"))
    ...     mtis = [message.payload.mti for message in shop.view.iso8583()]
    ...     kinds = [receipt.kind for receipt in shop.view.receipts()]
    ...     said = [utterance.payload.text for utterance in shop.view.utterances()]
    >>> mtis, kinds, said
    (['0200', '0210'], ['sale', 'sale'], ['收款成功，十二点三四元'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

from simulator.errors import SimulatorError
from simulator.events import Envelope, Event, of_type
from simulator.gateway.server import HostIsoMessage
from simulator.terminal.acquiring_events import ApplicationSelected
from simulator.terminal.cashier_app import IntentStarted
from simulator.terminal.display import ScreenShown
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.notify_receiver import NotifyJudged
from simulator.terminal.qr_link import QrHttpCall
from simulator.terminal.tracing import PrintJobSent, Said

if TYPE_CHECKING:
    from pathlib import Path

    from simulator.clock import VirtualClock
    from simulator.devices.printer import VirtualPrinter
    from simulator.devices.printer.paper import RenderedReceipt
    from simulator.devices.printer.port import PrinterPort
    from simulator.devices.world import SimulatedWorld
    from simulator.events import EventBus
    from simulator.gateway.builtin import BuiltinGateway
    from simulator.gateway.ledger import LedgerEntry, SettlementRecord
    from simulator.gateway.qr.orders import QrOrder
    from simulator.terminal.config import TerminalConfig
    from simulator.terminal.display import Screen
    from simulator.terminal.journal import JournalEntry, QrEntry, SettlementEntry
    from simulator.terminal.terminal import SaleHandle, Terminal

_CARD_CURRENCY = "156"  # CNY: the built-in acquirer's ledger is in fen of it
# Every channel money is charged on, card first (expect_charged, docs/scenarios.md).
CHANNELS = ("card", "wechat", "alipay", "unionpay_qr")


S = TypeVar("S", bound="Envelope[Any]")


class ViewError(SimulatorError):
    """The shop cannot answer this question (e.g. orders of a gateway not its own)."""


@attrs.frozen
class Receipt:
    """A receipt the printer cut: its text (PANs masked) and what it records
    (a RECEIPT_KINDS value; None: printed from none of the terminal's templates)."""

    text: str
    kind: str | None


class ShopView:
    """Read-only queries on one shop (see the module docstring).

    Args:
        bus: the shop's event stream.
        clock: its virtual clock (queries that wait use it).
        world: the simulated devices.
        terminal: the terminal under test.
        gateway: the built-in gateway.
    """

    def __init__(
        self,
        bus: EventBus,
        clock: VirtualClock,
        world: SimulatedWorld,
        terminal: Terminal,
        gateway: BuiltinGateway,
        *,
        builtin_card_host: bool = True,
    ) -> None:
        self._bus = bus
        # False: card payments go to another host (``possim run --host``), whose
        # traffic is known from the terminal's side of the wire only.
        self.builtin_card_host = builtin_card_host
        self._clock = clock
        self._world = world
        self._terminal = terminal
        self._gateway = gateway
        self._kinds: dict[str, str | None] = {}  # receipt text -> kind (texts repeat)

    # -- streams ----------------------------------------------------------------------

    def events(self, after: int = 0) -> list[Event]:
        """Every event after ``seq`` ``after`` (the whole transcript from 0)."""
        return self._bus.since(after)

    def screens(self, after: int = 0) -> list[Envelope[ScreenShown]]:
        """The screens shown after ``after``, in order."""
        return self._bus.of(ScreenShown, after=after)

    def latest_screen(self) -> Envelope[ScreenShown] | None:
        """The last screen shown (None before the first: the display starts idle)."""
        return next(of_type(reversed(self._bus.events), ScreenShown), None)

    def applications(self, after: int = 0) -> list[Envelope[ApplicationSelected]]:
        """The EMV applications the terminal selected on a chip, after ``after``."""
        return self._bus.of(ApplicationSelected, after=after)

    def iso8583(self, after: int = 0) -> list[Envelope[HostIsoMessage]]:
        """The ISO 8583 messages the acquirer host saw (both directions), in order."""
        return self._bus.of(HostIsoMessage, after=after)

    def intents(self, after: int = 0) -> list[Envelope[IntentStarted]]:
        """The Intents the cashier app (or an outside one, through the door) started."""
        return self._bus.of(IntentStarted, after=after)

    def link_iso8583(self, after: int = 0) -> list[Envelope[LinkIsoMessage]]:
        """The ISO 8583 messages on the terminal's link (requests out, replies in), in order:
        what any host's traffic looks like from the terminal."""
        return self._bus.of(LinkIsoMessage, after=after)

    def http_calls(self, after: int = 0) -> list[Envelope[QrHttpCall]]:
        """The terminal's QR link traffic (requests out, answers in), in order."""
        return self._bus.of(QrHttpCall, after=after)

    def utterances(self, after: int = 0) -> list[Envelope[Said]]:
        """What the speaker said, in order."""
        return self._bus.of(Said, after=after)

    def notifies(self, after: int = 0) -> list[Envelope[NotifyJudged]]:
        """The payment notifies the terminal's receiver judged, in order."""
        return self._bus.of(NotifyJudged, after=after)

    def first(
        self,
        query: Callable[[int], Sequence[S]],
        matches: Callable[[S], bool],
        *,
        after: int,
        within: float,
    ) -> S | None:
        """Wait (on the virtual clock, up to ``within`` seconds) for the first record of
        ``query`` after ``after`` that ``matches``; None if none came."""
        found: list[S] = []

        def seen() -> bool:
            found[:] = [record for record in query(after) if matches(record)][:1]
            return bool(found)

        self._clock.wait_until(seen, within)
        return found[0] if found else None

    # -- the terminal -------------------------------------------------------------------

    @property
    def config(self) -> TerminalConfig:
        return self._terminal.config

    def screen(self) -> Screen:
        """The screen shown now."""
        return self._terminal.display.screen

    def screen_text(self) -> str:
        """``id: text`` of the screen shown now, for messages."""
        screen = self.screen()
        return f"{screen.id.value}: {screen.text()}"

    @property
    def paper_width_chars(self) -> int:
        """Characters a line of the terminal's printer holds."""
        return self._terminal.printer.paper_width_chars

    @property
    def busy(self) -> bool:
        """A sale, refund, void or batch close is running."""
        return self._terminal.busy

    @property
    def cancel_pending(self) -> bool:
        return self._terminal.cancel_pending

    @property
    def current_sale(self) -> SaleHandle | None:
        return self._terminal.current_sale

    def journal(self, batch_no: str | None = None) -> list[JournalEntry]:
        """The terminal's card transactions, oldest first (of one batch if given)."""
        return self._terminal.journal.entries(batch_no=batch_no)

    def qr_journal(self) -> list[QrEntry]:
        """The terminal's QR payments, refunds and voids, oldest first."""
        return self._terminal.journal.qr_entries()

    def last_qr_sale(self) -> QrEntry | None:
        sales = [entry for entry in self.qr_journal() if entry.operation == "sale"]
        return sales[-1] if sales else None

    def settlements(self) -> list[SettlementEntry]:
        """The terminal's batch closes, oldest first."""
        return self._terminal.journal.settlements()

    def card_sale(self, reference: str) -> JournalEntry | None:
        """The card sale with this order number or RRN."""
        return self._terminal.journal.find_sale(reference)

    @property
    def batch_no(self) -> str:
        """The terminal's open card batch."""
        return self._terminal.journal.batch_no

    def receipts(self) -> list[Receipt]:
        """The receipts the printer cut, oldest first (torn-off partial prints are none).

        A simulated printer's own record; a real printer's: what the terminal's driver
        printed (its ``print`` events).
        """
        port, printer = self._world.printer_port, self._world.printer
        if port is not None:
            texts = [receipt.text for receipt in port.receipts()]
        elif printer is not None:
            texts = [receipt.text for receipt in printer.receipts]
        else:
            texts = [job.payload.text for job in self._bus.of(PrintJobSent)]
        return [Receipt(text, self._receipt_kind(text)) for text in texts]

    def _receipt_kind(self, text: str) -> str | None:
        """Told by the template whose fixed wording the receipt carries (the most of it)."""
        if text not in self._kinds:
            best: tuple[int, str | None] = (0, None)
            for kind, templates in self._terminal.receipt_templates.items():
                for template in templates:
                    score = template.recognise(text)
                    if score > best[0]:
                        best = (score, kind)
            self._kinds[text] = best[1]
        return self._kinds[text]

    # -- the gateway --------------------------------------------------------------------

    def ledger(self) -> list[LedgerEntry]:
        """The acquirer's card transactions, oldest first."""
        return self._gateway.ledger.transactions()

    def ledger_settlement(self, stan: str, transmission: str) -> SettlementRecord | None:
        """The acquirer's record of this terminal's batch close ``stan``/``transmission``."""
        tid = self._terminal.config.terminal_id
        return self._gateway.ledger.find_settlement(tid, stan, transmission)

    def qr_orders(self) -> list[QrOrder]:
        """Every order the QR gateway holds."""
        return self._gateway.qr.orders()

    def qr_order(self, out_trade_no: str) -> Mapping[str, Any]:
        """Order ``out_trade_no`` as a query would answer it (``trade_state`` NONE: no
        such order), read from the built-in gateway's own store: no traffic."""
        link = self._terminal.qr_link
        if link is None:
            raise ViewError("the terminal has no QR gateway (the built-in gateway serves none)")
        if link.base_url != self._gateway.qr_base_url:
            raise ViewError(
                f"the terminal's QR gateway is {link.base_url}, not the built-in one: "
                "its orders cannot be inspected"
            )
        answer = self._gateway.qr.query(link.merchant_id, out_trade_no)
        if answer.status == 404:
            return {"trade_state": "NONE"}
        return answer.body

    def charged_fen(self) -> dict[str, int]:
        """Fen each channel holds now: card sales approved and not reversed, less
        approved voids and refunds (the ledger); QR orders paid, less what was
        refunded (none once reversed)."""
        held = dict.fromkeys(CHANNELS, 0)
        held["card"] = self._gateway.ledger.totals().net_amount(_CARD_CURRENCY)
        for order in self._gateway.qr.orders():
            held[order.channel] = held.get(order.channel, 0) + order.charged_fen
        return held

    def background_work_due(self, until: float) -> bool:
        """The gateway delivers a notify now, or has one due by clock time ``until``."""
        return self._gateway.notifier.work_due(until)

    # -- the simulated devices ----------------------------------------------------------

    def simulated(self, device: str) -> bool:
        """Whether the person can act on ``device`` (card_slot, pin_pad, printer_port,
        scanner, magstripe_reader): it is simulated."""
        return getattr(self._world, device) is not None

    @property
    def awaiting_pin(self) -> bool:
        """The simulated PIN pad collects a PIN (False if the pad is real)."""
        pad = self._world.pin_pad
        return pad is not None and pad.awaiting_pin

    @property
    def awaiting_key(self) -> bool:
        """The simulated PIN pad waits for one menu key (an application's number)."""
        pad = self._world.pin_pad
        return pad is not None and pad.awaiting_key

    @property
    def card_inserted(self) -> bool:
        slot = self._world.card_slot
        return slot is not None and slot.inserted_card is not None

    @property
    def swipes_pending(self) -> int:
        reader = self._world.magstripe_reader
        return 0 if reader is None else reader.pending

    def printer_faults(self) -> dict[str, bool]:
        """The virtual printer's paper-out and cover-open flags (empty if it is real)."""
        port = self._world.printer_port
        if port is None:
            return {}
        printer = port.printer
        return {
            "paper_out": bool(printer.faults.paper_out),
            "cover_open": bool(printer.faults.cover_open),
        }

    @property
    def virtual_printer(self) -> VirtualPrinter | None:
        """The simulated printer itself, for reports (its pages, diagnostics, profile)."""
        return self._world.printer

    @property
    def printer_port(self) -> PrinterPort | None:
        return self._world.printer_port

    def cut_receipts(self) -> list[RenderedReceipt]:
        """The receipts :meth:`receipts` counts, as the simulated printer rendered them."""
        port, printer = self._world.printer_port, self._world.printer
        if port is not None:
            return port.receipts()
        return list(printer.receipts) if printer is not None else []

    def wav_files(self) -> list[Path]:
        """The WAV files the simulated speaker rendered (``sim://?wav=DIR``)."""
        speaker = self._world.speaker
        return list(speaker.wav_files) if speaker is not None else []
