"""A card reader on the PC/SC stack: pcsc-lite's ``pcscd`` through pyscard.

``pcsc://READER`` names a reader by its exact PC/SC name or a unique part of it
(``pcsc://ACS`` for "ACS ACR39U ICC Reader 00 00"); ``pcsc://`` means "whichever
reader has a card". The same driver talks to a USB reader on a desk and to
possim's own virtual card behind vsmartcard's vpcd reader driver
(:mod:`simulator.devices.vpcd_card`), so the simulation exercises the stack a
real terminal build uses.

Time. A real reader never calls ``clock.notify()``, so waiting for a card
*polls*: :meth:`PcscCardReader.card_present` asks pcscd without blocking
(``SCardGetStatusChange`` with a zero timeout) and :meth:`wait_for_card` waits on
the :class:`~drivers.clock.Clock` in steps of :data:`POLL_INTERVAL`. On a virtual
clock that lets simulated time move (and timeouts fire) while nobody is at the
reader; on the real clock it is a 100 ms poll. The blocking calls (connect,
transmit) go straight to pcscd: the calling thread stays busy meanwhile, so
virtual time does not move under an APDU.

Two PC/SC contexts: one for presence queries and one for the card connection,
because pcsc-lite serialises the calls made on one context, and a presence poll
from the app's waiting thread must never queue behind an APDU (or the reverse).

APDU bytes never appear in this module's errors or logs: a response can hold
the PAN and a VERIFY command the PIN. Tracing with redaction is the terminal's
job (:mod:`simulator.terminal.tracing`).
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from drivers.card_reader import CardInterface, CardPresented, CardReader, mute_card_error
from drivers.clock import POLL_INTERVAL, Clock, RealClock
from drivers.errors import (
    CardProtocolError,
    CardRemoved,
    DeviceUnavailable,
    DriverError,
    NoCard,
    PcscServiceUnavailable,
    ReaderNotFound,
)

log = logging.getLogger(__name__)

# Real milliseconds connect() may wait for pcscd to finish powering a card that
# was inserted a moment ago (pcscd polls its readers every ~400 ms).
_CONNECT_SETTLE_MS = 2000
_CONNECT_STEP_MS = 100
# pcscd sees a pulled card on its next poll of the reader (about 400 ms): an
# exchange cut short by the pull can fail before the slot reads empty.
_REMOVAL_SETTLE_MS = 1000

INSTALL_HINT = (
    "pip install 'possim[pcsc]' -- pyscard builds from source and needs swig and the "
    "PC/SC headers first (Debian/Ubuntu: apt-get install swig libpcsclite-dev gcc)"
)
START_HINT = (
    "start it with `sudo systemctl start pcscd` (or run `sudo pcscd -f` in a terminal); "
    "install it with `apt-get install pcscd` if it is missing"
)

_MASK = 0xFFFFFFFF


def load_scard() -> Any:
    """pyscard's low-level ``smartcard.scard`` module, or a clear error."""
    try:
        from smartcard import scard
    except ImportError as exc:
        raise PcscServiceUnavailable(
            f"PC/SC support needs pyscard, which is not installed: {INSTALL_HINT}"
        ) from exc
    return scard


def error_text(scard: Any, hr: int) -> str:
    code = hr & _MASK
    return f"{scard.SCardGetErrorMessage(hr)} (0x{code:08X})"


def _service_down(scard: Any, hr: int) -> bool:
    code = hr & _MASK
    return code in (scard.SCARD_E_NO_SERVICE & _MASK, scard.SCARD_E_SERVICE_STOPPED & _MASK)


def _service_error(scard: Any, hr: int) -> PcscServiceUnavailable:
    return PcscServiceUnavailable(f"pcscd is not running ({error_text(scard, hr)}): {START_HINT}")


def establish_context(scard: Any) -> int:
    """A new PC/SC context; raises when pcscd cannot be reached."""
    hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hr & _MASK:
        if context:
            scard.SCardReleaseContext(context)
        if _service_down(scard, hr):
            raise _service_error(scard, hr)
        raise PcscServiceUnavailable(f"cannot open a PC/SC context: {error_text(scard, hr)}")
    return int(context)


def list_readers(scard: Any, context: int) -> list[str]:
    """The readers pcscd knows, in its order; empty when there are none."""
    hr, readers = scard.SCardListReaders(context, [])
    code = hr & _MASK
    if code == scard.SCARD_E_NO_READERS_AVAILABLE & _MASK:
        return []
    if code:
        if _service_down(scard, hr):
            raise _service_error(scard, hr)
        raise DeviceUnavailable(f"cannot list the PC/SC readers: {error_text(scard, hr)}")
    return [str(name) for name in readers]


def reader_states(scard: Any, context: int, readers: list[str]) -> list[tuple[str, int, bytes]]:
    """(reader, state bits, ATR) for each reader, without waiting."""
    if not readers:
        return []
    query = [(name, scard.SCARD_STATE_UNAWARE) for name in readers]
    hr, states = scard.SCardGetStatusChange(context, 0, query)
    code = hr & _MASK
    if code == scard.SCARD_E_UNKNOWN_READER & _MASK:
        raise ReaderNotFound(
            f"the PC/SC reader {readers[0]!r} is gone (unplugged?); readers present: "
            + describe_readers(list_readers(scard, context))
        )
    if code and code != scard.SCARD_E_TIMEOUT & _MASK:
        if _service_down(scard, hr):
            raise _service_error(scard, hr)
        raise DeviceUnavailable(f"cannot read the PC/SC reader states: {error_text(scard, hr)}")
    return [(str(name), int(state), bytes(atr)) for name, state, atr in states]


def describe_readers(readers: list[str]) -> str:
    return ", ".join(repr(name) for name in readers) if readers else "none"


def resolve_reader(readers: list[str], wanted: str) -> str:
    """The reader named exactly ``wanted``, or the only one whose name contains it."""
    if wanted in readers:
        return wanted
    matches = [name for name in readers if wanted.casefold() in name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise ReaderNotFound(
            f"no PC/SC reader matches {wanted!r}; readers present: {describe_readers(readers)}"
        )
    raise ReaderNotFound(
        f"{wanted!r} matches several PC/SC readers ({describe_readers(matches)}): "
        "give more of the name"
    )


def interface_of(reader: str) -> CardInterface:
    """Contactless for a PICC reader's card. Not by the ATR: ``3B 8n 80 01 ...`` is
    also a valid contact T=1 ATR (possim's own contact cards have that shape)."""
    return CardInterface.CONTACTLESS if is_picc_reader(reader) else CardInterface.CONTACT


def is_picc_reader(reader: str) -> bool:
    """Whether a PC/SC reader name is a contactless (PICC) interface: "... PICC ..."
    as ACS dual readers name theirs (``ACS ACR1252 Dual Reader [ACR1252 Dual Reader
    PICC] 00 00``), "Contactless", or a "CL" reader (``OMNIKEY 5422CL``)."""
    words = reader.replace("[", " ").replace("]", " ").split()
    return any(
        word.upper() in ("PICC", "CONTACTLESS") or word.upper().endswith("CL") for word in words
    )


def protocol_name(scard: Any, protocol: int) -> str:
    if protocol == scard.SCARD_PROTOCOL_T0:
        return "T=0"
    if protocol == scard.SCARD_PROTOCOL_T1:
        return "T=1"
    return f"protocol {protocol}"


class PcscCardReader(CardReader):
    """One PC/SC reader (or the first one with a card) as a :class:`CardReader`."""

    def __init__(self, reader: str = "", *, clock: Clock | None = None, scard: Any = None) -> None:
        # ``scard``: pyscard's module by default; a recording or replaying stand-in
        # for it otherwise (drivers/traffic/pcsc.py), so this code runs in both.
        self._scard = scard if scard is not None else load_scard()
        self._clock: Clock = clock if clock is not None else RealClock()
        self._status_lock = threading.Lock()
        self._card_lock = threading.Lock()
        self._status_context = establish_context(self._scard)
        self._card_context: int | None = None
        self._handle: int | None = None
        self._reader_in_use = ""
        self._protocol = 0
        self._atr = b""
        # True between connect() and disconnect(): losing the card then is a
        # removal in the middle of a transaction, not just "no card".
        self._session = False
        # Why the last presence query failed; card_present() must not raise (it
        # runs inside clock.wait_until, possibly on another thread's notify).
        self._failure: DriverError | None = None
        try:
            readers = list_readers(self._scard, self._status_context)
            if reader:
                self._fixed: str | None = resolve_reader(readers, reader)
            elif readers:
                self._fixed = None
            else:
                raise ReaderNotFound(
                    "no PC/SC readers are connected (pcsc:// picks the first reader with a "
                    "card): plug one in, or check `possim doctor`"
                )
        except BaseException:
            self._scard.SCardReleaseContext(self._status_context)
            raise
        self.name = self._fixed or "PC/SC (first reader with a card)"

    # -- presence --------------------------------------------------------------------------

    @property
    def reader_name(self) -> str | None:
        """The PC/SC name of the reader in use (``None`` for ``pcsc://`` before a card)."""
        return self._fixed

    @property
    def protocol(self) -> str:
        """The protocol pcscd negotiated with the connected card ("T=0" / "T=1"), or ""."""
        return protocol_name(self._scard, self._protocol) if self._handle is not None else ""

    def card_present(self) -> bool:
        return self._present() is not None

    def presentation(self) -> int | None:
        """pcscd's count of the insertions and removals in the reader holding a card
        (the high 16 bits of its state): a new card, or the same card again, moves it."""
        found = self._present()
        return None if found is None else found[2]

    def _present(self) -> tuple[str, bytes, int] | None:
        """(reader, ATR, event count) of the first reader holding a card; never raises."""
        with self._status_lock:
            try:
                readers = (
                    [self._fixed]
                    if self._fixed
                    else list_readers(self._scard, self._status_context)
                )
                states = reader_states(self._scard, self._status_context, readers)
            except DriverError as exc:
                self._failure = exc
                return None
            self._failure = None
        for name, state, atr in states:
            if state & self._scard.SCARD_STATE_PRESENT:
                return name, atr, (state >> 16) & 0xFFFF
        return None

    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        deadline = math.inf if timeout is None else self._clock.monotonic() + timeout
        while True:
            remaining = max(0.0, deadline - self._clock.monotonic())
            if self._clock.wait_until(self.card_present, min(remaining, POLL_INTERVAL)):
                found = self._present()
                if found is not None:
                    return CardPresented(interface_of(found[0]), found[1])
            failure = self._failure
            if failure is not None:
                raise failure
            if self._clock.monotonic() >= deadline:
                return None

    # -- the card connection ---------------------------------------------------------------

    def connect(self) -> bytes:
        scard = self._scard
        with self._card_lock:
            self._drop_handle(scard.SCARD_LEAVE_CARD)
            found = self._present()
            if found is None:
                if self._failure is not None:
                    raise self._failure
                raise NoCard(f"{self.name}: no card in the reader")
            reader = found[0]
            context = self._connection_context()
            hr, handle, protocol = self._connect_settled(context, reader)
            code = hr & _MASK
            if code:
                if code in self._unpowered_codes() and self._mute(context, reader):
                    raise mute_card_error(reader)
                raise self._connect_error(reader, hr)
            hr, _name, _state, protocol, atr = scard.SCardStatus(handle)
            if hr & _MASK:
                scard.SCardDisconnect(handle, scard.SCARD_LEAVE_CARD)
                raise self._connect_error(reader, hr)
            self._handle = int(handle)
            self._reader_in_use = reader
            self._protocol = int(protocol)
            self._atr = bytes(atr)
            self._session = True
            log.debug("%s: connected, %s", reader, protocol_name(scard, self._protocol))
            return self._atr

    def _connection_context(self) -> int:
        if self._card_context is None:
            self._card_context = establish_context(self._scard)
        return self._card_context

    def _connect_settled(self, context: int, reader: str) -> tuple[int, int, int]:
        """SCardConnect, riding out the moment pcscd is still powering a new card.

        The retry waits *in pcscd* (a blocking status-change call), not on the
        clock: this is hardware latency inside one driver call, like a slow
        APDU, and must not let virtual time move.
        """
        scard = self._scard
        transient = {
            scard.SCARD_E_NOT_READY & _MASK,
            scard.SCARD_W_UNPOWERED_CARD & _MASK,
            scard.SCARD_E_NO_SMARTCARD & _MASK,
            scard.SCARD_W_REMOVED_CARD & _MASK,
        }
        waited = 0
        while True:
            hr, handle, protocol = scard.SCardConnect(
                context,
                reader,
                scard.SCARD_SHARE_EXCLUSIVE,
                scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1,
            )
            if not hr & _MASK or hr & _MASK not in transient or waited >= _CONNECT_SETTLE_MS:
                return int(hr), int(handle or 0), int(protocol or 0)
            states = [(reader, scard.SCARD_STATE_UNAWARE)]
            _hr, states = scard.SCardGetStatusChange(context, 0, states)
            if states and int(states[0][1]) & scard.SCARD_STATE_MUTE:
                # pcscd tried to power the card (once when it arrived, again in
                # SCardConnect) and got no ATR: a mute card, not one still settling.
                return int(hr), 0, 0
            current = [(name, state) for name, state, _atr in states]
            scard.SCardGetStatusChange(context, _CONNECT_STEP_MS, current)
            waited += _CONNECT_STEP_MS

    def _unpowered_codes(self) -> set[int]:
        scard = self._scard
        return {scard.SCARD_W_UNPOWERED_CARD & _MASK, scard.SCARD_W_UNRESPONSIVE_CARD & _MASK}

    def _mute(self, context: int, reader: str) -> bool:
        """Whether pcscd reports an unresponsive card (it gave no ATR) in ``reader``."""
        scard = self._scard
        hr, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hr & _MASK or not states:
            return False
        state = int(states[0][1])
        return bool(state & scard.SCARD_STATE_PRESENT and state & scard.SCARD_STATE_MUTE)

    def _connect_error(self, reader: str, hr: int) -> DriverError:
        scard = self._scard
        code = hr & _MASK
        if code in (scard.SCARD_E_NO_SMARTCARD & _MASK, scard.SCARD_W_REMOVED_CARD & _MASK):
            return NoCard(f"{reader}: no card in the reader")
        if code in (scard.SCARD_E_UNKNOWN_READER & _MASK, scard.SCARD_E_READER_UNAVAILABLE & _MASK):
            readers = list_readers(scard, self._status_context)
            return ReaderNotFound(
                f"the PC/SC reader {reader!r} is gone; readers present: {describe_readers(readers)}"
            )
        if code == scard.SCARD_E_SHARING_VIOLATION & _MASK:
            return DeviceUnavailable(
                f"{reader}: another application holds the card (close it and retry)"
            )
        if _service_down(scard, hr):
            return _service_error(scard, hr)
        if code in (
            scard.SCARD_W_UNRESPONSIVE_CARD & _MASK,
            scard.SCARD_W_UNSUPPORTED_CARD & _MASK,
            scard.SCARD_E_PROTO_MISMATCH & _MASK,
        ):
            return CardProtocolError(f"{reader}: the card does not answer: {error_text(scard, hr)}")
        return DeviceUnavailable(f"{reader}: cannot connect to the card: {error_text(scard, hr)}")

    def disconnect(self) -> None:
        with self._card_lock:
            self._session = False
            self._drop_handle(self._scard.SCARD_UNPOWER_CARD)

    def _drop_handle(self, disposition: int) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            # The card may be gone already: nothing to power down then.
            self._scard.SCardDisconnect(handle, disposition)

    def _transmit_raw(self, apdu: bytes) -> bytes:
        scard = self._scard
        with self._card_lock:
            handle = self._handle
            if handle is None:
                if self._session:
                    raise CardRemoved(f"{self.name}: the card was removed during the transaction")
                if self.card_present():
                    raise CardProtocolError(
                        f"{self.name}: the card is not powered; connect() first"
                    )
                raise NoCard(f"{self.name}: no card in the reader")
            hr, response = scard.SCardTransmit(handle, self._protocol, list(apdu))
            code = hr & _MASK
            if not code:
                data = bytes(response)
                if len(data) < 2 and self._card_left():
                    self._drop_handle(scard.SCARD_LEAVE_CARD)
                    raise CardRemoved(f"{self.name}: the card was removed during the transaction")
                return data
            gone = code in (
                scard.SCARD_W_REMOVED_CARD & _MASK,
                scard.SCARD_W_RESET_CARD & _MASK,
                scard.SCARD_E_NO_SMARTCARD & _MASK,
            )
            if _service_down(scard, hr):
                self._handle = None
                raise _service_error(scard, hr)
            if gone or self._card_left():
                self._drop_handle(scard.SCARD_LEAVE_CARD)
                raise CardRemoved(
                    f"{self.name}: the card was removed or reset during the transaction "
                    f"({error_text(scard, hr)})"
                )
            raise CardProtocolError(f"{self.name}: APDU exchange failed: {error_text(scard, hr)}")

    def _card_left(self) -> bool:
        """Whether the card in use left its slot, waiting (in pcscd, as
        :meth:`_connect_settled` does) up to one poll of pcscd for it to tell."""
        scard = self._scard
        with self._status_lock:
            for _step in range(_REMOVAL_SETTLE_MS // _CONNECT_STEP_MS):
                query = [(self._reader_in_use, scard.SCARD_STATE_UNAWARE)]
                hr, states = scard.SCardGetStatusChange(self._status_context, 0, query)
                if hr & _MASK or not states or not states[0][1] & scard.SCARD_STATE_PRESENT:
                    return True
                current = [(name, state) for name, state, _atr in states]
                scard.SCardGetStatusChange(self._status_context, _CONNECT_STEP_MS, current)
        return False

    def close(self) -> None:
        self.disconnect()
        with self._card_lock:
            if self._card_context is not None:
                self._scard.SCardReleaseContext(self._card_context)
                self._card_context = None
        with self._status_lock:
            if self._status_context:
                self._scard.SCardReleaseContext(self._status_context)
                self._status_context = 0
