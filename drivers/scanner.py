"""Barcode/QR scanners that deliver each scan as a line of text."""

from __future__ import annotations

import abc
from typing import ClassVar


class Scanner(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "scanner"

    @abc.abstractmethod
    def read_code(self, timeout: float) -> str | None:
        """The next scanned code, stripped of framing; ``None`` on timeout."""

    def take_scan(self) -> str | None:
        """One code already scanned, or ``None``; never waits."""
        return self.read_code(0)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
