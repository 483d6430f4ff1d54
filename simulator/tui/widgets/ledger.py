"""The gateway's ledger: the day's card transactions as the host recorded them."""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import DataTable

from simulator.gateway.ledger import LedgerEntry
from simulator.terminal.amounts import format_yuan


class LedgerPanel(DataTable[str]):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.entries: list[LedgerEntry] = []

    def on_mount(self) -> None:
        self.add_columns("STAN", "MTI", "amount", "PAN", "RC", "auth", "status")

    def show(self, entries: Sequence[LedgerEntry]) -> None:
        self.entries = list(entries)
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
