"""Offline pre-auth completions: approved on the terminal, owed to the host as 0220 advices.

Where the acquirer takes completions as advices (``[gateway] completion =
"advice"``, docs/gateway.md), a completion is approved at once: its journal
row goes to ``advice_pending`` (with the pre-auth's auth code) and the cashier
app hears "approved". The 0220 (DE60.1 ``24``, built by the
:class:`~simulator.terminal.authorisation.Authoriser`) then goes out -- now,
and while it stays unanswered again before the next transaction and before the
batch close, always with the same STAN and DE7 so the host records it once.
An advice is never reversed. A 0230 ``00`` books the row approved with the
host's RRN; any other answer books it declined (the merchant's loss, as with
any offline approval) and says so (:class:`AppProblem`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from drivers.clock import Clock
from simulator.errors import Iso8583Error
from simulator.events import EventBus
from simulator.terminal.acquiring_events import AppProblem
from simulator.terminal.config import Timeouts
from simulator.terminal.contract import PaymentOrder, PaymentOutcome
from simulator.terminal.host_link import HostUnavailable, Iso8583HostLink
from simulator.terminal.journal import Journal, JournalEntry, TxnState
from simulator.wire.iso8583 import Fields
from simulator.wire.response_codes import APPROVED

ADVICE_ANSWER = "0230"


class CompletionAdvices:
    """The completions approved offline and the advices owed for them."""

    def __init__(
        self,
        *,
        host_link: Iso8583HostLink,
        journal: Journal,
        bus: EventBus,
        clock: Clock,
        timeouts: Timeouts,
        build: Callable[[JournalEntry], Fields],
        approved: Callable[[PaymentOrder, JournalEntry, datetime], PaymentOutcome],
        response_text: Callable[[str], str],
    ) -> None:
        self._host = host_link
        self._journal = journal
        self._bus = bus
        self._clock = clock
        self._timeouts = timeouts
        self._build = build
        self._approved = approved
        self._response_text = response_text

    def complete(
        self, order: PaymentOrder, entry: JournalEntry, preauth: JournalEntry, now: datetime
    ) -> PaymentOutcome:
        """Approve the completion ``entry`` here and now; the advice goes to the host after."""
        self._journal.update(
            entry.id,
            TxnState.ADVICE_PENDING,
            response_code=APPROVED,
            auth_code=preauth.auth_code,
            reason="approved offline: the completion advice (0220) is owed to the host",
        )
        self._send(self._journal.get(entry.id))
        # Approved whatever the host says later: its RRN is on the slip if it answered.
        return self._approved(order, self._journal.get(entry.id), now)

    def pending(self) -> list[JournalEntry]:
        """Completions approved offline whose advice the host has not answered yet."""
        return self._journal.entries(TxnState.ADVICE_PENDING)

    def send_pending(self) -> list[JournalEntry]:
        """Send every advice still owed; those still unanswered."""
        for entry in self.pending():
            self._send(entry)
        return self.pending()

    def _send(self, entry: JournalEntry) -> None:
        request = self._build(entry)
        for _ in range(self._timeouts.reversal_attempts):
            try:
                reply = self._host.exchange(request, self._timeouts.host)
            except (HostUnavailable, Iso8583Error) as exc:
                self._bus.publish(AppProblem(f"completion advice not delivered: {exc}"))
                continue
            if reply is None or reply.get("t") != ADVICE_ANSWER:
                continue
            code = reply.get("39", "")
            if code == APPROVED:
                self._journal.update(
                    entry.id,
                    TxnState.APPROVED,
                    rrn=reply.get("37", ""),
                    auth_code=reply.get("38") or None,
                    reason="completion advice answered 00",
                )
            else:
                reason = f"completion advice refused by the host: {self._response_text(code)}"
                self._journal.update(entry.id, TxnState.DECLINED, response_code=code, reason=reason)
                self._bus.publish(AppProblem(f"STAN {entry.stan}: {reason}"))
            return
        self._bus.publish(
            AppProblem(
                f"completion advice of STAN {entry.stan} still unanswered after "
                f"{self._timeouts.reversal_attempts} attempts; it will be sent again"
            )
        )
