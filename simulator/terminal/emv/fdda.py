"""fDDA: the reader's offline data authentication of a quick-kernel card (EMV Book
C-3 / qPBOC; EMV 4.3 Book 2 for the certificates), after the card has left the field.

The terminal knows the certification authority's public keys by RID and index
(:func:`capk`: the simulator's test CA under index ``F1`` for every RID in its AID
list). From the card's records it recovers the issuer's public key (``90``,
``92``, ``9F32``), then the card's (``9F46``, ``9F48``, ``9F47``), and checks the
signed dynamic application data (``9F4B``) over the unpredictable number it sent,
the amount, the currency and the card authentication related data (``9F69``).

Simplified: the static data to be authenticated (records flagged in the AFL)
is taken to be empty -- possim's fDDA cards flag none -- and there is no CA
key revocation list or expiry check.
"""

from __future__ import annotations

from collections.abc import Mapping

from simulator.terminal.emv.session import Session, set_bit
from simulator.wire import oda

AIP_DDA = 0x20
# TVR byte 1: b8 ODA not performed, b4 DDA failed (EMV Book 3 C5).
TVR_ODA_NOT_PERFORMED = (0, 0x80)
TVR_DDA_FAILED = (0, 0x08)
VERIFIED = "verified"
NOT_OFFERED = "not offered"


def capk(rid: bytes, index: int) -> oda.RsaKey | None:
    """The CA public key the terminal holds for ``rid`` and ``index`` (8F)."""
    keys = oda.simulator_keys()
    return keys.ca.public() if index == keys.ca_index else None


def authenticate(session: Session, sent: Mapping[str, bytes], pan: str) -> str:
    """fDDA of the card read in ``session``: "verified", "not offered", or why it failed
    (then the TVR says DDA failed)."""
    card = session.card
    if not session.aip[0] & AIP_DDA:
        return NOT_OFFERED
    problem = _problem(card, sent, pan, session.aid[:5])
    if problem is None:
        session.tvr[TVR_ODA_NOT_PERFORMED[0]] &= ~TVR_ODA_NOT_PERFORMED[1] & 0xFF
        return VERIFIED
    set_bit(session.tvr, TVR_DDA_FAILED)
    return f"failed: {problem}"


def _problem(
    card: Mapping[str, bytes], sent: Mapping[str, bytes], pan: str, rid: bytes
) -> str | None:
    missing = [
        tag for tag in ("8F", "90", "9F32", "9F46", "9F47", "9F4B", "9F69") if tag not in card
    ]
    if missing:
        return f"the card lacks {', '.join(missing)}"
    index = card["8F"][0] if card["8F"] else -1
    ca = capk(rid, index)
    if ca is None:
        return f"no CA public key {rid.hex().upper()} index {index:02X}"
    try:
        issuer = oda.recover_issuer_key(ca, card["90"], card.get("92", b""), card["9F32"], pan)
        icc = oda.recover_icc_key(
            issuer, card["9F46"], card.get("9F48", b""), card["9F47"], pan, b""
        )
        signed = oda.fdda_terminal_data({**sent, "9F69": card["9F69"]})
        oda.verify_dynamic_data(icc, card["9F4B"], signed)
    except oda.OdaError as exc:
        return str(exc)
    return None
