"""The drivers package's exception hierarchy."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DriverError(Exception):
    """Base class for every error raised by a device driver."""


class DeviceURLError(DriverError):
    """A device URL is malformed or names a scheme nobody registered."""


class DeviceUnavailable(DriverError):
    """The device named by a URL is absent, busy or offline."""


class ReaderNotFound(DeviceUnavailable):
    """No reader matches the name in the URL; the message lists the readers present."""


class PcscServiceUnavailable(DeviceUnavailable):
    """The PC/SC stack cannot be used: pyscard is missing or pcscd is not running."""


class DeviceTimeout(DriverError):
    """The device did not answer, or the user did not act, in time."""


class CardError(DriverError):
    """Base for card-reader errors."""


class NoCard(CardError):
    """No card is present in the reader."""


class CardRemoved(CardError):
    """The card left the reader while a command was in progress."""


class CardProtocolError(CardError):
    """The card answered something that is not valid ISO 7816 / EMV."""


class PinEntryCancelled(DriverError):
    """The cardholder pressed CANCEL on the PIN pad."""


class PrinterError(DriverError):
    """The printer refused or failed a job (paper out, cover open, offline)."""


class EmvDataError(DriverError):
    """BER-TLV or DOL data (from a card, a host or a file) is malformed."""


def did_you_mean(word: object, choices: Iterable[str]) -> str:
    """``": did you mean 'x'?"`` for the closest of ``choices``, or ``""`` (every
    "unknown X" message possim gives ends with it)."""
    close = difflib.get_close_matches(str(word), list(choices), n=1)
    return f": did you mean {close[0]!r}?" if close else ""
