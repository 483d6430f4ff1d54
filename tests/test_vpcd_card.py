"""The card side of the vpcd protocol, against a fake vpcd (a plain listening socket).

No pcscd here: these check the framing, the control codes, and that nothing a
peer sends can kill the serving thread.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

import pytest

from drivers.errors import CardError
from drivers.wire import iso7816 as cmd
from simulator.devices import cards
from simulator.devices.card import VirtualCard
from simulator.devices.vpcd_card import (
    CTRL_ATR,
    CTRL_OFF,
    CTRL_ON,
    CTRL_RESET,
    MAX_ATR,
    VpcdCardLink,
    frame,
    tcp_connector,
)

TIMEOUT = 5.0


class FakeVpcd:
    """The reader side: accepts the card's connection and speaks vpcd frames."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(TIMEOUT)
        self.port = self.server.getsockname()[1]
        self.peer: socket.socket | None = None

    def accept(self) -> socket.socket:
        peer, _ = self.server.accept()
        peer.settimeout(TIMEOUT)
        self.peer = peer
        return peer

    def send(self, payload: bytes) -> None:
        assert self.peer is not None
        self.peer.sendall(frame(payload))

    def receive(self) -> bytes:
        assert self.peer is not None
        header = _recv_exact(self.peer, 2)
        (length,) = struct.unpack(">H", header)
        return _recv_exact(self.peer, length)

    def exchange(self, payload: bytes) -> bytes:
        self.send(payload)
        return self.receive()

    def closed_by_card(self) -> bool:
        assert self.peer is not None
        return self.peer.recv(1) == b""

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()
        self.server.close()


def _recv_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, "the card closed the link"
        data += chunk
    return data


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    fake = FakeVpcd()
    yield fake
    fake.close()


def make_card() -> VirtualCard:
    return VirtualCard(cards.load("unionpay_debit"))


def link_to(vpcd: FakeVpcd) -> VpcdCardLink:
    return VpcdCardLink(tcp_connector("127.0.0.1", vpcd.port), name="test", reconnect_interval=0.01)


def test_atr_power_and_apdus(vpcd: FakeVpcd) -> None:
    card = make_card()
    link = link_to(vpcd)
    link.insert(card)
    try:
        vpcd.accept()
        assert vpcd.exchange(bytes([CTRL_ATR])) == card.image.atr
        vpcd.send(bytes([CTRL_OFF]))
        vpcd.send(bytes([CTRL_ON]))
        response = vpcd.exchange(cmd.select(cmd.PSE_NAME))
        assert response[-2:] == b"\x90\x00"
        assert link.exchanges == 1
        assert card.powered
        assert link.errors == 0
    finally:
        link.remove()
    assert vpcd.closed_by_card(), "removing the card must close the link"
    assert not card.powered
    assert link.card is None


def test_a_mute_card_is_there_but_gives_no_atr_vpcd_can_use(vpcd: FakeVpcd) -> None:
    # vpcd (ifd-vpcd.c) takes an empty ATR answer for a removal: the card would vanish.
    # It accepts any other answer as "present", and refuses one longer than its ATR
    # buffer (ISO/IEC 7816-3's 33 bytes) when powering the card up, keeping the link.
    card = VirtualCard(cards.load("magstripe_only"))
    link = link_to(vpcd)
    link.insert(card)
    try:
        vpcd.accept()
        presence = vpcd.exchange(bytes([CTRL_ATR]))
        vpcd.send(bytes([CTRL_ON]))
        power_up = vpcd.exchange(bytes([CTRL_ATR]))
        vpcd.send(bytes([CTRL_RESET]))
        reset = vpcd.exchange(bytes([CTRL_ATR]))
        assert presence == power_up == reset
        assert len(presence) == MAX_ATR + 1
        assert link.errors == 0 and link.connected.is_set()
    finally:
        link.remove()
    assert vpcd.closed_by_card()


def test_one_card_at_a_time(vpcd: FakeVpcd) -> None:
    link = link_to(vpcd)
    link.insert(make_card())
    try:
        with pytest.raises(CardError, match="already in the slot"):
            link.insert(make_card())
    finally:
        link.remove()


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (frame(b"\x07"), "unknown control code 0x07"),
        (struct.pack(">H", 0), "empty frame"),
        (struct.pack(">H", 10) + b"\x00\xa4", "inside a frame"),
        (b"\x00", "inside a frame"),
    ],
    ids=["unknown-control", "empty-frame", "truncated-frame", "truncated-header"],
)
def test_malformed_frames_drop_the_link_not_the_server(
    vpcd: FakeVpcd, raw: bytes, problem: str
) -> None:
    card = make_card()
    link = link_to(vpcd)
    link.insert(card)
    try:
        first = vpcd.accept()
        first.sendall(raw)
        if problem == "inside a frame":
            first.shutdown(socket.SHUT_WR)  # the peer goes away mid-frame
        assert vpcd.closed_by_card()
        first.close()
        # The serving thread survived: it reconnects and answers properly.
        vpcd.accept()
        assert vpcd.exchange(bytes([CTRL_ATR])) == card.image.atr
        assert link.errors >= 1
        assert link.last_error is not None and problem in link.last_error
    finally:
        link.remove()


class ExplodingCard:
    """A card with a bug: the link must survive it."""

    def __init__(self) -> None:
        self.calls = 0

    def power_on(self) -> bytes:
        return bytes.fromhex("3B00")

    def power_off(self) -> None:
        pass

    def process_apdu(self, apdu: bytes) -> bytes:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("card firmware bug")
        return b"\x90\x00"


def test_a_card_that_raises_does_not_kill_the_thread(vpcd: FakeVpcd) -> None:
    card = ExplodingCard()
    link = link_to(vpcd)
    link.insert(card)
    try:
        vpcd.accept()
        vpcd.send(bytes.fromhex("00A4040000"))
        assert vpcd.closed_by_card()
        vpcd.accept()
        assert vpcd.exchange(bytes.fromhex("00A4040000")) == b"\x90\x00"
        assert link.last_error is not None and "card firmware bug" in link.last_error
    finally:
        link.remove()


def test_a_card_answer_without_status_word_is_refused(vpcd: FakeVpcd) -> None:
    class Mute(ExplodingCard):
        def process_apdu(self, apdu: bytes) -> bytes:
            return b""

    link = link_to(vpcd)
    link.insert(Mute())
    try:
        vpcd.accept()
        vpcd.send(bytes.fromhex("00A4040000"))
        assert vpcd.closed_by_card()
        assert link.last_error is not None and "no SW1 SW2" in link.last_error
    finally:
        link.remove()


def test_no_vpcd_listening_is_reported_and_retried() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    # Nothing listens on `port` now: the link keeps trying and says why.
    messages: list[str] = []
    link = VpcdCardLink(
        tcp_connector("127.0.0.1", port), reconnect_interval=0.01, on_event=messages.append
    )
    link.insert(make_card())
    try:
        assert not link.connected.wait(0.2)
        assert link.last_error is not None and "cannot connect to vpcd" in link.last_error
    finally:
        link.remove()
    assert any("cannot connect" in message for message in messages)
