"""The terminal's ISO 8583 financial requests as pure functions of their data.

The :class:`~simulator.terminal.authorisation.Authoriser` fills them from its
journal; possim's Locust users (:mod:`simulator.loadtest`) from their own
per-terminal state: one definition of each message. Message types, processing
codes and DE60.1 codes: docs/settlement.md and docs/gateway.md (CUP style).
"""

from __future__ import annotations

from datetime import datetime, timezone

import attrs

from simulator.wire.iso8583 import Fields


@attrs.frozen
class Merchant:
    terminal_id: str
    merchant_id: str
    currency: str  # ISO 4217 numeric, 3 digits


# journal operation -> (MTI, DE3, DE60.1 message type code, what the screen says)
OPERATIONS = {
    "sale": ("0200", "000000", "22", "消费 Sale"),
    "void": ("0200", "200000", "23", "撤销 Void"),
    "refund": ("0220", "200000", "25", "退货 Refund"),
    # CUP-style pre-authorisation family (docs/gateway.md cites the message table).
    "preauth": ("0100", "030000", "10", "预授权 Pre-auth"),
    "preauth_void": ("0100", "200000", "11", "预授权撤销 Pre-auth void"),
    "preauth_completion": ("0200", "000000", "20", "预授权完成 Completion"),
    "preauth_completion_void": ("0200", "200000", "21", "预授权完成撤销 Completion void"),
}

# The offline completion: a 0220 advice (CUP message table, docs/gateway.md).
ADVICE = ("0220", "000000", "24")
# DE25, POS condition code: 00 normal, 06 pre-authorisation (CUP message table).
CONDITION_NORMAL = "00"
CONDITION_PREAUTH = "06"
# What a void or refund may carry from the card (never a PIN block or a cryptogram).
REFUND_CARD_FIELDS = ("2", "14", "22", "23", "35")


def condition_code(operation: str) -> str:
    """DE25 of a request (or its reversal) for this journal operation."""
    return CONDITION_PREAUTH if operation.startswith("preauth") else CONDITION_NORMAL


def original_data(batch_no: str, stan: str, transmission: str) -> str:
    """DE61 (CUP style): the sale's batch n6, STAN n6 and date MMDD (from its DE7)."""
    return f"{batch_no}{stan}{transmission[:4]}"


def financial_request(
    operation: str,
    *,
    amount_fen: int,
    transmission: str,
    stan: str,
    batch_no: str,
    currency: str,
    merchant: Merchant,
    now: datetime,
) -> Fields:
    """The fields every financial request (sale, void, refund: :data:`OPERATIONS`) carries;
    the card's fields (DE2/14/22/23/35/52/55) and a void's or refund's DE37/38/61 are added."""
    mti, processing_code, type_code, _ = OPERATIONS[operation]
    return {
        "t": mti,
        "3": processing_code,
        "4": f"{amount_fen:012d}",
        "7": transmission,
        "11": stan,
        "12": now.strftime("%H%M%S"),
        "13": now.strftime("%m%d"),
        "25": condition_code(operation),
        "41": merchant.terminal_id,
        "42": merchant.merchant_id,
        "49": currency,
        "60": f"{type_code}{batch_no}",
    }


def reversal_request(
    operation: str,
    *,
    amount_fen: int,
    stan: str,
    original_transmission: str,
    entry_mode: str,
    currency: str,
    reason_code: str,
    merchant: Merchant,
    now: datetime,
) -> Fields:
    """The 0400 undoing the ``operation`` sent with this STAN and DE7 (named in DE90)."""
    mti, processing_code, _, _ = OPERATIONS[operation]
    return {
        "t": "0400",
        "3": processing_code,
        "4": f"{amount_fen:012d}",
        "7": transmission_time(now),
        "11": stan,
        "22": entry_mode,
        "25": condition_code(operation),
        "39": reason_code,
        "41": merchant.terminal_id,
        "42": merchant.merchant_id,
        "49": currency,
        "90": f"{mti}{stan}{original_transmission}".ljust(42, "0"),
    }


def transmission_time(now: datetime) -> str:
    """DE7, transmission date and time: MMDDhhmmss in UTC."""
    return now.astimezone(timezone.utc).strftime("%m%d%H%M%S")
