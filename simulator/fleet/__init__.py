"""possim as a fleet of test terminals against one ISO 8583 host (``possim fleet``).

Each simulated terminal has its own terminal id and its own TCP connection and
sends magnetic-stripe purchases (0200, the card image's track 2) one after the
other, each waiting for its 0210, with the host's framing (length header, TPDU)
and MAC -- the same :class:`~simulator.terminal.config.HostEndpoint` a terminal
configuration names in ``[gateway] card``. The report counts answers by
response code, lost requests (no answer within the timeout, connection lost)
and mismatched answers, and gives the authorisation latency (request written
-> reply read) and the throughput.

``possim fleet`` runs the plan on Locust (:mod:`.locust_run`: possim's Locust
users, headless, in a child process); :mod:`.wire` is the original asyncio
engine, kept as ``possim bench gateway``'s baseline beside its Locust phase.
Card data stays out of the report (masked PAN only).

One module per part (the command line is :mod:`simulator.cli.fleet`'s):

========================  =====================================================
:mod:`.plan`              :class:`~.plan.FleetPlan`, terminal ids, the 0200s
:mod:`.locust_run`        :func:`~.locust_run.run_fleet_on_locust`: the plan on Locust
:mod:`.wire`              :func:`~.wire.run_fleet`: asyncio connections, purchases, think times
:mod:`.report`            :class:`~.report.Outcome`, :class:`~.report.FleetReport`
:mod:`.gateway_process`   :class:`~.gateway_process.GatewayProcess`: a gateway to run against
:mod:`.errors`            :class:`~.errors.FleetError`
========================  =====================================================
"""
