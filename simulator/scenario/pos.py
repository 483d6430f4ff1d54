"""A simulated smart POS for Python tests: the object behind the pytest ``pos`` fixture.

:class:`Pos` is one :class:`~simulator.shop.Shop` (terminal, simulated
devices, the built-in gateway on loopback, the virtual clock) with the helpers
a test needs: pay by card or QR the way a cardholder or a customer does, then
read back what the shop did -- receipts, speech, the acquirer's ledger, the
terminal's journal, the event stream and the screen. Anything else a person
does is ``pos.hands`` (:class:`~simulator.hands.Hands`), anything else to read
``pos.view`` (:class:`~simulator.view.ShopView`). Any scenario step also runs
from Python (:meth:`Pos.step`), so expectations are the same code as in YAML
and fail with the same messages.

The fixture (:mod:`simulator.scenario.pytest_plugin`) honours ``--pos-seed``
and the ``--pos-printer`` / ``--pos-card-reader`` / ``--pos-scanner`` /
``--pos-speaker`` device URLs.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from drivers.errors import did_you_mean
from simulator.errors import ConfigError, TerminalError
from simulator.events import Event, JsonlTranscript
from simulator.gateway.ledger import LedgerEntry
from simulator.hands import Hands
from simulator.scenario.args import parse
from simulator.scenario.model import Scenario, Step, Where
from simulator.scenario.runner import ScenarioRun
from simulator.scenario.steps import STEPS
from simulator.scenario.steps.card import InsertCard, RemoveCard
from simulator.scenario.steps.pin_pad import EnterPin
from simulator.scenario.steps.qr import CustomerPaysQr
from simulator.scenario.steps.sale import Sale
from simulator.shop import Shop
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import DeviceURLs, TerminalConfig
from simulator.terminal.display import Screen
from simulator.terminal.journal import JournalEntry, QrEntry
from simulator.view import ShopView

# pay_by_card's default PIN: whatever the card's image says its PIN is.
CARD_PIN = "card default"
# Virtual seconds a sale may take (timeouts, reversals) before a helper gives up.
SALE_WITHIN = 3600.0


def with_devices(config: TerminalConfig, overrides: Mapping[str, str]) -> TerminalConfig:
    """``config`` with some ``[devices]`` URLs replaced (``{"printer": "usb://0416:5011"}``)."""
    known = set(attrs.fields_dict(DeviceURLs))
    unknown = set(overrides) - known
    if unknown:
        raise ConfigError(
            config.source or "<config>",
            f"unknown device(s) {sorted(unknown)}: expected some of {sorted(known)}",
        )
    return attrs.evolve(config, devices=attrs.evolve(config.devices, **overrides))


class Pos:
    """One simulated shop, driven from a test. Close it (or use ``with``)."""

    def __init__(
        self,
        workdir: Path,
        *,
        config: TerminalConfig | None = None,
        seed: int = 0,
        name: str = "pos",
        card_transport: str = "sim",
        printer_transport: str | None = None,
        scanner_transport: str | None = None,
    ) -> None:
        config = config or TerminalConfig.load()
        self.workdir = workdir
        self.seed = seed
        self.config = config
        self.shop = Shop(
            config,
            workdir,
            seed=seed,
            card_transport=card_transport,
            printer_transport=printer_transport,
            scanner_transport=scanner_transport,
        )
        self._transcript = JsonlTranscript.open(workdir / "transcript.jsonl")
        self.shop.bus.subscribe(self._transcript)
        source = config.source or Path("<config>")
        # The same state scenario steps act on, so every step runs from Python too.
        self.run = ScenarioRun(
            Scenario(
                path=Path(name), name=name, purpose="", seed=seed, terminal=str(source), steps=()
            ),
            self.shop,
        )

    # -- what a cardholder, a cashier and a customer do ------------------------------

    def pay_by_card(
        self, amount: str, card: str = "unionpay_debit", pin: str | None = CARD_PIN
    ) -> SaleResult:
        """Sell ``amount`` (yuan, e.g. ``"12.34"``) to a chip card: insert, PIN, remove.

        ``card`` is a catalogue name or an image file; ``pin`` is the card's own
        PIN by default, ``"wrong"`` or other digits, or ``None`` for a cardholder
        who never types one (the PIN prompt times out, if there is one). The
        same steps as the YAML ``sale`` / ``insert_card`` / ``enter_pin`` /
        ``remove_card``, so ``pos.step("expect_...")`` checks this sale afterwards.
        """
        where = _caller()
        steps = [parse(Sale, amount, where), parse(InsertCard, card, where)]
        enter_pin = (
            None if pin is None else parse(EnterPin, "card" if pin == CARD_PIN else pin, where)
        )
        view = self.view
        with self.shop.clock.actor():
            for action in steps:
                self._run(action)
            if view.awaiting_pin:
                if enter_pin is not None:
                    self._run(enter_pin)
                else:
                    self.shop.clock.wait_until(lambda: not view.awaiting_pin, SALE_WITHIN)
            self._run(parse(RemoveCard, None, where))
            return self._result()

    def pay_by_qr(self, amount: str, wallet: str = "wechat") -> SaleResult:
        """Show a dynamic QR for ``amount`` and let a customer pay it with ``wallet``
        (wechat, alipay or unionpay_qr): the YAML ``sale: {method: WALLET}`` and
        ``customer_pays_qr`` steps."""
        where = _caller()
        pays = parse(CustomerPaysQr, {"wallet": wallet}, where)
        sale = parse(Sale, {"amount": amount, "method": wallet}, where)
        with self.shop.clock.actor():
            self._run(sale)
            self._run(pays)
            return self._result()

    def _result(self) -> SaleResult:
        sale = self.run.state.sale
        result = None if sale is None else sale.wait(SALE_WITHIN)
        if result is None:
            raise TerminalError(f"the sale did not finish: {self.screen.text()}")
        self.shop.clock.settle()  # receipts and announcements that follow the callback
        return result

    def step(self, keyword: str, value: Any = None) -> None:
        """Run one scenario step, e.g. ``pos.step("expect_speech", "收款成功")``.

        Parse errors name the calling line; a failed expectation raises
        :class:`~simulator.scenario.model.ExpectationFailed` with the transcript.
        """
        where = _caller()
        step_class = STEPS.get(keyword)
        if step_class is None:
            hint = did_you_mean(keyword, STEPS) or f": expected one of {', '.join(sorted(STEPS))}"
            raise where.error(f"unknown step {keyword!r}{hint}")
        with self.shop.clock.actor():
            self._run(parse(step_class, value, where))

    def _run(self, step: Step) -> None:
        """Run ``step`` as the scenario runner does: on a settled shop, settling after actions."""
        self.shop.clock.settle()
        self.run.run_step(step)

    def settle(self) -> None:
        """Let the shop finish what it is doing (on the virtual clock)."""
        with self.shop.clock.actor():
            self.shop.clock.settle()

    # -- what happened -----------------------------------------------------------------

    @property
    def hands(self) -> Hands:
        """Every other action on the shop (see :class:`~simulator.hands.Hands`)."""
        return self.shop.hands

    @property
    def view(self) -> ShopView:
        """Every other query on the shop (see :class:`~simulator.view.ShopView`)."""
        return self.shop.view

    @property
    def receipts(self) -> list[str]:
        """Every receipt printed, as text (PANs masked)."""
        return [receipt.text for receipt in self.view.receipts()]

    @property
    def speech(self) -> list[str]:
        """Every announcement the speaker made."""
        return [utterance.payload.text for utterance in self.view.utterances()]

    @property
    def ledger(self) -> list[LedgerEntry]:
        """The acquirer's card transactions, oldest first."""
        return self.view.ledger()

    @property
    def journal(self) -> list[JournalEntry]:
        """The terminal's card transactions, oldest first."""
        return self.view.journal()

    @property
    def qr_journal(self) -> list[QrEntry]:
        """The terminal's QR payments, refunds and voids, oldest first."""
        return self.view.qr_journal()

    @property
    def events(self) -> list[Event]:
        """The whole event stream: APDUs, ESC/POS jobs, ISO 8583, HTTP, screens, speech."""
        return self.view.events()

    @property
    def screen(self) -> Screen:
        return self.view.screen()

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.shop.close()
        finally:
            self._transcript.close()

    def __enter__(self) -> Pos:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _caller() -> Where:
    """The test line that called a :class:`Pos` helper, for error messages."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    return Where(Path(frame.f_code.co_filename), frame.f_lineno)


__all__ = ["CARD_PIN", "Pos", "with_devices"]
