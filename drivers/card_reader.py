"""Card readers: ISO 7816 APDU exchange with contact/contactless cards and
track 2 from a magnetic stripe head."""

from __future__ import annotations

import abc
import enum
from typing import ClassVar

import attrs

from drivers.errors import CardProtocolError

GET_RESPONSE = bytes.fromhex("00C00000")
# Bounds the GET RESPONSE / re-send dance so a misbehaving card cannot loop us.
_MAX_CHAINED_EXCHANGES = 16


class CardInterface(str, enum.Enum):
    CONTACT = "contact"
    CONTACTLESS = "contactless"
    MAGSTRIPE = "magstripe"


@attrs.frozen
class CardPresented:
    """A card the cardholder put to the reader."""

    interface: CardInterface
    atr: bytes = b""
    track2: str | None = None  # only for a swipe; never logged unredacted


@attrs.frozen
class ApduResponse:
    data: bytes
    sw1: int
    sw2: int

    @property
    def sw(self) -> int:
        return (self.sw1 << 8) | self.sw2

    @property
    def ok(self) -> bool:
        return self.sw == 0x9000

    def raw(self) -> bytes:
        return self.data + bytes([self.sw1, self.sw2])

    @classmethod
    def from_raw(cls, raw: bytes) -> ApduResponse:
        if len(raw) < 2:
            raise CardProtocolError(f"card response {raw.hex().upper()!r} is shorter than SW1 SW2")
        return cls(data=bytes(raw[:-2]), sw1=raw[-2], sw2=raw[-1])


class CardReader(abc.ABC):
    """A reader with one card slot.

    Subclasses implement the transport (:meth:`_transmit_raw`); :meth:`transmit`
    adds the T=0 conventions every EMV kernel expects: ``61xx`` -> GET RESPONSE
    and ``6Cxx`` -> re-send with the right Le.
    """

    # The name configurations, traces and --pos-<device> options use (drivers.kinds).
    device_kind: ClassVar[str] = "card_reader"

    name: str = "card reader"

    @abc.abstractmethod
    def wait_for_card(self, timeout: float | None) -> CardPresented | None:
        """Block until a card is presented; ``None`` on timeout."""

    @abc.abstractmethod
    def card_present(self) -> bool: ...

    def presentation(self) -> int | None:
        """Which presentation of a card the reader holds now: a number that changes
        each time a card enters the slot or field (None: no card). A contactless
        reader uses it to tell a new tap from a card still in the field (EMV Book
        A: after a transaction the card must leave the field first). Readers
        that cannot tell answer 0 while a card is present."""
        return 0 if self.card_present() else None

    @abc.abstractmethod
    def connect(self) -> bytes:
        """Power the card up and return its ATR."""

    @abc.abstractmethod
    def disconnect(self) -> None:
        """Power the card down."""

    @abc.abstractmethod
    def _transmit_raw(self, apdu: bytes) -> bytes:
        """Send one command APDU and return the raw response (data + SW1 SW2)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the reader."""

    def transmit(self, apdu: bytes) -> ApduResponse:
        command = apdu
        response = ApduResponse.from_raw(self._transmit_raw(command))
        collected = b""
        for _ in range(_MAX_CHAINED_EXCHANGES):
            if response.sw1 == 0x61:
                # ISO/IEC 7816-4 '61XX': SW2 bytes still available, for GET RESPONSE
                # (which may answer some of them and 61xx again: EMV Book 1, Annex A).
                collected += response.data
                command = GET_RESPONSE + bytes([response.sw2])
            elif response.sw1 == 0x6C and len(command) >= 4:
                # ISO/IEC 7816-3, T=0 '6CXX': re-send the *previous* command header --
                # the GET RESPONSE, if that was it -- with P3 = XX.
                command = _with_le(command, response.sw2)
            else:
                return ApduResponse(collected + response.data, response.sw1, response.sw2)
            response = ApduResponse.from_raw(self._transmit_raw(command))
        raise CardProtocolError("card kept answering 61xx/6Cxx: gave up after 16 exchanges")


def mute_card_error(reader: str) -> CardProtocolError:
    """A card in the slot that gives no ATR: the reader cannot power it up.

    One text for every transport, so a transcript reads the same in process and
    through pcscd (pcscd's SCARD_W_UNPOWERED_CARD with SCARD_STATE_MUTE).
    """
    return CardProtocolError(f"{reader}: the card does not answer (mute card: no ATR)")


def _with_le(apdu: bytes, le: int) -> bytes:
    """The same command with its Le replaced (case 2) or appended (case 1)."""
    header = apdu[:4]
    if len(apdu) == 4:
        return header + bytes([le])
    if len(apdu) == 5:
        return header + bytes([le])
    lc = apdu[4]
    body = apdu[5 : 5 + lc]
    return header + bytes([lc]) + body + bytes([le])
