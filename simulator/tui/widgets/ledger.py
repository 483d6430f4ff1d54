"""The gateway's ledger: the day's card transactions as the host recorded them,
then the QR orders as the QR channels did."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from textual.widgets import DataTable

from simulator.wire.money import format_yuan

if TYPE_CHECKING:  # the gateway is imported with the shop, after the first paint
    from simulator.gateway.ledger import LedgerEntry
    from simulator.gateway.qr.orders import QrOrder


class LedgerPanel(DataTable[str]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.entries: list[LedgerEntry] = []
        self.qr_orders: list[QrOrder] = []

    def on_mount(self) -> None:
        self.add_columns("STAN", "MTI", "amount", "PAN / code", "RC", "auth", "status")

    def show(self, entries: Sequence[LedgerEntry], qr_orders: Sequence[QrOrder] = ()) -> None:
        self.entries = list(entries)
        self.qr_orders = list(qr_orders)
        self.clear()
        for entry in self.entries:
            self.add_row(
                entry.stan,
                entry.mti,
                format_yuan(entry.amount),
                entry.masked_pan,
                entry.response_code or "",
                entry.auth_code or "",
                entry.status.value,
            )
        for order in self.qr_orders:
            self.add_row(
                "QR",
                order.channel,
                format_yuan(order.amount_fen),
                order.masked_code or order.kind,
                order.error_code or "",
                "",
                order.trade_state,
            )
