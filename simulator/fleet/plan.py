"""What a fleet run sends: the host, how many terminals and purchases, and each 0200.

A :class:`FleetPlan` is the whole run: the host (a
:class:`~simulator.terminal.config.HostEndpoint`, the same a terminal
configuration names in ``[gateway] card``: framing, TPDU, spec, MAC), the
number of terminals and of purchases per terminal, the card image whose PAN
and track 2 every purchase carries, the amount, the merchant, the terminal ids'
prefix, the think time, the answer timeout, the MAC key and the seed of the
start stagger. :func:`terminal_ids` numbers the terminals (ISO 8583 DE41, 8
characters); :func:`purchase_request` is one terminal's magnetic-stripe
``0200`` at a given moment and STAN.

>>> terminal_ids(3)
['FLT00001', 'FLT00002', 'FLT00003']
>>> terminal_ids(10, "POSSIM0")
Traceback (most recent call last):
...
simulator.fleet.errors.FleetError: 10 terminal ids do not fit 8 characters after 'POSSIM0'
"""

from __future__ import annotations

from datetime import datetime, timezone

import attrs

from simulator.devices.card_image import CardImage
from simulator.fleet.errors import FleetError
from simulator.terminal.config import HostEndpoint

DEFAULT_MERCHANT_ID = "898310048990001"
DEFAULT_TID_PREFIX = "FLT"
DEFAULT_AMOUNT_FEN = 100  # whole yuan: clear of the built-in gateway's magic fen values
DEFAULT_TIMEOUT = 30.0


def terminal_ids(count: int, prefix: str = DEFAULT_TID_PREFIX) -> list[str]:
    """``count`` distinct 8-character terminal ids (ISO 8583 DE41): prefix + number."""
    digits = 8 - len(prefix)
    if digits < 1 or count >= 10**digits:
        raise FleetError(f"{count} terminal ids do not fit 8 characters after {prefix!r}")
    return [f"{prefix}{index:0{digits}d}" for index in range(1, count + 1)]


@attrs.frozen
class FleetPlan:
    endpoint: HostEndpoint
    terminals: int
    transactions: int  # per terminal
    card: CardImage = attrs.field(repr=False)
    amount_fen: int = DEFAULT_AMOUNT_FEN
    merchant_id: str = DEFAULT_MERCHANT_ID
    tid_prefix: str = DEFAULT_TID_PREFIX
    think: float = 0.0  # seconds between a terminal's answer and its next request
    timeout: float = DEFAULT_TIMEOUT  # for each answer
    mac_key: bytes | None = attrs.field(default=None, repr=False)
    seed: int = 0


def purchase_request(
    plan: FleetPlan, tid: str, stan: int, now: datetime, amount_fen: int | None = None
) -> dict[str, str]:
    """A magnetic-stripe 0200 as a terminal sends it (DE2, DE35 from the card image)."""
    card = plan.card
    amount = plan.amount_fen if amount_fen is None else amount_fen
    return {
        "t": "0200",
        "2": card.pan,
        "3": "000000",
        "4": f"{amount:012d}",
        "7": now.astimezone(timezone.utc).strftime("%m%d%H%M%S"),
        "11": f"{stan % 1_000_000:06d}",
        "12": now.strftime("%H%M%S"),
        "13": now.strftime("%m%d"),
        "22": "021",
        "25": "00",
        "35": card.track2,
        "41": tid,
        "42": plan.merchant_id,
        "49": "156",
    }
