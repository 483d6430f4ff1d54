"""One smart POS: devices opened by URL, the two apps, the journal, the host link.

The same ``Terminal`` runs under the scenario runner, the TUI and the pytest
plugin; only the clock and the device URLs differ.
"""

from __future__ import annotations

import random
import threading
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import attrs

from drivers.card_reader import CardReader
from drivers.clock import Clock
from drivers.magstripe_reader import MagstripeReader
from drivers.pin_entry import PinEntry
from drivers.printer import Printer
from drivers.registry import DeviceContext, DeviceRegistry, registry
from drivers.scanner import Scanner
from drivers.speaker import Speaker
from simulator.errors import TerminalError
from simulator.events import EventBus, Problem
from simulator.terminal.acquiring_app import AcquiringApp
from simulator.terminal.acquiring_events import CancelPressed
from simulator.terminal.announcements import Announcements
from simulator.terminal.authorisation import Authoriser
from simulator.terminal.cashier_app import CashierApp, SaleResult
from simulator.terminal.cashier_cancel import CancelRefused, CashierCancel
from simulator.terminal.config import BUILTIN_GATEWAY, HostEndpoint, TerminalConfig
from simulator.terminal.contactless_sale import ContactlessSale
from simulator.terminal.contract import IntentContract, IntentRequest
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv import TerminalEmvConfig
from simulator.terminal.emv.contactless import ReaderLimits
from simulator.terminal.financial_requests import Merchant
from simulator.terminal.host_link import Iso8583HostLink
from simulator.terminal.journal import Journal
from simulator.terminal.notify_receiver import NotifyReceiver
from simulator.terminal.qr_link import QrLink
from simulator.terminal.qr_payments import QrPayments
from simulator.terminal.settlement import BatchClose
from simulator.terminal.tracing import (
    TracedCardReader,
    TracedMagstripeReader,
    TracedPinEntry,
    TracedPrinter,
    TracedScanner,
    TracedSpeaker,
)
from simulator.wire.iso8583 import Iso8583Codec, Iso8583Spec
from simulator.wire.receipts import ReceiptTemplate
from simulator.wire.response_codes import ResponseCodes

# What the terminal prints, by what it records (Terminal.receipt_templates): a sale's,
# a void's or a refund's receipt (card or QR), the pre-authorisation family's slips, a
# dynamic QR's slip, the settlement report.
RECEIPT_KINDS = (
    "sale",
    "void",
    "refund",
    "preauth",
    "preauth_completion",
    "preauth_void",
    "preauth_completion_void",
    "qr_slip",
    "settlement",
)


@attrs.frozen
class TerminalCrashed(Problem):
    """The terminal's thread died of an exception (a bug): its traceback."""

    source: ClassVar[str] = "terminal"

    traceback: str


class SaleHandle:
    """A sale running on the terminal's own thread, as the cashier app would."""

    def __init__(self, clock: Clock, bus: EventBus, work: Callable[[], SaleResult]) -> None:
        self._clock = clock
        self._bus = bus
        self._work = work
        self._done = False
        self.result: SaleResult | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="possim-terminal", daemon=True)
        self._started = threading.Event()

    def start(self) -> None:
        self._thread.start()
        # Until the thread has registered as an actor, the clock must not
        # believe the terminal idle.
        self._started.wait()

    def _run(self) -> None:
        with self._clock.actor():
            self._started.set()
            try:
                self.result = self._work()
            except BaseException as exc:  # reported to whoever waits on the sale
                self.error = exc
                self._bus.publish(
                    TerminalCrashed(
                        f"terminal crashed: {type(exc).__name__}: {exc}", traceback.format_exc()
                    )
                )
            finally:
                self._done = True
                # Whoever waits for the sale on a real clock is woken by news only.
                self._clock.notify()

    @property
    def finished(self) -> bool:
        return self._done

    def wait(self, timeout: float | None) -> SaleResult | None:
        """The sale's result; ``None`` if it is still running after ``timeout``."""
        if not self._clock.wait_until(lambda: self._done, timeout):
            return None
        if self.error is not None:
            raise TerminalError(f"the terminal crashed: {self.error!r}") from self.error
        return self.result

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


class Terminal:
    def __init__(
        self,
        config: TerminalConfig,
        *,
        clock: Clock,
        bus: EventBus,
        rng: random.Random,
        workdir: Path,
        host: HostEndpoint,
        simulation: object | None = None,
        devices: DeviceRegistry = registry,
        qr_url: str | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.bus = bus
        context = DeviceContext(clock=clock, simulation=simulation)
        urls = config.devices
        self.card_reader = TracedCardReader(
            devices.open(CardReader, urls.card_reader, context), bus
        )
        self.contactless_reader: TracedCardReader | None = None
        if urls.contactless_reader:
            self.contactless_reader = TracedCardReader(
                devices.open(CardReader, urls.contactless_reader, context), bus
            )
        self.pin_entry = TracedPinEntry(devices.open(PinEntry, urls.pin_entry, context), bus)
        self.printer = TracedPrinter(devices.open(Printer, urls.printer, context), bus)
        self.scanner = TracedScanner(devices.open(Scanner, urls.scanner, context), bus)
        self.speaker = TracedSpeaker(devices.open(Speaker, urls.speaker, context), bus)
        self.magstripe_reader = TracedMagstripeReader(
            devices.open(MagstripeReader, urls.magstripe_reader, context), bus
        )
        self.display = Display(bus)
        # The cashier's CANCEL, taken by the payment's waits (cashier_cancel.py).
        self.cashier_cancel = CashierCancel(clock, bus)
        self.journal = Journal(workdir / "journal.sqlite", clock)
        codec = Iso8583Codec(Iso8583Spec.load(host.spec))
        self.host_link = Iso8583HostLink(
            host.host,
            host.port,
            codec=codec,
            framing=host.framing(),
            clock=clock,
            bus=bus,
            tpdu=host.tpdu,
            mac=host.message_mac(codec, config.keys.mac_key_bytes),
        )
        contract = IntentContract.load(config.vendor)
        merchant = Merchant(config.terminal_id, config.merchant_id, config.currency)
        # QR payments: the gateway's HTTP API ([gateway] qr, or the built-in
        # gateway's URL passed in) and a loopback listener for its notifies.
        if config.qr_gateway != BUILTIN_GATEWAY:
            qr_url = config.qr_gateway
        self.qr_link: QrLink | None = None
        self.notify_receiver: NotifyReceiver | None = None
        qr: QrPayments | None = None
        qr_slip: ReceiptTemplate | None = None
        if qr_url is not None:
            self.qr_link = QrLink(
                qr_url,
                merchant_id=config.merchant_id,
                terminal_id=config.terminal_id,
                api_key=config.keys.merchant_api_key,
                bus=bus,
                timeout=config.timeouts.qr_http,
            )
            self.notify_receiver = NotifyReceiver(
                api_key=config.keys.merchant_api_key, clock=clock, bus=bus
            )
            printer = self.printer
            qr_slip = ReceiptTemplate.load("qr_slip")
            qr = QrPayments(
                link=self.qr_link,
                notifies=self.notify_receiver,
                scanner=self.scanner,
                journal=self.journal,
                display=self.display,
                bus=bus,
                clock=clock,
                timeouts=config.timeouts,
                merchant=merchant,
                merchant_name=config.merchant_name,
                print_document=printer.print_document,
                slip=qr_slip,
                paper_width=lambda: printer.paper_width_chars,
                cashier_cancel=self.cashier_cancel,
            )
        authoriser = Authoriser(
            host_link=self.host_link,
            journal=self.journal,
            display=self.display,
            bus=bus,
            clock=clock,
            merchant=merchant,
            timeouts=config.timeouts,
            response_codes=ResponseCodes.load(),
            completion_advice=config.preauth_completion == "advice",
        )
        report_printer = self.printer
        settlement_report = ReceiptTemplate.load("settlement")
        batch_close = BatchClose(
            host_link=self.host_link,
            journal=self.journal,
            authoriser=authoriser,
            display=self.display,
            bus=bus,
            clock=clock,
            merchant=merchant,
            merchant_name=config.merchant_name,
            timeouts=config.timeouts,
            print_document=report_printer.print_document,
            paper_width=lambda: report_printer.paper_width_chars,
            report=settlement_report,
        )
        emv_config = TerminalEmvConfig(
            terminal_country=config.country.zfill(4),
            currency=config.currency.zfill(4),
            floor_limit_fen=config.emv.floor_limit_fen,
        )
        contactless: ContactlessSale | None = None
        if self.contactless_reader is not None:
            limits = config.contactless
            contactless = ContactlessSale(
                reader=self.contactless_reader,
                limits=ReaderLimits(
                    limits.transaction_limit_fen,
                    limits.floor_limit_fen,
                    limits.cvm_required_limit_fen,
                ),
                emv_config=emv_config,
                authoriser=authoriser,
                display=self.display,
                bus=bus,
                clock=clock,
                rng=rng,
                pin_key=config.keys.pin_key_bytes,
            )
        self.acquiring_app = AcquiringApp(
            contract=contract,
            card_reader=self.card_reader,
            pin_entry=self.pin_entry,
            authoriser=authoriser,
            display=self.display,
            bus=bus,
            clock=clock,
            rng=rng,
            emv_config=emv_config,
            timeouts=config.timeouts,
            pin_key=config.keys.pin_key_bytes,
            magstripe_reader=self.magstripe_reader,
            qr=qr,
            batch_close=batch_close,
            cashier_cancel=self.cashier_cancel,
            merchant_name=config.merchant_name,
            contactless=contactless,
        )
        self.cashier_app = CashierApp(
            contract=contract,
            launcher=self.acquiring_app.on_intent,
            speaker=self.speaker,
            printer=self.printer,
            receipt=ReceiptTemplate.load(config.receipt),
            merchant_name=config.merchant_name,
            display=self.display,
            bus=bus,
            clock=clock,
            printer_wait=config.timeouts.printer,
            announcer=Announcements.load(config.announcements).announcer(
                config.announcement_language
            ),
        )
        # What each kind of receipt is printed from (a scenario tells them apart by it).
        self.receipt_templates: dict[str, tuple[ReceiptTemplate, ...]] = {
            **self.cashier_app.receipt_templates,
            "qr_slip": () if qr_slip is None else (qr_slip,),
            "settlement": (settlement_report,),
        }
        self._sale: SaleHandle | None = None

    @property
    def current_sale(self) -> SaleHandle | None:
        return self._sale

    @property
    def busy(self) -> bool:
        return self._sale is not None and not self._sale.finished

    @property
    def cancel_pending(self) -> bool:
        """The cashier's CANCEL was taken and the payment has not acted on it yet."""
        return self.cashier_cancel.requested

    def cancel(self) -> bool:
        """The cashier presses CANCEL on the terminal (thread-safe: the TUI, a scenario step).

        Taken while the payment waits for the card (insert / swipe), for the
        customer's payment code, or for the customer to pay a dynamic QR or confirm
        a USERPAYING payment: the waiting thread wakes at once and the payment ends.
        Waiting for a card or a code it ends CANCELED "cancelled by the cashier" with
        nothing sent; a QR order is queried once more and then reversed (a scanned
        code) or closed (a dynamic QR) as on the timeout path -- unless the customer
        has paid meanwhile: then the notify, that query or the close's ORDER_PAID wins
        and the sale is approved (docs/qr_terminal.md, "The cashier cancels").

        Returns True if the payment took it (it then ends promptly, as above) and
        False if the terminal is idle (nothing to cancel, nothing happens). Raises
        :class:`~simulator.terminal.cashier_cancel.CancelRefused` (a
        ``TerminalError``) while the terminal is busy with what cannot be cancelled:
        reading the card, authorising with the host, reversing, printing. PIN entry
        is cancelled on the PIN pad (its CANCEL key), not here.
        """
        if not self.busy:
            return False
        if self.cashier_cancel.request():
            return True
        if not self.busy:
            return False  # it finished in between
        reason = self._cancel_refusal()
        self.bus.publish(CancelPressed(False, reason=reason))
        raise CancelRefused(reason)

    def _cancel_refusal(self) -> str:
        screen = self.display.screen
        if screen.id is ScreenId.ENTER_PIN:
            return "the cardholder is entering the PIN: CANCEL on the PIN pad cancels it"
        return (
            "the terminal is not waiting for the card, a payment code or the customer "
            f"and cannot be cancelled now ({screen.id.value}: {screen.title})"
        )

    def start_sale(self, amount_fen: int, method: str = "card", issuance: str = "") -> SaleHandle:
        return self._start(lambda: self.cashier_app.sale(amount_fen, method, issuance))

    def start_refund(self, orig_order_no: str, amount_fen: int, method: str) -> SaleHandle:
        """Refund (part of) an earlier payment: a QR out_trade_no, a card order number or RRN."""
        return self._start(lambda: self.cashier_app.refund(orig_order_no, amount_fen, method))

    def start_void(self, orig_order_no: str, amount_fen: int, method: str) -> SaleHandle:
        """Void (same day) an earlier payment: a QR out_trade_no or a card order number."""
        return self._start(lambda: self.cashier_app.void(orig_order_no, amount_fen, method))

    def start_relay(self, request: IntentRequest | Mapping[str, Any]) -> SaleHandle:
        """Run an outside cashier app's Intent (see ``CashierApp.relay``); it must
        follow the vendor contract: check it with
        ``acquiring_app.contract.parse_request`` first."""
        return self._start(lambda: self.cashier_app.relay(request))

    def start_preauth(
        self,
        operation: str,
        amount_fen: int,
        orig_order_no: str = "",
        *,
        orig_auth_code: str = "",
        orig_date: str = "",
    ) -> SaleHandle:
        """A card pre-auth or one of its follow-ups (CashierApp.preauth)."""
        return self._start(
            lambda: self.cashier_app.preauth(
                operation,
                amount_fen,
                orig_order_no,
                orig_auth_code=orig_auth_code,
                orig_date=orig_date,
            )
        )

    def start_settlement(self) -> SaleHandle:
        """Close the card batch (0500) and print the settlement report."""
        return self._start(self.cashier_app.settle)

    def _start(self, work: Callable[[], SaleResult]) -> SaleHandle:
        if self.busy:
            raise TerminalError("the terminal is still busy with the previous sale")
        self._sale = SaleHandle(self.clock, self.bus, work)
        self._sale.start()
        return self._sale

    def close(self) -> None:
        self.host_link.close()
        if self.notify_receiver is not None:
            self.notify_receiver.close()
        for device in (
            self.card_reader,
            self.pin_entry,
            self.printer,
            self.scanner,
            self.speaker,
            self.magstripe_reader,
        ):
            device.close()
        if self.contactless_reader is not None:
            self.contactless_reader.close()
        self.journal.close()
