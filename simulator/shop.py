"""A whole simulated shop in one object: virtual clock, event bus, simulated
devices, the built-in acquirer host on loopback, one terminal -- and the two
seams a harness uses on it, :class:`~simulator.hands.Hands` to act and
:class:`~simulator.view.ShopView` to read.

The scenario runner, the TUI, the pytest ``pos`` fixture, the demo, the
benchmarks and the tests all build their shop through this class, so they
exercise the same wiring.
"""

from __future__ import annotations

import contextlib
import random
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import attrs

from simulator.clock import DEFAULT_EPOCH, VirtualClock, WallClock
from simulator.devices.card_image import CardImage
from simulator.devices.transports import (
    CARD_TRANSPORTS,
    PRINTER_TRANSPORTS,
    SCANNER_TRANSPORTS,
)
from simulator.devices.world import SimulatedWorld
from simulator.errors import ConfigError, TerminalError
from simulator.events import EventBus
from simulator.gateway.builtin import BuiltinGateway
from simulator.hands import Hands
from simulator.terminal.cashier_app import SaleResult
from simulator.terminal.config import HostEndpoint, TerminalConfig
from simulator.terminal.terminal import Terminal
from simulator.view import ShopView

if TYPE_CHECKING:
    from simulator.devices.vpcd_card import VpcdCardSlot
    from simulator.pcscd import PrivatePcscd, VpcdSlot

# Virtual seconds a sale still running at shutdown may take to wind down
# (timeouts firing, reversals going out) before the shop closes.
_WIND_DOWN = 3600.0


class Shop:
    """One simulated shop (see the module docstring). Close it, or use ``with``.

    Args:
        config: the terminal's configuration; its card host must be the built-in one
            (``gateway.card = "builtin"``): a shop runs on a virtual clock.
        workdir: where the journal, the ledger and device files go (created).
        seed: seeds the terminal's randomness (and, apart, the gateway's).
        start: the virtual clock's wall time at the start.
        card_transport: how the terminal reaches the virtual card: ``sim`` (in
            process) or ``pcsc`` (a private pcscd and vpcd, docs/pcsc.md).
        printer_transport, scanner_transport: the ``sim://`` printer's / scanner's
            transport (``usb``, ``pty``, ``tcp`` ...); None keeps the configuration's.
        speaker, wav_dir: another speaker URL, and/or a folder for its WAV files.
        real_clock: run on the wall clock (:class:`~simulator.clock.WallClock`), for a
            shop people and outside apps use (``possim serve``); ``start`` is ignored.
        keep_events: keep only the newest this many events (a long-running shop).
        card_host: another acquirer host for card payments (``possim run --host``); the
            built-in gateway still serves QR payments. Needs ``real_clock``.

    Raises:
        ConfigError: an unknown transport, a transport for a device that is not
            ``sim://``, or a card host that is not the built-in one.

    Example::

        >>> from tempfile import TemporaryDirectory
        >>> from simulator.devices import cards
        >>> with TemporaryDirectory() as folder, Shop(TerminalConfig.load(), Path(folder)) as shop:
        ...     result = shop.pay_by_card(1234, cards.load("unionpay_debit"))
        ...     approved, receipts = result.approved, len(shop.view.receipts())
        >>> approved, receipts
        (True, 2)
    """

    def __init__(
        self,
        config: TerminalConfig,
        workdir: Path,
        *,
        seed: int = 0,
        start: datetime = DEFAULT_EPOCH,
        card_transport: str = "sim",
        printer_transport: str | None = None,
        scanner_transport: str | None = None,
        speaker: str | None = None,
        wav_dir: Path | None = None,
        real_clock: bool = False,
        keep_events: int | None = None,
        card_host: HostEndpoint | None = None,
    ) -> None:
        if speaker is not None or wav_dir is not None:
            config = with_speaker(config, speaker, wav_dir)
        if printer_transport is not None:
            config = with_printer_transport(config, printer_transport)
        if scanner_transport is not None:
            config = with_scanner_transport(config, scanner_transport)
        if card_transport not in CARD_TRANSPORTS:
            raise ConfigError(
                config.source or "<config>",
                f"unknown card transport {card_transport!r}: expected one of "
                + ", ".join(CARD_TRANSPORTS),
            )
        if not config.uses_builtin_gateway:
            raise ConfigError(
                config.source or "<config>",
                'a simulation runs against the built-in gateway (gateway.card = "builtin"); '
                "external hosts need the real clock",
            )
        if card_host is not None and not real_clock:
            raise ConfigError(
                config.source or "<config>",
                f"the acquirer host {card_host.host}:{card_host.port} runs on the real clock: "
                "a shop that uses it must too",
            )
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.clock = WallClock() if real_clock else VirtualClock(start)
        self.bus = EventBus(self.clock, keep_last=keep_events)
        self.world = SimulatedWorld(self.clock)
        self.card_transport = card_transport
        self._pcscd: PrivatePcscd | None = None
        self._vpcd_slot: VpcdSlot | None = None
        self._vpcd_card_slot: VpcdCardSlot | None = None
        self._picc_card_slot: VpcdCardSlot | None = None
        # What close() undoes, last first; whatever is built so far is undone if a
        # later part fails to build.
        with contextlib.ExitStack() as undo:
            if card_transport == "pcsc":
                config = self._attach_vpcd_slot(config)
                undo.callback(self._release_vpcd_slot)
            # Separate streams so the gateway's choices do not shift the terminal's.
            self.gateway = BuiltinGateway(
                workdir / "ledger.sqlite",
                clock=self.clock,
                bus=self.bus,
                rng=random.Random(seed + 1),
            )
            undo.callback(self.gateway.stop)
            host, port = self.gateway.start()
            # The servers the drivers reach simulated devices through, after the drivers.
            undo.callback(self.world.close)
            self.terminal = Terminal(
                config,
                clock=self.clock,
                bus=self.bus,
                rng=random.Random(seed),
                workdir=workdir,
                host=HostEndpoint(host, port) if card_host is None else card_host,
                simulation=self.world,
                # The built-in gateway's QR API (docs/qr_api.md).
                qr_url=self.gateway.qr_base_url,
            )
            undo.callback(self.terminal.close)
            self._undo = undo.pop_all()
        self.hands = Hands(self.world, self.terminal, self.gateway, self.bus, self.clock)
        self.view = ShopView(
            self.bus,
            self.clock,
            self.world,
            self.terminal,
            self.gateway,
            builtin_card_host=card_host is None,
        )

    def _attach_vpcd_slot(self, config: TerminalConfig) -> TerminalConfig:
        """Take a vpcd slot of this process's private pcscd; the terminal reads it by PC/SC."""
        from simulator.devices.vpcd_card import VpcdCardLink, VpcdCardSlot
        from simulator.pcscd import shared_private_pcscd

        pcscd = shared_private_pcscd()
        slot = pcscd.acquire_slot()
        self._pcscd, self._vpcd_slot = pcscd, slot
        link = VpcdCardLink(lambda: pcscd.connect_vpcd(slot.port), name=slot.reader)
        self._vpcd_card_slot = VpcdCardSlot(link, slot.reader, self.clock)
        self.world.card_slot = self._vpcd_card_slot
        devices = attrs.evolve(config.devices, card_reader=f"pcsc://{quote(slot.reader)}")
        if config.devices.contactless_reader:
            # The PICC reader paired with the slot: where cards are tapped.
            picc = VpcdCardLink(lambda: pcscd.connect_vpcd(slot.picc_port), name=slot.picc_reader)
            self._picc_card_slot = VpcdCardSlot(picc, slot.picc_reader, self.clock, field=True)
            self.world.picc_slot = self._picc_card_slot
            devices = attrs.evolve(devices, contactless_reader=f"pcsc://{quote(slot.picc_reader)}")
        return attrs.evolve(config, devices=devices)

    def _release_vpcd_slot(self) -> None:
        card_slot, self._vpcd_card_slot = self._vpcd_card_slot, None
        picc_slot, self._picc_card_slot = self._picc_card_slot, None
        try:
            if card_slot is not None:
                # Wait for pcscd to see the slot empty, so the next user starts clean.
                card_slot.remove()
            if picc_slot is not None:
                picc_slot.remove()
        finally:
            if self._pcscd is not None and self._vpcd_slot is not None:
                self._pcscd.release_slot(self._vpcd_slot)
                self._vpcd_slot = None

    def pay_by_card(
        self, amount_fen: int, card: CardImage, *, pin: str | None = None
    ) -> SaleResult:
        """One card sale the way a cardholder does it: insert, PIN (if asked), remove.

        Args:
            amount_fen: the amount the cashier keys in, in fen.
            card: the card the cardholder inserts (the shop keeps its counters).
            pin: the PIN typed when the terminal asks; None: the card's own.

        Returns:
            The sale's result, as the cashier app got it back (``.approved`` ...).

        Raises:
            NotSimulated: the card reader or the PIN pad is real.
            TerminalError: the sale did not finish.
        """
        hands = self.hands
        with self.clock.actor():
            sale = hands.start_sale(amount_fen)
            self.clock.settle()
            hands.insert_card(card)
            self.clock.settle()
            if self.view.awaiting_pin:
                hands.type_pin(card.pin if pin is None else pin)
                self.clock.settle()
            hands.remove_card()
            result = sale.wait(_WIND_DOWN)
        if result is None:
            raise TerminalError(f"the sale did not finish: {self.view.screen().text()}")
        return result

    def close(self, wind_down: float = _WIND_DOWN) -> None:
        """Let a sale still running wind down (up to ``wind_down`` clock seconds), then
        close the terminal, the gateway and any vpcd slot."""
        sale = self.terminal.current_sale
        if sale is not None and not sale.finished:
            self.clock.wait_until(lambda: sale.finished, wind_down)
        self._undo.close()

    def __enter__(self) -> Shop:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def with_printer_transport(config: TerminalConfig, transport: str) -> TerminalConfig:
    """``config`` with its virtual printer reached over ``transport`` (sim/usb/pty/tcp)."""
    return _with_sim_transport(config, "printer", transport, PRINTER_TRANSPORTS)


def with_scanner_transport(config: TerminalConfig, transport: str) -> TerminalConfig:
    """``config`` with its virtual scanner reached in process (sim) or over a pty."""
    return _with_sim_transport(config, "scanner", transport, SCANNER_TRANSPORTS)


def with_speaker(config: TerminalConfig, url: str | None, wav_dir: Path | None) -> TerminalConfig:
    """``config`` with its speaker replaced by ``url`` and/or writing WAVs to ``wav_dir``.

    Works for every speaker scheme that takes ``?wav=DIR`` (``sim://`` records and
    renders, ``espeak://`` writes instead of playing).
    """
    parts = urlsplit(url or config.devices.speaker)
    params = parse_qsl(parts.query)
    if wav_dir is not None:
        params = [(k, v) for k, v in params if k != "wav"] + [("wav", str(wav_dir))]
    query = f"?{urlencode(params)}" if params else ""
    speaker = f"{parts.scheme}://{parts.netloc}{parts.path}{query}"
    return attrs.evolve(config, devices=attrs.evolve(config.devices, speaker=speaker))


def _with_sim_transport(
    config: TerminalConfig, device: str, transport: str, transports: tuple[str, ...]
) -> TerminalConfig:
    """``config`` whose ``sim://`` ``device`` URL carries ``transport=...``."""
    if transport not in transports:
        raise ConfigError(
            config.source or "<config>",
            f"unknown {device} transport {transport!r}: expected one of " + ", ".join(transports),
        )
    current = getattr(config.devices, device)
    parts = urlsplit(current)
    if parts.scheme != "sim":
        raise ConfigError(
            config.source or "<config>",
            f"a {device} transport applies to the virtual {device} (sim://), not to {current!r}",
        )
    params = [(k, v) for k, v in parse_qsl(parts.query) if k != "transport"]
    params.append(("transport", transport))
    url = f"sim://{parts.netloc}{parts.path}?{urlencode(params)}"
    return attrs.evolve(config, devices=attrs.evolve(config.devices, **{device: url}))
