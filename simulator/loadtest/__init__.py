"""possim's terminals as Locust users: load tests of a card host or a QR API (docs/load.md).

A Locust user (:class:`~.user.PossimTerminal`, loaded by ``locust -f`` from a
locustfile ``possim init`` writes) is one smart-POS terminal doing real
transactions on the wire: EMV chip sales whose ARQC the terminal's own EMV
kernel gets from its own virtual catalogue card, online PIN blocks, swiped
cards, voids, refunds, reversals of replies it lost, batch closes; QR
micropay (with ``USERPAYING`` polling), dynamic QRs paid by the simulated
customer, QR refunds. Locust spreads them over processes and machines
(master/workers) and reports them (web UI, CSV, HTML); possim's
:mod:`.ledger_check` then proves from the gateway's ledger that nothing was
lost or doubled.

Only :mod:`.user` imports Locust (and with it gevent's monkey-patching); the
rest is plain Python that a test or a thread can run:

===================  ==========================================================
:mod:`.user`         :class:`~.user.PossimTerminal`, ``FleetTerminal``, the task table
:mod:`.card_tasks`   the card transactions, built by the terminal's own builders
:mod:`.qr_tasks`     the QR payments, through the terminal's own ``QrLink``
:mod:`.terminal`     :class:`~.terminal.LoadTerminal` (STAN, batch, sales), ``Exchange``
:mod:`.connection`   one terminal's ISO 8583 connection (blocking sockets)
:mod:`.identity`     the terminal-id range users draw from
:mod:`.record`       what each process saw, one JSON line per request
:mod:`.ledger_check` records against the gateway's ledger (also ``python -m``)
:mod:`.process`      Locust runs as child processes (``possim bench gateway``)
:mod:`.errors`       :class:`~.errors.LoadTestError`
===================  ==========================================================
"""
