"""One widget per device, plus the event log and the ledger."""
