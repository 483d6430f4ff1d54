"""The gateway simulator assembled: ledger, issuers, magic amounts, the ISO 8583
card host on TCP and the QR channels' HTTP API. Used by ``possim gateway serve``
and by simulations."""

from __future__ import annotations

import random
from pathlib import Path

import attrs

from drivers.clock import Clock
from simulator.events import EventBus
from simulator.gateway import server as iso_server
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.issuers import DEFAULT_ISSUERS, IssuerDirectory
from simulator.gateway.ledger import Ledger
from simulator.gateway.magic import DEFAULT_MAGIC_AMOUNTS, MagicAmounts
from simulator.gateway.pins import DEFAULT_TERMINALS, PinVerifier, TerminalKeys
from simulator.gateway.preauth_rules import DEFAULT_PREAUTH_RULES, PreauthRules
from simulator.gateway.qr import http_server as qr_http
from simulator.gateway.qr.channels import (
    DEFAULT_MERCHANTS,
    DEFAULT_QR_CHANNELS,
    Merchants,
    QrChannels,
)
from simulator.gateway.qr.http import QrApi
from simulator.gateway.qr.http_server import QrHttpServer
from simulator.gateway.qr.notify import Notifier
from simulator.gateway.qr.orders import QrService
from simulator.gateway.server import GatewayServer
from simulator.wire.iso8583 import BINARY_HEADER, DEFAULT_SPEC, Framing, Iso8583Codec, Iso8583Spec
from simulator.wire.mac import MessageMac


@attrs.frozen
class ServerLimits:
    """What the two servers allow a client (docs/reliability.md)."""

    max_connections: int = iso_server.DEFAULT_MAX_CONNECTIONS  # ISO 8583 port
    qr_max_connections: int = qr_http.DEFAULT_MAX_CONNECTIONS  # QR API port
    idle_timeout: float = iso_server.DEFAULT_IDLE_TIMEOUT  # waiting for a frame / request
    request_timeout: float = iso_server.DEFAULT_FRAME_TIMEOUT  # first byte to last (QR: to answer)
    max_frame: int = iso_server.DEFAULT_MAX_MESSAGE  # bytes an ISO 8583 frame may announce


class BuiltinGateway:
    def __init__(
        self,
        ledger_path: Path,
        *,
        clock: Clock,
        bus: EventBus,
        rng: random.Random,
        spec: str = DEFAULT_SPEC,
        host: str = "127.0.0.1",
        port: int = 0,
        qr_port: int = 0,
        tpdu_length: int = 0,
        allow_remote: bool = False,
        issuers: str = DEFAULT_ISSUERS,
        magic_amounts: str = DEFAULT_MAGIC_AMOUNTS,
        preauth_rules: str = DEFAULT_PREAUTH_RULES,
        terminals: str = DEFAULT_TERMINALS,
        qr_channels: str = DEFAULT_QR_CHANNELS,
        merchants: str = DEFAULT_MERCHANTS,
        simulation: bool = True,
        length_header: str = BINARY_HEADER,
        tpdu_swap: bool = False,
        mac_key: bytes | None = None,
        trace: bool = True,
        limits: ServerLimits = ServerLimits(),
    ) -> None:
        self.spec = Iso8583Spec.load(spec)
        self.framing = Framing(tpdu_length, length_header, tpdu_swap)
        codec = Iso8583Codec(self.spec)
        # A foreign host's options (docs/real_hosts.md): MAC every message with this key.
        mac = None if mac_key is None else MessageMac(codec, mac_key)
        # Load every fixture before opening the ledger, so a typo leaves no file behind.
        directory = IssuerDirectory.load(issuers)
        magic = MagicAmounts.load(magic_amounts)
        rules = PreauthRules.load(preauth_rules)
        pins = PinVerifier(TerminalKeys.load(terminals))
        channels = QrChannels.load(qr_channels)
        known_merchants = Merchants.load(merchants)
        # The one process that writes this ledger: a second gateway on it is refused.
        self.ledger = Ledger(ledger_path, clock, writer=True)
        self.acquirer = AcquirerHost(
            self.ledger, directory, magic, clock, rng, codec, pins=pins, preauth_rules=rules
        )
        self.server = GatewayServer(
            self.acquirer,
            codec,
            self.framing,
            clock,
            bus,
            host,
            port,
            allow_remote=allow_remote,
            mac=mac,
            trace=trace,
            max_message=limits.max_frame,
            frame_timeout=limits.request_timeout,
            idle_timeout=limits.idle_timeout,
            max_connections=limits.max_connections,
        )
        self.qr = QrService(self.ledger, channels, known_merchants, magic, clock)
        self.notifier = Notifier(
            clock,
            bus,
            timeout=channels.notify_timeout_seconds,
            on_attempt=lambda order_id, ok: self.qr.record_notify(order_id, delivered=ok),
        )
        self.qr_server = QrHttpServer(
            QrApi(self.qr, self.notifier, clock, bus, simulation=simulation),
            host,
            qr_port,
            allow_remote=allow_remote,
            max_connections=limits.qr_max_connections,
            idle_timeout=limits.idle_timeout,
            request_timeout=limits.request_timeout,
        )

    @property
    def qr_base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the QR API (once started)."""
        return self.qr_server.base_url

    def start(self) -> tuple[str, int]:
        """Start the card host, the QR API and the notifier; the card host's address."""
        address = self.server.start()
        try:
            self.qr_server.start()
            self.notifier.start()
        except BaseException:
            self.qr_server.stop()
            self.server.stop()
            raise
        return address

    def stop(self) -> None:
        try:
            self.notifier.stop()
            self.qr_server.stop()
            self.server.stop()
        finally:
            self.ledger.close()
