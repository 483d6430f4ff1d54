"""Fault injection as steps: the card pulled at APDU n, gateway delay, timeout and HTTP 5xx,
scanner noise."""

from __future__ import annotations
