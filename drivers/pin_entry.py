"""PIN entry: the PIN pad or the terminal's secure keypad."""

from __future__ import annotations

import abc
from collections.abc import Callable, Collection
from typing import ClassVar

from drivers.errors import DeviceUnavailable

# Called with the number of digits entered so far, so a screen can show
# asterisks without ever seeing a digit.
DigitsChanged = Callable[[int], None]


class PinEntry(abc.ABC):
    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "pin_entry"

    @abc.abstractmethod
    def read_pin(
        self,
        *,
        min_length: int,
        max_length: int,
        timeout: float,
        on_digits: DigitsChanged | None = None,
    ) -> str:
        """Collect a PIN until OK.

        Raises ``PinEntryCancelled`` on CANCEL and ``DeviceTimeout`` when nobody
        finishes in ``timeout`` seconds. Returning an empty string means the
        cardholder bypassed PIN entry (OK with no digits).
        """

    def read_key(self, *, keys: Collection[str], timeout: float) -> str:
        """Wait for one of ``keys`` (digits, ``OK``, ``CLR``) -- a menu choice,
        never a PIN digit -- and return it; other keys are ignored.

        Raises ``PinEntryCancelled`` on CANCEL and ``DeviceTimeout`` after
        ``timeout`` seconds. Devices that cannot report single keys keep this
        default, which raises ``DeviceUnavailable``: callers then choose for
        the cardholder (EMV: the highest-priority application).
        """
        raise DeviceUnavailable(f"{type(self).__name__} cannot read single keys")

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the device."""
