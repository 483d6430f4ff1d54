"""The platform's back office as steps: channel statements, statement faults, reconciliation
and the merchant's merged statement."""

from __future__ import annotations
