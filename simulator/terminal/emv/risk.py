"""Offline data authentication (not performed), processing restrictions and
terminal risk management (EMV Book 3 10.3-10.6): they only set TVR/TSI bits,
which the card and the issuer read; the online-only terminal goes online anyway.
"""

from __future__ import annotations

from simulator.terminal.emv.constants import (
    AIP_TRM,
    TSI_TRM_PERFORMED,
    TVR_DIFFERENT_VERSIONS,
    TVR_EXPIRED,
    TVR_FLOOR_LIMIT_EXCEEDED,
    TVR_NOT_EFFECTIVE,
    TVR_ODA_NOT_PERFORMED,
    TVR_SERVICE_NOT_ALLOWED,
)
from simulator.terminal.emv.session import Session, set_bit


def offline_data_authentication(session: Session) -> None:
    # possim's kernel performs no SDA/DDA/CDA (see docs/emv.md).
    set_bit(session.tvr, TVR_ODA_NOT_PERFORMED)


def processing_restrictions(session: Session) -> None:
    card, terminal = session.card, session.terminal
    card_version = card.get("9F08")
    if card_version is not None and card_version != terminal.get("9F09"):
        set_bit(session.tvr, TVR_DIFFERENT_VERSIONS)
    today = _date_key(terminal["9A"].hex())
    expiry = _date_key(card["5F24"].hex())  # checked as YYMMDD digits by make_card_data
    if expiry is not None and today is not None and expiry < today:
        set_bit(session.tvr, TVR_EXPIRED)
    effective = card.get("5F25")
    effective_key = _date_key(effective.hex()) if effective is not None else None
    if effective_key is not None and today is not None and effective_key > today:
        set_bit(session.tvr, TVR_NOT_EFFECTIVE)
    usage = card.get("9F07")
    if usage is not None and len(usage) >= 2 and not _usage_allowed(session, usage):
        set_bit(session.tvr, TVR_SERVICE_NOT_ALLOWED)


def _usage_allowed(session: Session, usage: bytes) -> bool:
    """Application Usage Control (9F07) for goods and services at a POS."""
    if not usage[0] & 0x01:  # valid at terminals other than ATMs
        return False
    issuer_country = session.card.get("5F28")
    domestic = issuer_country is None or issuer_country == session.terminal["9F1A"]
    kind = session.terminal["9C"][0]
    if kind == 0x01:  # cash
        return bool(usage[0] & (0x80 if domestic else 0x40))
    goods_or_services = 0x20 | 0x08 if domestic else 0x10 | 0x04
    if not usage[0] & goods_or_services:
        return False
    if kind == 0x09:  # purchase with cashback
        return bool(usage[1] & (0x80 if domestic else 0x40))
    return True


def terminal_risk_management(session: Session, amount_fen: int) -> None:
    """Floor limit check (EMV Book 3 10.6.1) when the card asks for TRM."""
    if not session.aip[0] & AIP_TRM:
        return
    if amount_fen >= session.config.floor_limit_fen:
        set_bit(session.tvr, TVR_FLOOR_LIMIT_EXCEEDED)
    set_bit(session.tsi, TSI_TRM_PERFORMED)


def _date_key(yymmdd: str) -> str | None:
    """YYMMDD -> YYYYMMDD with EMV's century rule (YY < 50 -> 20YY); None if not a date."""
    if len(yymmdd) != 6 or not yymmdd.isdigit():
        return None
    year = int(yymmdd[:2])
    return f"{2000 + year if year < 50 else 1900 + year}{yymmdd[2:]}"
