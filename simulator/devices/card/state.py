"""What the virtual card remembers: EEPROM that survives power-off, RAM that does not.

EEPROM (:class:`CardState` attributes): the ATC, the PIN try counter, the
last online ATC (and, for checks, the last issuer authentication's result and
the internal error behind the last ``6F00``). RAM, cleared at
power-on and power-off: the selected file, the transaction in progress
(:class:`Transaction`: GPO done, the CVR, the first AC's inputs; a new one at
every successful SELECT) and the T=0 response waiting for GET RESPONSE.

The CVR (Card Verification Results, in the IAD at bytes 3..6: ``03`` + 3
bytes, the VIS/PBOC layout), as this card sets it:

* byte 1: b8-b7 second AC type (``00`` AAC, ``01`` TC, ``10`` not requested),
  b6-b5 first AC type (``00`` AAC, ``10`` ARQC), b4 issuer authentication
  performed and failed, b3 offline PIN performed, b2 offline PIN failed,
  b1 unable to go online;
* byte 2: b7 PIN try limit exceeded, b3 issuer authentication not performed
  after online authorisation.
"""

from __future__ import annotations

from simulator.devices.card_image import Application, CardImage

# CVR bits (byte index within the 3 CVR bytes after its length byte).
CVR_SECOND_AC_NOT_REQUESTED = (0, 0x80)
CVR_SECOND_AC_TC = (0, 0x40)
CVR_FIRST_AC_ARQC = (0, 0x20)
CVR_ISSUER_AUTH_FAILED = (0, 0x08)
CVR_OFFLINE_PIN_PERFORMED = (0, 0x04)
CVR_OFFLINE_PIN_FAILED = (0, 0x02)
CVR_UNABLE_TO_GO_ONLINE = (0, 0x01)
CVR_PIN_TRY_LIMIT_EXCEEDED = (1, 0x40)
CVR_ISSUER_AUTH_NOT_PERFORMED = (1, 0x04)


class Transaction:
    """RAM: what happened since the application was selected."""

    def __init__(self) -> None:
        self.gpo_done = False
        self.cvr = bytearray(3)
        self.first_ac: dict[str, bytes] | None = None  # the tags the first AC was computed on
        self.first_cid: int | None = None
        self.second_done = False
        self.issuer_authentication: bool | None = None  # via EXTERNAL AUTHENTICATE

    def set(self, bit: tuple[int, int]) -> None:
        self.cvr[bit[0]] |= bit[1]

    def clear(self, bit: tuple[int, int]) -> None:
        self.cvr[bit[0]] &= ~bit[1] & 0xFF


class CardState:
    """One physical card's memory and contacts; the command families act on it."""

    def __init__(self, image: CardImage) -> None:
        self.image = image
        self.atc = image.atc
        self.last_online_atc = 0
        self.pin_tries_left = image.pin_tries_left
        # In a PICC slot's field (set by the slot): the contactless ATR, the PPSE.
        self.in_field = False
        # A phone wallet: the cardholder verified on the phone for the next tap.
        self.cdcvm_verified = False
        self.apdu_count = 0  # every command APDU since the card was made
        self.powered = False
        # Result of the last issuer authentication (None: not performed), kept for checks.
        self.issuer_authentication: bool | None = None
        self.last_error: str | None = None  # the internal error behind the last 6F00
        self._selected: Application | None = None
        self._pse_selected = False
        self._last_select: tuple[bytes, int] | None = None
        self._txn = Transaction()
        self._pending: bytes = b""  # T=0: data waiting for GET RESPONSE

    @property
    def mute(self) -> bool:
        """True for a card without a chip (or without the interface it is held to):
        no ATR, no answer to any APDU."""
        if self.in_field:
            return not self.image.contactless
        return not (self.image.chip and self.image.contact)

    def power_on(self) -> bytes:
        """Cold reset: RAM state cleared, the ATR returned (empty for a mute card)."""
        self.powered = True
        self._selected = None
        self._pse_selected = False
        self._last_select = None
        self._txn = Transaction()
        self._pending = b""
        if self.mute:
            return b""
        return self.image.contactless_atr if self.in_field else self.image.atr

    def power_off(self) -> None:
        self.powered = False
        self._selected = None
        self._pse_selected = False
        self._txn = Transaction()
        self._pending = b""

    @property
    def selected_aid(self) -> str | None:
        return None if self._selected is None else self._selected.aid_hex

    @property
    def cvr(self) -> bytes:
        """The CVR of the transaction in progress (3 bytes)."""
        return bytes(self._txn.cvr)
