"""Hands on the simulated host side: faults armed on the acquirer host and the QR
gateway, notifies replayed and forged, a sale the terminal never recorded.

Their events are published under the hands' ``actor`` (``scenario``, ``counter``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import ClassVar

import attrs

from simulator.devices.card_image import CardImage
from simulator.events import SUMMARY_ONLY, EventPayload
from simulator.gateway.faults import HttpFault, ReplyFault
from simulator.hands.base import HandsBase, HandsError
from simulator.terminal.financial_requests import OPERATIONS, transmission_time
from simulator.terminal.journal import QrEntry
from simulator.wire.money import format_yuan

# STANs of the unrecorded sales: far from the terminal's own (it counts up from 1).
_FOREIGN_STAN_BASE = 900_000


def _times(times: int) -> str:
    return f" x{times}" if times > 1 else ""


@attrs.frozen
class HostFaultArmed(EventPayload):
    """The acquirer host's next ``times`` replies will go wrong as ``fault`` says."""

    kind: ClassVar[str] = "fault"

    fault: ReplyFault = attrs.field(metadata=SUMMARY_ONLY)
    times: int = 1

    def summary(self) -> str:
        return f"acquirer host: next {self.fault.describe()}{_times(self.times)}"


@attrs.frozen
class QrFaultArmed(EventPayload):
    """The QR gateway's answers to the terminal's next ``times`` requests will go wrong."""

    kind: ClassVar[str] = "fault"

    fault: HttpFault = attrs.field(metadata=SUMMARY_ONLY)
    times: int = 1

    def summary(self) -> str:
        return f"QR gateway: next request {self.fault.describe()}{_times(self.times)}"


@attrs.frozen
class UnrecordedSale(EventPayload):
    """The host approved (or not) a sale on the terminal's id that it never recorded."""

    kind: ClassVar[str] = "unrecorded_sale"

    response_code: str  # DE39, "none" if the host did not answer
    amount_fen: int = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return (
            f"host approved a sale the terminal never recorded: RMB "
            f"{format_yuan(self.amount_fen)}, DE39 {self.response_code}"
        )


class Host(HandsBase):
    """The tester's hands on the built-in gateway."""

    def host_fault(self, fault: ReplyFault, times: int = 1) -> None:
        """The acquirer host's next ``times`` replies go wrong as ``fault`` says."""
        server = self.gateway.server
        # The terminal's errors name the host's address, an ephemeral port here: shown
        # as <port> so that two runs of a scenario give the same transcript.
        host, port = server.address
        self.bus.add_secret(f"{host}:{port}", f"{host}:<port>")
        server.faults.arm(fault, times)
        self.bus.publish(HostFaultArmed(fault, times), source=self.actor)

    def qr_gateway_fault(self, fault: HttpFault, times: int = 1) -> None:
        """The QR gateway's answers to the terminal's next ``times`` requests go wrong."""
        qr_server = self.gateway.qr_server
        # As for host_fault: the terminal's errors name the API's ephemeral port.
        self.bus.add_secret(qr_server.base_url, qr_server.base_url.rsplit(":", 1)[0] + ":<port>")
        qr_server.api.faults.arm(fault, times)
        self.bus.publish(QrFaultArmed(fault, times), source=self.actor)

    def replay_notify(self, out_trade_no: str) -> None:
        """The gateway sends order ``out_trade_no``'s payment notify again (a duplicate)."""
        self._sim_call("notify/replay", {"out_trade_no": out_trade_no})

    def forge_notify(self, sale: QrEntry) -> int:
        """Post a payment notify for ``sale`` to the terminal with a wrong signature;
        the HTTP status the terminal answered."""
        receiver = self.terminal.notify_receiver
        if receiver is None:
            raise HandsError("the terminal has no notify receiver")
        body = json.dumps(
            {
                "event": "TRANSACTION.SUCCESS",
                "out_trade_no": sale.out_trade_no,
                "transaction_id": "FORGED0000000000",
                "channel": sale.channel or "wechat",
                "amount_fen": sale.amount_fen,
                "paid_at": self.clock.now().isoformat(),
                "notify_id": "forged-1",
            }
        ).encode("utf-8")
        request = urllib.request.Request(
            receiver.url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "X-Possim-Signature": "00" * 32},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    def unrecorded_sale(self, amount_fen: int, card: CardImage) -> str:
        """The host approves a magnetic-stripe sale on this terminal's id and open batch
        that the terminal never recorded; its response code ("none": no reply)."""
        config = self.terminal.config
        foreign = len(self.bus.of(UnrecordedSale))
        _, processing_code, type_code, _ = OPERATIONS["sale"]
        request = {
            "t": "0200",
            "2": card.pan,
            "3": processing_code,
            "4": f"{amount_fen:012d}",
            "7": transmission_time(self.clock.now()),
            "11": f"{_FOREIGN_STAN_BASE + foreign + 1:06d}",
            "14": card.expiry,
            "22": "021",
            "25": "00",
            "35": card.track2,
            "41": config.terminal_id,
            "42": config.merchant_id,
            "49": config.currency,
            "60": f"{type_code}{self.terminal.journal.batch_no}",
        }
        reply = self.gateway.acquirer.handle(request)
        code = "none" if reply is None else reply.get("39", "?")
        self.bus.publish(UnrecordedSale(code, amount_fen), source=self.actor)
        return code
