"""A virtual card in a vsmartcard vpcd reader: the card side of the vpcd protocol.

vpcd is a pcscd reader driver that exchanges with its card over TCP. Each
message is a 2-byte big-endian length and a payload; a 1-byte payload is a
control code (0 power off, 1 power on, 2 reset, 4 "send your ATR"), anything
longer is a command APDU and the card answers with a response APDU. The ATR
request doubles as vpcd's presence check, made on every pcscd poll (~400 ms).

How insertion and removal work (checked against vpcd's source, ``vpcd.c``):
vpcd listens; a card *connecting* is a card inserted, and the link closing is
the card removed -- vpcd drops the link itself on an empty ATR or a failed
exchange, so "stay connected and answer nothing" is not a state it knows. So
:meth:`VpcdCardLink.insert` connects and serves, :meth:`VpcdCardLink.remove`
closes the link, and pcscd reports the change at its next poll.
:class:`VpcdCardSlot` waits for that report before returning, so a scenario
step that inserts or removes a card leaves pcscd in the state it describes.

A mute card (:attr:`VirtualCard.mute`: no ATR) must look like a real one: in
the reader, unresponsive. An empty answer to the ATR request will not do --
vpcd takes it for a removal (``vicc_present``). So the link answers every
ATR request of a mute card with :data:`MUTE_ATR_ANSWER`, 34 bytes, one more
than ISO/IEC 7816-3's 33-byte maximum: the presence check only wants a
non-empty answer (the card is there), and the power-up refuses it (vpcd's
``IFDHGetCapabilities``: "Not enough memory for ATR", the link kept). pcscd
then marks the slot ``SCARD_PRESENT | SCARD_SWALLOWED`` -- clients see
``SCARD_STATE_PRESENT | SCARD_STATE_MUTE``, ``pcsc_scan`` prints "Card
inserted, Unresponsive card", and ``SCardConnect`` fails with
``SCARD_W_UNPOWERED_CARD`` -- exactly what pcscd does with a mute card in a
USB reader (pcsc-lite ``eventhandler.c``: a failed power-up is "Error powering
up card").

Speed: ``TCP_NODELAY`` on the socket and ``TCP_QUICKACK`` before every
``recv`` (Linux clears it after each read); without QUICKACK every APDU waits
~40 ms for a delayed ACK. With both: ~0.1 ms per APDU through pcscd.

The serving thread never dies of what the peer sends: a malformed frame is
logged, counted (:attr:`VpcdCardLink.errors`) and ends that connection; the
link then reconnects (the card is still in the slot).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import socket
import struct
import threading
from collections.abc import Callable
from typing import Protocol

from drivers.clock import Clock
from drivers.errors import CardError
from simulator.devices.card_slot import HeldCard
from simulator.errors import WireFormatError
from simulator.pcscd import PcscdError, watch_reader

log = logging.getLogger(__name__)

CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04
DEFAULT_PORT = 35963
MAX_FRAME = 0xFFFF
MAX_ATR = 33  # ISO/IEC 7816-3: TS and at most 32 more characters
# What a mute card answers vpcd's ATR requests with: "present", but no ATR (see above).
MUTE_ATR_ANSWER = bytes(MAX_ATR + 1)


class VpcdProtocolError(WireFormatError):
    """The vpcd peer sent something that is not a vpcd frame."""


class ApduCard(Protocol):
    """What a vpcd link serves: a :class:`VirtualCard`, or a scripted test card."""

    def power_on(self) -> bytes: ...

    def power_off(self) -> None: ...

    def process_apdu(self, apdu: bytes) -> bytes: ...


Connector = Callable[[], socket.socket]


def tcp_connector(host: str, port: int, timeout: float = 2.0) -> Connector:
    def connect() -> socket.socket:
        return socket.create_connection((host, port), timeout=timeout)

    return connect


def frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise VpcdProtocolError(f"a {len(payload)}-byte payload does not fit a vpcd frame")
    return struct.pack(">H", len(payload)) + payload


class VpcdCardLink:
    """One vpcd slot's card side: at most one card, served on its own thread."""

    def __init__(
        self,
        connect: Connector,
        *,
        name: str = "vpcd",
        reconnect_interval: float = 0.2,
        on_event: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self._connect = connect
        self._reconnect_interval = reconnect_interval
        self._on_event = on_event
        self._lock = threading.Lock()
        self._card: ApduCard | None = None
        self._atr = b""
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()
        self.last_error: str | None = None
        self.errors = 0  # malformed frames and failed exchanges, for checks
        self.exchanges = 0  # APDUs answered
        # Fault hook: APDUs still answered before the card is pulled (None: never), and
        # what wraps the pull (the slot holds the clock still until pcscd sees it).
        self._remove_after: int | None = None
        self._on_pull: Callable[[Callable[[], None]], None] | None = None

    @property
    def card(self) -> ApduCard | None:
        return self._card

    def insert(self, card: ApduCard) -> None:
        """Put ``card`` in the slot: connect to vpcd and serve it (in the background)."""
        with self._lock:
            if self._card is not None:
                raise CardError(f"{self.name}: a card is already in the slot; remove it first")
            self._atr = card.power_on()
            self._card = card
            self._stop = threading.Event()
            self._thread = threading.Thread(
                target=self._run,
                args=(card, self._stop),
                name=f"vpcd-card-{self.name}",
                daemon=True,
            )
            self._thread.start()

    def remove(self) -> ApduCard | None:
        """Take the card out: close the link (vpcd sees the card gone) and power it off."""
        with self._lock:
            card, thread = self._card, self._thread
            self._stop.set()
            sock = self._sock
            if sock is not None:
                _shutdown(sock)
        if thread is not None:
            thread.join(5.0)
            if thread.is_alive():
                log.warning("%s: the serving thread did not stop within 5 s", self.name)
        with self._lock:
            self._card = None
            self._thread = None
            self._atr = b""
        if card is not None:
            card.power_off()
        return card

    def close(self) -> None:
        self.remove()

    def remove_after(
        self, apdus: int | None, on_pull: Callable[[Callable[[], None]], None] | None = None
    ) -> None:
        """Fault hook: the card is pulled out after answering ``apdus`` more commands
        (the next one is never answered: the link drops, pcscd sees no card); None
        cancels it. ``on_pull`` is called with the pull to run, on the serving thread."""
        with self._lock:
            self._remove_after, self._on_pull = apdus, on_pull

    def _pull_due(self) -> bool:
        with self._lock:
            if self._remove_after is None:
                return False
            if self._remove_after > 0:
                self._remove_after -= 1
                return False
            self._remove_after = None
            return True

    def _pull(self, sock: socket.socket, card: ApduCard) -> None:
        with self._lock:
            self._card = None
            self._stop.set()
            _shutdown(sock)
        card.power_off()

    # -- the serving thread ---------------------------------------------------------------------

    def _event(self, message: str) -> None:
        log.info("%s: %s", self.name, message)
        if self._on_event is not None:
            self._on_event(message)

    def _note_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message
        self._event(message)

    def _run(self, card: ApduCard, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                sock = self._connect()
            except OSError as exc:
                self._note_error(f"cannot connect to vpcd: {exc}")
                if stop.wait(self._reconnect_interval):
                    return
                continue
            with self._lock:
                if stop.is_set():
                    sock.close()
                    return
                self._sock = sock
            self.connected.set()
            self._event("connected: the card is in the reader")
            try:
                self._serve(sock, card)
                if not stop.is_set():
                    self._event("vpcd closed the link")
            except VpcdProtocolError as exc:
                self._note_error(f"malformed frame from vpcd, dropping the link: {exc}")
            except OSError as exc:
                if not stop.is_set():
                    self._note_error(f"link lost: {exc}")
            except Exception as exc:  # the thread must outlive any bug in a card
                log.exception("%s: serving the card failed", self.name)
                self._note_error(f"serving the card failed: {type(exc).__name__}: {exc}")
            finally:
                self.connected.clear()
                with self._lock:
                    self._sock = None
                sock.close()
            if stop.wait(self._reconnect_interval):
                return

    def _serve(self, sock: socket.socket, card: ApduCard) -> None:
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            header = _recv_exact(sock, 2, at_boundary=True)
            if header is None:
                return
            (length,) = struct.unpack(">H", header)
            if length == 0:
                raise VpcdProtocolError("empty frame")
            payload = _recv_exact(sock, length, at_boundary=False)
            assert payload is not None
            if length == 1:
                self._control(sock, card, payload[0])
                continue
            if self._pull_due():
                pull = functools.partial(self._pull, sock, card)
                self._on_pull(pull) if self._on_pull is not None else pull()
                return
            response = card.process_apdu(payload)
            if len(response) < 2:
                raise VpcdProtocolError(f"the card answered {len(response)} bytes (no SW1 SW2)")
            self.exchanges += 1
            sock.sendall(frame(response))

    def _control(self, sock: socket.socket, card: ApduCard, code: int) -> None:
        if code == CTRL_ATR:
            sock.sendall(frame(self._atr or MUTE_ATR_ANSWER))
        elif code == CTRL_OFF:
            card.power_off()
        elif code in (CTRL_ON, CTRL_RESET):
            self._atr = card.power_on()
        else:
            raise VpcdProtocolError(f"unknown control code 0x{code:02X}")


def _recv_exact(sock: socket.socket, count: int, *, at_boundary: bool) -> bytes | None:
    """``count`` bytes; None on a clean EOF before the first byte of a frame."""
    data = bytearray()
    while len(data) < count:
        # Linux resets QUICKACK after every read: set it each time, or the
        # peer's next frame waits ~40 ms for our delayed ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        chunk = sock.recv(count - len(data))
        if not chunk:
            if at_boundary and not data:
                return None
            raise VpcdProtocolError(f"link closed inside a frame ({len(data)} of {count} bytes)")
        data += chunk
    return bytes(data)


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer
        sock.shutdown(socket.SHUT_RDWR)


class VpcdCardSlot:
    """The simulation's hand at a vpcd reader (a :class:`CardSlot`).

    :meth:`insert` and :meth:`remove` return only once pcscd reports the new
    state (real time, bounded by ``settle_timeout``), then wake the simulation's
    waiters. The caller is a busy actor meanwhile, so virtual time stands still
    however long pcscd takes to poll -- which keeps transcripts identical run to
    run.
    """

    def __init__(
        self,
        link: VpcdCardLink,
        reader: str,
        clock: Clock,
        *,
        settle_timeout: float = 2.0,
        field: bool = False,
    ) -> None:
        self.name = reader
        # A PICC reader's slot: the card is held in the field (VirtualCard.in_field).
        self.field = field
        self._link = link
        self._held: HeldCard | None = None  # what the link serves, as the cardholder holds it
        self._clock = clock
        self._settle_timeout = settle_timeout
        # pcscd's event count when it reported our card: the removal must move it on.
        self._inserted_at = -1

    @property
    def reader(self) -> str:
        return self.name

    @property
    def link(self) -> VpcdCardLink:
        return self._link

    @property
    def inserted_card(self) -> HeldCard | None:
        return self._held if self._link.card is not None else None

    def insert(self, card: HeldCard) -> None:
        card.in_field = self.field
        self._link.insert(card)
        self._held = card
        count = watch_reader(self.name, True, self._settle_timeout)
        if count is None:
            self._link.remove()
            raise PcscdError(
                f"pcscd did not report the card in {self.name!r} within "
                f"{self._settle_timeout:g} s (vpcd link: {self._link.last_error or 'no error'})"
            )
        self._inserted_at = count
        self._clock.notify()

    def remove(self) -> HeldCard | None:
        had_card = self._link.card is not None
        self._link.remove()
        card, self._held = self._held if had_card else None, None
        if card is not None:
            card.in_field = False
        if had_card and (
            watch_reader(self.name, False, self._settle_timeout, newer_than=self._inserted_at)
            is None
        ):
            raise PcscdError(
                f"pcscd still reports a card in {self.name!r} {self._settle_timeout:g} s "
                "after it was removed"
            )
        self._clock.notify()
        return card

    def wait_for_removal(self, timeout: float | None) -> bool:
        return self._clock.wait_until(lambda: self._link.card is None, timeout)

    def remove_after(self, apdus: int | None) -> None:
        """Fault hook (a scenario's card_fault): the card leaves after ``apdus`` more
        answers, in the middle of the terminal's next command."""
        self._link.remove_after(apdus, self._pulled)

    def _pulled(self, pull: Callable[[], None]) -> None:
        # On the link's thread: virtual time holds still until pcscd reports the slot
        # empty, as in remove(), so every run sees the removal at the same instant.
        with self._clock.actor():
            pull()
            watch_reader(self.name, False, self._settle_timeout, newer_than=self._inserted_at)
        self._clock.notify()

    def close(self) -> None:
        self._link.close()
