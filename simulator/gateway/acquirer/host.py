"""The acquirer host's facade: one decoded message in, a :class:`Decision` out.

:class:`AcquirerHost` owns what the message families share (a
:class:`~.desk.Desk`: ledger, lock, RRNs, auth codes; an
:class:`~.purchase.Authoriser`: issuers, magic amounts, PIN keys) and routes
each message to its family by MTI and processing code. It does no I/O besides
the ledger: the TCP server, an in-process transport or a test call
:meth:`AcquirerHost.handle` (the reply) or :meth:`AcquirerHost.decide` (the
reply and the reason, for events and logs).

>>> import random
>>> from drivers.clock import RealClock
>>> from simulator.gateway.ledger import Ledger
>>> from simulator.wire.iso8583 import Iso8583Spec
>>> clock = RealClock()
>>> host = AcquirerHost(
...     Ledger(":memory:", clock), IssuerDirectory.load(), MagicAmounts.load(), clock,
...     random.Random(0), Iso8583Codec(Iso8583Spec.load()),
... )
>>> decision = host.decide({"t": "0800", "11": "000001", "41": "POS00001", "70": "301"})
>>> decision.reply
{'t': '0810', '11': '000001', '41': 'POS00001', '70': '301', '39': '00'}
>>> decision.note
'echo test'
>>> host.handle({"t": "0810", "39": "00"}) is None  # not a request: nothing to answer
True
>>> host.ledger.close()
"""

from __future__ import annotations

import random
from collections.abc import Mapping

from drivers.clock import Clock
from simulator.gateway.acquirer import (
    network,
    preauth,
    purchase,
    reversal,
    settlement,
    void_refund,
)
from simulator.gateway.acquirer.desk import ECHO_OTHER, Decision, Desk
from simulator.gateway.acquirer.fields import INVALID_TRANSACTION, VOID_OR_REFUND, digits
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.ledger import Ledger
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.pins import PinVerifier, TerminalKeys
from simulator.gateway.preauth_rules import PreauthRules
from simulator.wire.iso8583 import Iso8583Codec, is_request, response_mti


class AcquirerHost:
    """ISO 8583 fields in, ISO 8583 fields out (or silence); see the package docstring.

    Args:
        ledger: where every card transaction and batch close is recorded.
        issuers: BIN -> issuer, its cryptogram method and keys.
        magic: amounts that force a response code (or no answer).
        clock: the RRN's date and the PIN check's day.
        rng: auth codes (seeded in simulations, ``SystemRandom`` for a served host).
        codec: the spec the replies must encode under.
        pins: the terminals' PIN keys; ``None``: the built-in fixture's.
        preauth_rules: completion tolerance and validity of a pre-authorisation.
    """

    def __init__(
        self,
        ledger: Ledger,
        issuers: IssuerDirectory,
        magic: MagicAmounts,
        clock: Clock,
        rng: random.Random,
        codec: Iso8583Codec,
        pins: PinVerifier | None = None,
        preauth_rules: PreauthRules | None = None,
    ) -> None:
        self._desk = Desk(ledger, clock, rng, codec)
        self._preauth_rules = preauth_rules if preauth_rules is not None else PreauthRules()
        self._authoriser = purchase.Authoriser(
            issuers, magic, pins if pins is not None else PinVerifier(TerminalKeys.load()), clock
        )

    @property
    def ledger(self) -> Ledger:
        return self._desk.ledger

    def handle(self, fields: Mapping[str, str]) -> dict[str, str] | None:
        """The reply to one decoded message, or None to send nothing."""
        return self.decide(fields).reply

    def decide(self, fields: Mapping[str, str]) -> Decision:
        """The reply to one decoded message (None: send nothing) and why."""
        desk = self._desk
        mti = fields.get("t", "")
        if not digits(mti, 4):
            return Decision(None, f"MTI {mti!r} is not 4 digits; nothing to answer")
        if preauth.handles(fields):
            return preauth.decide(desk, self._authoriser, self._preauth_rules, fields)
        if mti in ("0200", "0220") and fields.get("3") == VOID_OR_REFUND:
            return void_refund.decide(desk, fields)
        if mti == "0500":
            return settlement.decide(desk, fields)
        if mti == "0200":
            return purchase.decide(desk, self._authoriser, fields)
        if mti in ("0400", "0401"):
            return reversal.decide(desk, fields)
        if mti == "0800":
            return network.decide(desk, fields)
        if is_request(mti):
            reply = desk.reply(fields, response_mti(mti), ECHO_OTHER, INVALID_TRANSACTION)
            return Decision(reply, f"message type {mti} is not supported")
        return Decision(None, f"{mti} is not a request; nothing to answer")
