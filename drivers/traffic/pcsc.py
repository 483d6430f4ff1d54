"""Record and replay PC/SC traffic at pyscard's ``smartcard.scard`` layer.

:class:`PcscCardReader` does all its work through the ``scard`` module object
it is given, so recording wraps that module (:class:`RecordingScard`) and
replay replaces it (:class:`ReplayScard`): the driver's own code -- reader
resolution, connect retries, error mapping, ``61xx``/``6Cxx`` handling in
:class:`~drivers.card_reader.CardReader` -- runs unchanged in both.

What is recorded: card presence *changes* (``presence``, an event with the
ATR), ``connect`` (return code and protocol), ``status`` (the ATR), each
``transmit`` (command out, response in) and ``disconnect``. Polls that see no
change are not recorded: their number depends on timing.

Replay of presence. A presence change is handed out at a poll when it is the
next message -- and, when a simulation's scenario drives a
:class:`ReplayCardSlot`, only once the scenario has inserted (removed) the card
too, so the terminal sees the card arrive and leave at the same steps as when
the trace was recorded. Without a slot (``possim tui``, a bare driver) changes
are handed out at the first poll that reaches them.

pyscard is not needed for replay: the constants below are pcsc-lite's.
"""

from __future__ import annotations

import threading
from typing import Any

from drivers.clock import Clock
from drivers.traffic import summaries
from drivers.traffic.tape import Cursor, Tape
from drivers.traffic.trace import Message

_MASK = 0xFFFFFFFF


class PcscConstants:
    """pcsc-lite's values for the names :class:`PcscCardReader` uses."""

    SCARD_S_SUCCESS = 0
    SCARD_SCOPE_USER = 0
    SCARD_SHARE_EXCLUSIVE = 1
    SCARD_PROTOCOL_T0 = 1
    SCARD_PROTOCOL_T1 = 2
    SCARD_LEAVE_CARD = 0
    SCARD_UNPOWER_CARD = 2
    SCARD_STATE_UNAWARE = 0
    SCARD_STATE_CHANGED = 0x2
    SCARD_STATE_EMPTY = 0x10
    SCARD_STATE_PRESENT = 0x20
    SCARD_STATE_MUTE = 0x200
    SCARD_F_INTERNAL_ERROR = 0x80100001
    SCARD_E_UNKNOWN_READER = 0x80100009
    SCARD_E_TIMEOUT = 0x8010000A
    SCARD_E_SHARING_VIOLATION = 0x8010000B
    SCARD_E_NO_SMARTCARD = 0x8010000C
    SCARD_E_PROTO_MISMATCH = 0x8010000F
    SCARD_E_NOT_READY = 0x80100010
    SCARD_E_READER_UNAVAILABLE = 0x80100017
    SCARD_E_NO_SERVICE = 0x8010001D
    SCARD_E_SERVICE_STOPPED = 0x8010001E
    SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
    SCARD_W_UNSUPPORTED_CARD = 0x80100065
    SCARD_W_UNRESPONSIVE_CARD = 0x80100066
    SCARD_W_UNPOWERED_CARD = 0x80100067
    SCARD_W_RESET_CARD = 0x80100068
    SCARD_W_REMOVED_CARD = 0x80100069


# -- recording ---------------------------------------------------------------------------


class RecordingScard:
    """pyscard's ``scard`` module, with the card traffic written to a :class:`Tape`."""

    def __init__(self, scard: Any, tape: Tape) -> None:
        self._scard = scard
        self._tape = tape
        self._lock = threading.Lock()
        self._present: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._scard, name)

    def SCardGetStatusChange(self, context: int, timeout: int, states: Any) -> Any:
        hr, result = self._scard.SCardGetStatusChange(context, timeout, states)
        if hr & _MASK in (0, self._scard.SCARD_E_TIMEOUT & _MASK):
            present = [
                bytes(atr)
                for _name, state, atr in result
                if state & self._scard.SCARD_STATE_PRESENT
            ]
            self._presence(bool(present), present[0] if present else b"")
        return hr, result

    def _presence(self, present: bool, atr: bytes) -> None:
        with self._lock:
            if present == self._present:
                return
            self._present = present
            summary = f"card inserted, ATR {atr.hex().upper()}" if present else "card removed"
            self._tape.add("presence", "event", atr.hex().upper(), summary, present=present)

    def SCardConnect(self, context: int, reader: str, share: int, protocols: int) -> Any:
        hr, handle, protocol = self._scard.SCardConnect(context, reader, share, protocols)
        self._tape.add(
            "connect", "in", "", _rc_text(hr, "connected"), rc=hr & _MASK, protocol=protocol or 0
        )
        return hr, handle, protocol

    def SCardStatus(self, handle: int) -> Any:
        hr, name, state, protocol, atr = self._scard.SCardStatus(handle)
        shown = bytes(atr or b"").hex().upper()
        self._tape.add(
            "status", "in", shown, _rc_text(hr, f"ATR {shown}"), rc=hr & _MASK, protocol=protocol
        )
        return hr, name, state, protocol, atr

    def SCardTransmit(self, handle: int, protocol: int, apdu: Any) -> Any:
        command = bytes(apdu)
        shown = summaries.command_hex(command)
        extra: dict[str, Any] = {}
        if shown != command.hex().upper():
            extra["digest"] = self._tape.digest(command)
        self._tape.add("transmit", "out", shown, summaries.describe_apdu(command), **extra)
        hr, response = self._scard.SCardTransmit(handle, protocol, apdu)
        data = bytes(response or b"")
        self._tape.add_sealed(
            "transmit",
            "in",
            data,
            summaries.response_hex(command, data) if data else "",
            _rc_text(hr, summaries.describe_response(data)),
            rc=hr & _MASK,
        )
        return hr, response

    def SCardDisconnect(self, handle: int, disposition: int) -> Any:
        hr = self._scard.SCardDisconnect(handle, disposition)
        what = "unpower" if disposition == self._scard.SCARD_UNPOWER_CARD else "leave"
        self._tape.add(
            "disconnect", "out", "", f"disconnect ({what} card)", disposition=disposition
        )
        return hr


def _rc_text(hr: int, ok: str) -> str:
    code = hr & _MASK
    return ok if not code else f"failed 0x{code:08X}"


# -- replay ------------------------------------------------------------------------------


class ReplayScard(PcscConstants):
    """A stand-in for ``smartcard.scard`` that answers from a card-reader trace."""

    def __init__(self, cursor: Cursor) -> None:
        self._cursor = cursor
        self._reader = str(cursor.trace.device.get("reader") or "possim replay reader")
        self._present = False
        self._atr = b""
        self._protocol = PcscConstants.SCARD_PROTOCOL_T1
        self._contexts = 0
        self._first_context = 0
        # Set by a ReplayCardSlot: what the scenario's hand did (None: no hand).
        self.hand: bool | None = None

    @property
    def reader(self) -> str:
        return self._reader

    # -- contexts and readers ------------------------------------------------------------

    def SCardEstablishContext(self, scope: int) -> tuple[int, int]:
        self._contexts += 1
        if not self._first_context:
            self._first_context = self._contexts
        return 0, self._contexts

    def SCardReleaseContext(self, context: int) -> int:
        if context == self._first_context:
            # The reader is closing: everything recorded must have happened.
            self._cursor.check_finished(ignore=frozenset({"presence"}))
        return 0

    def SCardListReaders(self, context: int, groups: Any) -> tuple[int, list[str]]:
        return 0, [self._reader]

    def SCardGetErrorMessage(self, hr: int) -> str:
        return f"PC/SC error 0x{hr & _MASK:08X} (replayed)"

    def SCardGetStatusChange(self, context: int, timeout: int, states: Any) -> Any:
        self._poll()
        flags = self.SCARD_STATE_PRESENT if self._present else self.SCARD_STATE_EMPTY
        if self._present and not self._atr:
            flags |= self.SCARD_STATE_MUTE  # pcscd's only card without an ATR: a mute one
        atr = list(self._atr) if self._present else []
        return 0, [(name, flags, atr) for name, _state in states]

    # -- presence ------------------------------------------------------------------------

    def _poll(self) -> None:
        """Take the presence changes due at a poll (see the module docstring)."""
        cursor = self._cursor
        with cursor.lock:
            while True:
                message = cursor.peek()
                if message is None or message.op != "presence":
                    return
                recorded = bool(message.extra.get("present"))
                hand = self.hand
                if hand is not None and recorded != hand and self._present == hand:
                    return  # the trace's next change has not happened in the scenario yet
                self._take_presence(cursor.advance())

    def _take_presence(self, message: Message) -> None:
        self._present = bool(message.extra.get("present"))
        if self._present:
            self._atr = self._cursor.payload(message)

    def _skip_presence(self) -> None:
        """Presence changes recorded before a driver call happened before it."""
        cursor = self._cursor
        with cursor.lock:
            while (message := cursor.peek()) is not None and message.op == "presence":
                self._take_presence(cursor.advance())

    # -- the card connection -------------------------------------------------------------

    def SCardConnect(self, context: int, reader: str, share: int, protocols: int) -> Any:
        with self._cursor.lock:
            self._skip_presence()
            message = self._cursor.expect("connect", "in", f"connect to {reader!r}")
        rc = int(message.extra.get("rc", 0))
        self._protocol = int(message.extra.get("protocol", self._protocol))
        return rc, (1 if not rc else 0), self._protocol

    def SCardStatus(self, handle: int) -> Any:
        with self._cursor.lock:
            self._skip_presence()
            message = self._cursor.expect("status", "in", "status")
        rc = int(message.extra.get("rc", 0))
        atr = list(self._cursor.payload(message))
        state = self.SCARD_STATE_PRESENT
        return rc, self._reader, state, int(message.extra.get("protocol", self._protocol)), atr

    def SCardTransmit(self, handle: int, protocol: int, apdu: Any) -> Any:
        command = bytes(apdu)
        shown = summaries.command_hex(command)
        cursor = self._cursor
        with cursor.lock:
            self._skip_presence()
            sent = cursor.expect("transmit", "out", f"{shown} ({summaries.describe_apdu(command)})")
            cursor.check_bytes(sent, command, shown, summaries.describe_apdu)
            message = cursor.expect("transmit", "in", "(waiting for the response)")
        rc = int(message.extra.get("rc", 0))
        return rc, list(cursor.payload(message)) if message.hex or "sealed" in message.extra else []

    def SCardDisconnect(self, handle: int, disposition: int) -> int:
        if self._cursor.failure is not None:
            return 0  # diverged already (and said so): let the driver close
        with self._cursor.lock:
            self._skip_presence()
            message = self._cursor.expect("disconnect", "out", f"disconnect ({disposition})")
        if message.extra.get("disposition", disposition) != disposition:
            raise self._cursor.diverged(message, f"disconnect out (disposition {disposition})")
        return 0


class ReplayCardSlot:
    """The scenario's hand on a replayed card reader (``insert_card``/``remove_card``).

    It has no card to give: it tells the replay *when* the recorded card
    arrives and leaves, so the terminal sees it at the same scenario steps.
    """

    def __init__(self, scard: ReplayScard, clock: Clock) -> None:
        self._scard = scard
        self._clock = clock
        self._card: Any = None
        scard.hand = False

    @property
    def name(self) -> str:
        return self._scard.reader

    @property
    def inserted_card(self) -> Any:
        return self._card

    def insert(self, card: Any) -> None:
        self._card = card
        self._scard.hand = True
        self._clock.notify()

    def remove(self) -> Any:
        card, self._card = self._card, None
        self._scard.hand = False
        self._clock.notify()
        return card

    def wait_for_removal(self, timeout: float | None) -> bool:
        return self._clock.wait_until(lambda: self._card is None, timeout)
