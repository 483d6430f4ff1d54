"""The card's part of an authorisation request, as pure functions of what was read.

The acquiring app builds DE2/14/22/23/35 (the card), DE52 (the online PIN
block) and DE55 (the chip's data) here from what its EMV kernel or stripe
reader returned; possim's Locust users (:mod:`simulator.loadtest`) build theirs
with the same functions from the same kernel, so a request looks the same
whichever drove it. The values are card data: callers keep them out of logs.
"""

from __future__ import annotations

from collections.abc import Mapping

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from simulator.terminal.emv import CardData, FirstAc
from simulator.terminal.track2 import Track2
from simulator.wire.pin_block import encipher_pin


def chip_card_fields(card: CardData, entry_mode: str) -> dict[str, str]:
    """DE2, 14, 22, 23 and 35 of a card read by its chip."""
    return {
        "2": card.pan,
        "14": card.expiry,
        "22": entry_mode,
        "23": card.psn.zfill(3),
        "35": card.track2,
    }


def swipe_card_fields(track: Track2, entry_mode: str) -> dict[str, str]:
    """DE2, 14, 22 and 35 of a swiped card."""
    return {"2": track.pan, "14": track.expiry, "22": entry_mode, "35": track.text}


def pin_block_field(pin: str, pan: str, pin_key: bytes) -> str:
    """DE52: the ISO 9564 format-0 PIN block under the terminal PIN key, in hex."""
    return encipher_pin(pin, pan, pin_key).hex().upper()


def icc_field(first_ac: FirstAc) -> str:
    """DE55: the first GENERATE AC's data (ARQC, ATC, TVR ...), BER-TLV in hex."""
    return tlv.encode(dict(first_ac.icc_data)).hex().upper()


def issuer_authentication(reply: Mapping[str, str]) -> bytes | None:
    """The ARPC (tag 91) in a reply's DE55, for the second GENERATE AC; None if absent."""
    icc = reply.get("55")
    if not icc:
        return None
    try:
        return tlv.decode_flat(bytes.fromhex(icc)).get("91")
    except (EmvDataError, ValueError):
        return None
