"""Card voids, refunds and the terminal's batch close (ISO 8583 0500) as steps."""

from __future__ import annotations
