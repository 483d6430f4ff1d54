"""A MIFARE Classic 1K storage card in a reader's field, as a PC/SC reader presents it.

A storage card speaks no ISO 7816-4: the PC/SC reader makes up its ATR (PC/SC
Part 3 3.1.3.2.3.2: ``3B 8F 80 01 80 4F 0C A0 00 00 03 06 03 00 01 00 00 00 00
6A`` for a Classic 1K) and turns the Part 3 *pseudo-APDUs* (class ``FF``) into
the card's own commands. This class answers them as such a reader does:

===================================  ==============================================
``FF CA 00 00 Le``                   GET DATA: the UID (4 bytes)
``FF 82 00 NN 06 key``               LOAD KEYS: a 6-byte key into the reader's slot
                                     ``NN`` (0 or 1, volatile)
``FF 86 00 00 05 01 00 BB TT NN``    GENERAL AUTHENTICATE block ``BB`` with key type
                                     ``TT`` (``60`` key A, ``61`` key B) from slot ``NN``
``FF 88 00 BB TT NN``                the same, the obsolete form
``FF B0 00 BB 10``                   READ BINARY: block ``BB`` (16 bytes)
``FF D6 00 BB 10 data``              UPDATE BINARY: block ``BB``
===================================  ==============================================

(the forms gongjr/KXMealOrderApp's Lakala membership code sends: ``FF CA 00 00
04``, ``FF 82 00 00 06 FF..FF``, ``FF 86 00 00 05 01 00 04 60 00``, ``FF B0 00
04 10``, ``FF D6 00 04 10 ...``).

The card: 16 sectors of 4 blocks; block 3 of each sector is its trailer (key A,
the access bits, key B; key A always reads as zeros), block 0 the manufacturer
block (UID, BCC; read-only). A block is read or written only after an
authentication of its sector, with the key the sector's access bits allow (the
MIFARE Classic data sheet's table for data blocks; trailers are read-only
here). Status words: ``63 00`` authentication failed (a wrong key, as the
Lakala code checks), ``69 82`` not authenticated or not allowed, ``6A 82`` no
such block, ``6A 81`` a function the card has not (e.g. FF CA 01: no ATS).

A *value block* (:func:`value_block`) holds a 4-byte signed value three times
(once inverted) and an address byte four times, as the data sheet lays it out.
"""

from __future__ import annotations

from drivers.wire.pcsc_atr import storage_card_atr

CLASSIC_1K = 0x0001
SECTORS, BLOCKS_PER_SECTOR, BLOCK = 16, 4, 16
DEFAULT_KEY = b"\xff" * 6
# Transport configuration: data blocks read/write with key A or B.
TRANSPORT_ACCESS = bytes.fromhex("FF078069")
KEY_A, KEY_B = 0x60, 0x61

SW_OK = b"\x90\x00"
SW_AUTH_FAILED = b"\x63\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NOT_ALLOWED = b"\x69\x82"
SW_NOT_SUPPORTED = b"\x6a\x81"
SW_NO_BLOCK = b"\x6a\x82"
SW_WRONG_P1P2 = b"\x6b\x00"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"

# Data block access conditions (C1 C2 C3) -> (keys that read, keys that write).
_DATA_ACCESS = {
    (0, 0, 0): ({KEY_A, KEY_B}, {KEY_A, KEY_B}),
    (0, 1, 0): ({KEY_A, KEY_B}, set()),
    (1, 0, 0): ({KEY_A, KEY_B}, {KEY_B}),
    (1, 1, 0): ({KEY_A, KEY_B}, {KEY_B}),
    (0, 0, 1): ({KEY_A, KEY_B}, set()),
    (0, 1, 1): ({KEY_B}, {KEY_B}),
    (1, 0, 1): ({KEY_B}, set()),
    (1, 1, 1): (set(), set()),
}


def access_bits(data: tuple[int, int, int], trailer: tuple[int, int, int] = (0, 0, 1)) -> bytes:
    """Access bytes 6-8 (and the user byte 69) giving blocks 0-2 ``data`` (C1 C2 C3)."""
    c1 = sum(bit << block for block, bit in enumerate((data[0],) * 3 + (trailer[0],)))
    c2 = sum(bit << block for block, bit in enumerate((data[1],) * 3 + (trailer[1],)))
    c3 = sum(bit << block for block, bit in enumerate((data[2],) * 3 + (trailer[2],)))
    byte6 = ((~c2 & 0xF) << 4) | (~c1 & 0xF)
    byte7 = (c1 << 4) | (~c3 & 0xF)
    byte8 = (c3 << 4) | c2
    return bytes([byte6, byte7, byte8, 0x69])


def _conditions(access: bytes, block: int) -> tuple[int, int, int]:
    c1, c2, c3 = access[1] >> 4, access[2] & 0xF, access[2] >> 4
    return ((c1 >> block) & 1, (c2 >> block) & 1, (c3 >> block) & 1)


def value_block(value: int, address: int) -> bytes:
    """A MIFARE value block: value, ~value, value (4 bytes each, little-endian), address,
    ~address, address, ~address."""
    raw = (value & 0xFFFFFFFF).to_bytes(4, "little")
    inverted = bytes(~byte & 0xFF for byte in raw)
    return raw + inverted + raw + bytes([address, ~address & 0xFF, address, ~address & 0xFF])


def read_value(block: bytes) -> int | None:
    """The value a value block holds; None when its copies disagree (a torn write)."""
    raw, inverted, again = block[0:4], block[4:8], block[8:12]
    if raw != again or any(a ^ b != 0xFF for a, b in zip(raw, inverted, strict=True)):
        return None
    return int.from_bytes(raw, "little", signed=True)


class MifareClassic1K:
    """One MIFARE Classic 1K card (a :class:`~simulator.devices.card_slot.HeldCard`)."""

    def __init__(self, uid: bytes, *, name: str = "mifare_classic_1k") -> None:
        if len(uid) != 4:
            raise ValueError("a MIFARE Classic 1K has a 4-byte UID")
        self.name = name
        self.uid = uid
        self.in_field = False
        self.powered = False
        self.apdu_count = 0
        bcc = uid[0] ^ uid[1] ^ uid[2] ^ uid[3]
        self.blocks = [bytearray(BLOCK) for _ in range(SECTORS * BLOCKS_PER_SECTOR)]
        self.blocks[0][:5] = uid + bytes([bcc])
        self.blocks[0][5:8] = b"\x08\x04\x00"  # SAK, ATQA
        for sector in range(SECTORS):
            self.set_trailer(sector, DEFAULT_KEY, TRANSPORT_ACCESS, DEFAULT_KEY)
        self._keys: dict[int, bytes] = {}  # the reader's volatile key slots
        self._authenticated: tuple[int, int] | None = None  # (sector, key type)

    # -- personalisation --------------------------------------------------------------

    def set_trailer(self, sector: int, key_a: bytes, access: bytes, key_b: bytes) -> None:
        self.blocks[sector * BLOCKS_PER_SECTOR + 3][:] = key_a + access + key_b

    def write(self, block: int, data: bytes) -> None:
        """Write a block directly (personalisation, not through the reader)."""
        self.blocks[block][:] = data

    # -- HeldCard -----------------------------------------------------------------

    @property
    def mute(self) -> bool:
        return not self.in_field  # no contacts: only in a field

    def power_on(self) -> bytes:
        self.powered = True
        self._authenticated = None
        return b"" if self.mute else storage_card_atr(CLASSIC_1K)

    def power_off(self) -> None:
        self.powered = False
        self._authenticated = None

    def process_apdu(self, apdu: bytes) -> bytes:
        self.apdu_count += 1
        if self.mute or not self.powered:
            return b""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = apdu[4:]
        if cla != 0xFF:
            return SW_CLA_NOT_SUPPORTED
        if ins == 0xCA:
            return self._get_data(p1, p2)
        if ins == 0x82:
            return self._load_key(p1, p2, body)
        if ins == 0x86:
            if body[:1] != b"\x05" or len(body) < 6 or body[1:3] != b"\x01\x00":
                return SW_WRONG_LENGTH
            return self._authenticate(body[3], body[4], body[5])
        if ins == 0x88:
            return self._authenticate(p2, body[0], body[1]) if len(body) >= 2 else SW_WRONG_LENGTH
        if ins == 0xB0:
            return self._read(p1, p2)
        if ins == 0xD6:
            return self._update(p1, p2, body)
        return SW_INS_NOT_SUPPORTED

    # -- the pseudo-APDUs -------------------------------------------------------------

    def _get_data(self, p1: int, p2: int) -> bytes:
        if p2:
            return SW_WRONG_P1P2
        if p1 == 0x00:
            return self.uid + SW_OK
        return SW_NOT_SUPPORTED  # 01: the ATS -- a storage card has none

    def _load_key(self, p1: int, slot: int, body: bytes) -> bytes:
        if p1 != 0x00 or slot > 1:
            return SW_WRONG_P1P2
        if len(body) != 7 or body[0] != 6:
            return SW_WRONG_LENGTH
        self._keys[slot] = bytes(body[1:7])
        return SW_OK

    def _authenticate(self, block: int, key_type: int, slot: int) -> bytes:
        self._authenticated = None
        if block >= len(self.blocks):
            return SW_NO_BLOCK
        if key_type not in (KEY_A, KEY_B) or slot not in self._keys:
            return SW_AUTH_FAILED
        sector = block // BLOCKS_PER_SECTOR
        trailer = self.blocks[sector * BLOCKS_PER_SECTOR + 3]
        key = bytes(trailer[:6] if key_type == KEY_A else trailer[10:16])
        if key != self._keys[slot]:
            return SW_AUTH_FAILED
        self._authenticated = (sector, key_type)
        return SW_OK

    def _allowed(self, block: int, write: bool) -> bool:
        sector, offset = divmod(block, BLOCKS_PER_SECTOR)
        if self._authenticated is None or self._authenticated[0] != sector:
            return False
        if offset == 3:
            return not write  # trailers: read-only here (key A reads as zeros)
        if block == 0 and write:
            return False  # the manufacturer block
        access = bytes(self.blocks[sector * BLOCKS_PER_SECTOR + 3][6:10])
        readers, writers = _DATA_ACCESS[_conditions(access, offset)]
        return self._authenticated[1] in (writers if write else readers)

    def _read(self, p1: int, block: int) -> bytes:
        if p1 != 0x00 or block >= len(self.blocks):
            return SW_NO_BLOCK
        if not self._allowed(block, write=False):
            return SW_NOT_ALLOWED
        data = bytes(self.blocks[block])
        if block % BLOCKS_PER_SECTOR == 3:
            data = bytes(6) + data[6:]  # key A never reads back
        return data + SW_OK

    def _update(self, p1: int, block: int, body: bytes) -> bytes:
        if p1 != 0x00 or block >= len(self.blocks):
            return SW_NO_BLOCK
        if len(body) != 1 + BLOCK or body[0] != BLOCK:
            return SW_WRONG_LENGTH
        if not self._allowed(block, write=True):
            return SW_NOT_ALLOWED
        self.blocks[block][:] = body[1:]
        return SW_OK


def membership_card(
    uid: bytes, balance_fen: int, *, key_a: bytes, key_b: bytes, member_no: str
) -> MifareClassic1K:
    """A merchant's membership card: sector 1 holds the member number (block 4) and
    the balance as a value block (block 5); key A reads, key B writes."""
    card = MifareClassic1K(uid, name=f"member {member_no}")
    card.set_trailer(1, key_a, access_bits((1, 0, 0)), key_b)
    card.write(4, member_no.encode("ascii")[:BLOCK].ljust(BLOCK, b"\x00"))
    card.write(5, value_block(balance_fen, 5))
    return card
