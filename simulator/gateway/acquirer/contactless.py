"""What the host checks on a contactless purchase (DE22 ``07x``), beside the contact ones.

* format (DE39 ``30``): DE55 of a contactless chip read must carry the
  cryptogram and its context (``9F26``, ``9F27``, ``9F36``, ``9F10``) and the
  reader's TTQ (``9F66``), which says what the reader asked of the card;
* the cardholder verification (DE39 ``55``, "incorrect PIN" -- here: none
  given): when the TTQ says the reader required a CVM (the amount was at or over
  its CVM-required limit, byte 2 b7), the purchase must come with the online
  PIN (DE52), a signature (CVM results ``9F34`` = ``1E``), or the card's CTQ
  (``9F6C`` byte 2 b8) saying the cardholder was verified on the phone (CDCVM).
  A terminal that lets a tap over its limit through without a CVM is caught here.

The ARQC itself is checked as for contact (:mod:`.purchase`): the same tags.
"""

from __future__ import annotations

from collections.abc import Mapping

CONTACTLESS_ENTRY = "07"
CVM_MISSING = "55"
_REQUIRED_TAGS = (("9F26", "cryptogram"), ("9F27", "CID"), ("9F36", "ATC"), ("9F10", "IAD"))
_TTQ_CVM_REQUIRED = 0x40  # byte 2
_CTQ_CDCVM_PERFORMED = 0x80  # byte 2
_CVM_SIGNATURE = 0x1E


def contactless(req: Mapping[str, str]) -> bool:
    return req.get("22", "").startswith(CONTACTLESS_ENTRY)


def contactless_problems(req: Mapping[str, str], icc: Mapping[str, bytes] | None) -> list[str]:
    """Format problems of a contactless purchase's DE55 (none for other entry modes)."""
    if not contactless(req) or icc is None:
        return []
    missing = [
        f"{tag} ({what})" for tag, what in (*_REQUIRED_TAGS, ("9F66", "TTQ")) if tag not in icc
    ]
    if missing:
        return [f"DE55 of a contactless purchase lacks {', '.join(missing)}"]
    if len(icc["9F66"]) != 4:
        return ["DE55 tag 9F66 (TTQ) must be 4 bytes"]
    return []


def missing_cvm(req: Mapping[str, str], icc: Mapping[str, bytes] | None) -> str | None:
    """Why a contactless purchase lacks the CVM its reader required; None when it is fine."""
    if not contactless(req) or icc is None or "9F66" not in icc:
        return None
    if not icc["9F66"][1] & _TTQ_CVM_REQUIRED:
        return None
    if "52" in req:
        return None
    ctq = icc.get("9F6C", b"")
    if len(ctq) >= 2 and ctq[1] & _CTQ_CDCVM_PERFORMED:
        return None
    cvm_results = icc.get("9F34", b"")
    if cvm_results[:1] and cvm_results[0] & 0x3F == _CVM_SIGNATURE:
        return None
    return (
        "the reader required a CVM (TTQ) but neither an online PIN (DE52), a signature "
        "nor a verification on the phone (CTQ CDCVM) came"
    )
