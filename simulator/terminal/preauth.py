"""The acquiring app's pre-authorisation follow-ups: pre-auth void, completion, completion void.

A pre-auth itself reads the card like a sale (the acquiring app's card path;
:meth:`~simulator.terminal.authorisation.Authoriser.authorise` sends it as a
0100). What comes after it names the original by its order number (or RRN)
from the journal and needs no card -- the hotel's guest has long left the
desk, the pump's nozzle is back -- as the acquiring apps of the CUP-style
terminals do (the host checks the auth code, DE38, and the amount):

* ``preauth_void``: the pre-auth must be approved, not completed (void the
  completion first) and not voided; the amount is the pre-auth's (0: the
  pre-auth's).
* ``preauth_completion``: the pre-auth must be approved and neither voided nor
  completed; the order may quote its auth code (``orig_auth_code``) and date
  (``orig_date``, MMDD), which must then be the pre-auth's. The amount may be
  above the pre-auth: the acquirer decides with its tolerance and answers
  ``61`` beyond it; an expired pre-auth gets ``25`` (docs/gateway.md).
* ``preauth_completion_void``: the completion must be approved, in the open
  batch and not voided; the amount is the completion's (0: the completion's).
  A completion approved offline whose advice the host has not answered yet
  cannot be voided.

Where the acquirer takes completions as offline advices (``[gateway]
completion = "advice"``), the completion is approved on the terminal and its
0220 advice sent after (:mod:`simulator.terminal.authorisation`).

A follow-up the terminal refuses itself is never sent.
"""

from __future__ import annotations

from simulator.terminal.authorisation import Authoriser
from simulator.terminal.contract import PaymentOrder, PaymentOutcome
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.journal import JournalEntry, TxnState
from simulator.wire.money import format_yuan

PREAUTH = "preauth"
FOLLOW_UPS = ("preauth_void", "preauth_completion", "preauth_completion_void")
OPERATIONS = (PREAUTH, *FOLLOW_UPS)


class PreauthFollowUps:
    """Decides and sends the follow-ups of a pre-auth (see the module docstring)."""

    def __init__(self, authoriser: Authoriser, display: Display) -> None:
        self._authoriser = authoriser
        self._display = display

    def run(self, order: PaymentOrder) -> PaymentOutcome:
        if order.operation == "preauth_completion_void":
            return self._completion_void(order)
        preauth = self._approved(order, PREAUTH, "pre-auth")
        if isinstance(preauth, PaymentOutcome):
            return preauth
        what = "completion" if order.operation == "preauth_completion" else "pre-auth void"
        completions = [e for e in self._standing(preauth) if e.operation == "preauth_completion"]
        voids = [e for e in self._standing(preauth) if e.operation == "preauth_void"]
        if voids:
            return self._cancel(f"{what}: pre-auth {order.orig_order_no} is voided")
        if completions:
            return self._cancel(
                f"{what}: pre-auth {order.orig_order_no} is completed"
                + ("" if what == "completion" else "; void the completion first")
            )
        if order.operation == "preauth_void":
            amount = order.amount_fen or preauth.amount_fen
            if amount != preauth.amount_fen:
                return self._cancel(
                    f"pre-auth void: the amount must be the pre-auth's "
                    f"RMB {format_yuan(preauth.amount_fen)}"
                )
            return self._authoriser.follow_up(order, preauth, "preauth_void", amount)
        if order.orig_auth_code and order.orig_auth_code != preauth.auth_code:
            return self._cancel(
                f"completion: auth code {order.orig_auth_code} is not pre-auth "
                f"{order.orig_order_no}'s"
            )
        if order.orig_date and order.orig_date != preauth.transmission[:4]:
            return self._cancel(
                f"completion: pre-auth {order.orig_order_no} was not made on {order.orig_date}"
            )
        if order.amount_fen <= 0:
            return self._cancel("completion: the amount must be above zero")
        return self._authoriser.follow_up(order, preauth, "preauth_completion", order.amount_fen)

    def _completion_void(self, order: PaymentOrder) -> PaymentOutcome:
        completion = self._approved(order, "preauth_completion", "completion")
        if isinstance(completion, PaymentOutcome):
            return completion
        journal = self._authoriser.journal
        if completion.batch_no != journal.batch_no:
            return self._cancel(
                f"completion void: completion {order.orig_order_no} is in settled batch "
                f"{completion.batch_no}"
            )
        if any(
            e.operation == "preauth_completion_void" and e.state is TxnState.APPROVED
            for e in journal.offsets(completion.rrn)
        ):
            return self._cancel(
                f"completion void: completion {order.orig_order_no} is already voided"
            )
        amount = order.amount_fen or completion.amount_fen
        if amount != completion.amount_fen:
            return self._cancel(
                f"completion void: the amount must be the completion's "
                f"RMB {format_yuan(completion.amount_fen)}"
            )
        return self._authoriser.follow_up(order, completion, "preauth_completion_void", amount)

    def _approved(
        self, order: PaymentOrder, operation: str, what: str
    ) -> JournalEntry | PaymentOutcome:
        original = self._authoriser.journal.find_operation(order.orig_order_no, operation)
        if original is None or original.state is not TxnState.APPROVED:
            return self._cancel(f"{order.operation}: no approved {what} {order.orig_order_no}")
        return original

    def _standing(self, preauth: JournalEntry) -> list[JournalEntry]:
        """Approved rows naming the pre-auth, less completions voided since."""
        journal = self._authoriser.journal
        standing = (TxnState.APPROVED, TxnState.ADVICE_PENDING)  # approved offline counts
        rows = [e for e in journal.offsets(preauth.rrn) if e.state in standing]
        return [
            e
            for e in rows
            if not (
                e.operation == "preauth_completion"
                and any(
                    v.operation == "preauth_completion_void" and v.state is TxnState.APPROVED
                    for v in journal.offsets(e.rrn)
                )
            )
        ]

    def _cancel(self, reason: str) -> PaymentOutcome:
        self._display.show(ScreenId.CANCELLED, "交易取消 Cancelled", reason)
        return PaymentOutcome(False, reason)
