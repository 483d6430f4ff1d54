"""A simulated smart POS for Python tests: the object behind the pytest ``pos`` fixture.

:class:`Pos` is one :class:`~simulator.simulation.Simulation` (terminal,
simulated devices, the built-in gateway on loopback, the virtual clock) with
the helpers a test needs: pay by card or QR the way a cardholder or a customer
does, then read back what the shop did -- receipts, speech, the acquirer's
ledger, the terminal's journal, the event stream and the screen. Any scenario
step also runs from Python (:meth:`Pos.step`), so expectations are the same
code as in YAML and fail with the same messages.

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

from simulator.errors import ConfigError, TerminalError
from simulator.events import Event, JsonlTranscript
from simulator.gateway.ledger import LedgerEntry
from simulator.scenario.model import STEPS, Scenario, Step, Where, did_you_mean
from simulator.scenario.qr_steps import CustomerPaysQr
from simulator.scenario.runner import ScenarioRun
from simulator.scenario.steps import EnterPin, InsertCard, RemoveCard, Sale
from simulator.simulation import Simulation
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import DeviceURLs, TerminalConfig
from simulator.terminal.display import Screen
from simulator.terminal.journal import JournalEntry, QrEntry

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
        self.sim = Simulation(
            config,
            workdir,
            seed=seed,
            card_transport=card_transport,
            printer_transport=printer_transport,
            scanner_transport=scanner_transport,
        )
        self._transcript = JsonlTranscript.open(workdir / "transcript.jsonl")
        self.sim.bus.subscribe(self._transcript)
        source = config.source or Path("<config>")
        # The same state scenario steps act on, so every step runs from Python too.
        self.run = ScenarioRun(
            Scenario(
                path=Path(name), name=name, purpose="", seed=seed, terminal=str(source), steps=()
            ),
            self.sim,
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
        steps = [Sale.parse(amount, where), InsertCard.parse(card, where)]
        enter_pin = (
            None if pin is None else EnterPin.parse("card" if pin == CARD_PIN else pin, where)
        )
        with self.sim.clock.actor():
            for action in steps:
                self._run(action, where)
            pad = self.sim.world.pin_pad
            if pad is not None and pad.awaiting_pin:
                if enter_pin is not None:
                    self._run(enter_pin, where)
                else:
                    self.sim.clock.wait_until(lambda: not pad.awaiting_pin, SALE_WITHIN)
            self._run(RemoveCard.parse(None, where), where)
            return self._result()

    def pay_by_qr(self, amount: str, wallet: str = "wechat") -> SaleResult:
        """Show a dynamic QR for ``amount`` and let a customer pay it with ``wallet``
        (wechat, alipay or unionpay_qr): the YAML ``sale: {method: WALLET}`` and
        ``customer_pays_qr`` steps."""
        where = _caller()
        pays = CustomerPaysQr.parse({"wallet": wallet}, where)
        sale = Sale.parse({"amount": amount, "method": wallet}, where)
        with self.sim.clock.actor():
            self._run(sale, where)
            self._run(pays, where)
            return self._result()

    def _result(self) -> SaleResult:
        sale = self.run.sale
        result = None if sale is None else sale.wait(SALE_WITHIN)
        if result is None:
            raise TerminalError(f"the sale did not finish: {self.screen.text()}")
        self.sim.clock.settle()  # receipts and announcements that follow the callback
        return result

    def step(self, keyword: str, value: Any = None) -> None:
        """Run one scenario step, e.g. ``pos.step("expect_speech", "收款成功")``.

        Parse errors name the calling line; a failed expectation raises
        :class:`~simulator.scenario.runner.ExpectationFailed` with the transcript.
        """
        where = _caller()
        step_class = STEPS.get(keyword)
        if step_class is None:
            hint = did_you_mean(keyword, STEPS) or f": expected one of {', '.join(sorted(STEPS))}"
            raise where.error(f"unknown step {keyword!r}{hint}")
        with self.sim.clock.actor():
            self._run(step_class.parse(value, where), where)

    def _run(self, step: Step, where: Where) -> None:
        """Run ``step`` as the scenario runner does: on a settled shop, settling after actions."""
        step.line = where.line
        self.sim.clock.settle()
        step.run(self.run)
        if step.is_action:
            self.sim.clock.settle()

    def settle(self) -> None:
        """Let the shop finish what it is doing (on the virtual clock)."""
        with self.sim.clock.actor():
            self.sim.clock.settle()

    # -- what happened -----------------------------------------------------------------

    @property
    def receipts(self) -> list[str]:
        """Every receipt printed, as text (PANs masked)."""
        return self.run.receipts()

    @property
    def speech(self) -> list[str]:
        """Every announcement the speaker made."""
        return [str(e.detail.get("text", "")) for e in self.sim.bus.events if e.kind == "utterance"]

    @property
    def ledger(self) -> list[LedgerEntry]:
        """The acquirer's card transactions, oldest first."""
        return self.sim.gateway.ledger.transactions()

    @property
    def journal(self) -> list[JournalEntry]:
        """The terminal's card transactions, oldest first."""
        return self.sim.terminal.journal.entries()

    @property
    def qr_journal(self) -> list[QrEntry]:
        """The terminal's QR payments, refunds and voids, oldest first."""
        return self.sim.terminal.journal.qr_entries()

    @property
    def events(self) -> list[Event]:
        """The whole event stream: APDUs, ESC/POS jobs, ISO 8583, HTTP, screens, speech."""
        return list(self.sim.bus.events)

    @property
    def screen(self) -> Screen:
        return self.sim.terminal.display.screen

    # -- lifetime ------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.sim.close()
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
