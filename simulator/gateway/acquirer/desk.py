"""What every message family shares: the ledger and its lock, replies, RRNs, auth codes.

A family module (:mod:`.purchase`, :mod:`.void_refund`, :mod:`.settlement`,
:mod:`.reversal`, :mod:`.network`) decides one message with a :class:`Desk`
and returns a :class:`Decision`. The desk is where they meet the state they
share:

* ``lock``: a family reads the ledger, decides and records under it, so two
  connections never both see "not yet in the ledger" for the same key;
* :meth:`Desk.reply`: the reply fields -- the MTI, the request's fields the
  family echoes (only those that would encode under the codec's spec, so a
  malformed request still gets an answer that encodes), DE39;
* :meth:`Desk.next_rrn` and :meth:`Desk.auth_code`: RRNs from the ledger's
  last row id on (``YYMMDD`` + 6 digits), auth codes drawn from ``rng`` and
  never one the ledger already holds (the ledger outlives the process);
* :meth:`Desk.retransmission`: the first answer again for a request whose key
  (DE41, DE11, DE7) the ledger already holds, DE39 ``94`` if the request under
  that key differs.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping

import attrs

from drivers.clock import Clock
from drivers.wire.masking import mask_pan
from simulator.gateway.acquirer import fields
from simulator.gateway.acquirer.fields import DUPLICATE_TRANSMISSION, FORMAT_ERROR
from simulator.gateway.ledger import Ledger, LedgerEntry
from simulator.wire.iso8583 import Iso8583Codec, response_mti

# Fields each reply copies from its request (when present and well-formed).
ECHO_0210 = ("3", "4", "7", "11", "12", "13", "41", "42", "49")
ECHO_0410 = ("3", "4", "7", "11", "12", "13", "41", "42", "49", "90")
ECHO_0810 = ("7", "11", "41", "42", "70")
ECHO_OTHER = ("3", "4", "7", "11", "12", "13", "41", "42", "49")
ECHO_VOID = ("3", "4", "7", "11", "12", "13", "41", "42", "49", "60", "61")
ECHO_0510 = ("7", "11", "12", "13", "41", "42", "49", "60")

# Draws for an auth code the ledger has not issued yet: with half the million
# codes used, all of them collide with a chance of 2^-100.
AUTH_CODE_DRAWS = 100


@attrs.frozen
class Decision:
    """What the host does with one message: the reply (None = silence) and why."""

    reply: dict[str, str] | None
    note: str


class Desk:
    """The ledger, its lock, the codec's spec, the clock and the auth-code draws."""

    def __init__(
        self, ledger: Ledger, clock: Clock, rng: random.Random, codec: Iso8583Codec
    ) -> None:
        self.ledger = ledger
        self.clock = clock
        self.lock = threading.Lock()
        self._rng = rng
        self._codec = codec
        self._rrn_counter = ledger.last_id()

    def fits(self, key: str, value: str | None) -> bool:
        """Would ``value`` encode as field ``key`` under the codec's spec?"""
        return fields.fits(self._codec.spec, key, value)

    def format_problems(
        self, req: Mapping[str, str], extra_digits: tuple[tuple[str, int, str], ...] = ()
    ) -> list[str]:
        """:func:`.fields.common_format_problems` under the codec's spec."""
        return fields.common_format_problems(req, self._codec.spec, extra_digits)

    def reply(
        self, req: Mapping[str, str], mti: str, echo: tuple[str, ...], code: str
    ) -> dict[str, str]:
        reply = {"t": mti}
        for key in echo:
            value = req.get(key)
            if value is not None and self.fits(key, value):
                reply[key] = value
        reply["39"] = code
        return reply

    def format_error(
        self, req: Mapping[str, str], mti: str, echo: tuple[str, ...], problems: list[str]
    ) -> Decision:
        """The DE39 ``30`` answer to a request with these format problems."""
        return Decision(
            self.reply(req, mti, echo, FORMAT_ERROR), "format error: " + "; ".join(problems)
        )

    def next_rrn(self) -> str:
        self._rrn_counter += 1
        return f"{self.clock.now():%y%m%d}{self._rrn_counter % 1_000_000:06d}"

    def auth_code(self) -> str:
        """Six digits this ledger has never issued (the ledger outlives the process)."""
        for _ in range(AUTH_CODE_DRAWS):
            code = f"{self._rng.randrange(1_000_000):06d}"
            if not self.ledger.auth_code_issued(code):
                return code
        # A ledger holding nearly all million codes: repeat one rather than refuse
        # the sale (docs/reliability.md).
        return code

    def retransmission(
        self, entry: LedgerEntry, req: Mapping[str, str], pan: str | None
    ) -> Decision:
        same = (
            entry.mti == req["t"]
            and entry.amount == int(req["4"])
            and entry.currency == req["49"]
            and entry.mid == req["42"]
            and entry.processing_code == req["3"]
            and (pan is None or entry.masked_pan == mask_pan(pan))
        )
        if not same:
            reply = self.reply(req, response_mti(req["t"]), ECHO_0210, DUPLICATE_TRANSMISSION)
            return Decision(
                reply,
                f"TID {entry.tid} STAN {entry.stan} DE7 {entry.transmission} already names a "
                "different transaction",
            )
        if entry.response is None:
            return Decision(None, "retransmission of an unanswered request: still no answer")
        return Decision(
            dict(entry.response),
            f"retransmission: same answer as the first time (ledger status {entry.status})",
        )
