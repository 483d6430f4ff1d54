"""The platform's back office: channel statements, statement faults, reconciliation
against the gateway ledger, the merchant's merged statement, fees and revenue
(docs/backoffice.md)."""
