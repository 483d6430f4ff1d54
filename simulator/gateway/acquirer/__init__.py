"""The acquirer host's decisions: ISO 8583 fields in, ISO 8583 fields out.

:class:`AcquirerHost` is transport-free -- the TCP server (``server.py``), an
in-process transport or a test can all call :meth:`AcquirerHost.handle` with a
decoded message and send back whatever it returns (``None``: send nothing);
:meth:`AcquirerHost.decide` gives the reply and the reason (a
:class:`Decision`).

* ``0200`` purchase: format checks (DE39 ``30``), issuer by BIN (``14``), ARQC
  check against the issuer's keys (``82``), online PIN check when DE52 is
  present (``55``/``75``/``63``, :mod:`simulator.gateway.pins`), then the
  magic amounts; approved replies carry an RRN, an auth code and, when the
  ARQC verified, an ARPC in DE55 tag 91. Retransmissions (same DE41/DE11/DE7)
  get the first answer again and are never charged twice. Auth codes come
  from ``rng`` (seeded in simulations, the OS's ``SystemRandom`` for
  ``possim gateway serve``) and are never one the ledger already holds, so a
  restart does not re-issue them.
* ``0200`` processing code ``200000``: void of a sale in the same batch, by
  the sale's RRN (DE37); ``0220`` processing code ``200000``: refund (partial
  allowed) by the sale's RRN; ``0500`` batch close: the terminal's totals (DE48)
  against the ledger's for its batch (DE60). Rules and codes:
  docs/settlement.md.
* the pre-authorisation family (:mod:`.preauth`): ``0100``/``030000``
  pre-auth, ``0100``/``200000`` its void, ``0200``/``000000`` completion and
  ``0220``/``000000`` completion advice, ``0200``/``200000`` completion void,
  told apart from sales and voids by DE60.1 (``10 11 20 24 21``); completions
  up to the acquirer's tolerance above the pre-auth, within its validity
  (:mod:`simulator.gateway.preauth_rules`). Messages and sources: docs/gateway.md.
* ``0400``/``0401`` reversal: finds the original by DE41 + DE90 and undoes it
  (a sale, a void or a refund alike) -- except a sale that an approved void or
  refund already offsets: that reversal is refused (DE39 ``12``, the sale's RRN
  and auth code in DE37/DE38) and the sale stands (docs/settlement.md).
* ``0800`` network management: sign-on/sign-off/echo.
* any other request or advice MTI: answered with DE39 ``12``.

Every card row records the batch number from DE60 (CUP style: DE60.1 message
type code n2, DE60.2 batch number n6). A reply decided and recorded but lost
on the way back is a fault of the transport (:mod:`simulator.gateway.faults`).

One module per message family, each deciding its messages with what they
share:

====================  =========================================================
:mod:`.host`          :class:`AcquirerHost`, the facade: routes by MTI
:mod:`.desk`          ledger and lock, replies, RRNs, auth codes, retransmissions
:mod:`.fields`        the field vocabulary and the format checks
:mod:`.purchase`      0200 purchase; :class:`~.purchase.Authoriser`, the issuer's checks
:mod:`.void_refund`   0200/200000 void, 0220/200000 refund
:mod:`.preauth`       0100 pre-auth and its void, completion (0200/0220), its void
:mod:`.reversal`      0400/0401 reversal
:mod:`.settlement`    0500 batch close
:mod:`.network`       0800 network management
====================  =========================================================
"""

from __future__ import annotations

from simulator.gateway.acquirer.desk import ECHO_OTHER, Decision
from simulator.gateway.acquirer.fields import message_kind, track2_for_pin
from simulator.gateway.acquirer.host import AcquirerHost

__all__ = ["ECHO_OTHER", "AcquirerHost", "Decision", "message_kind", "track2_for_pin"]
