"""possim's terminals as Locust users: ``from possim.locust import PossimTerminal``.

Importing this module imports Locust (which patches the standard library for
gevent): import it only in a locustfile. ``possim init`` writes one
(``locustfile.py``); ``possim docs load`` says how to run it.
"""

from __future__ import annotations

from possim import guard

guard.check()

from simulator.loadtest.user import TASKS, FleetTerminal, PossimTerminal, TaskEntry  # noqa: E402

__all__ = ["TASKS", "FleetTerminal", "PossimTerminal", "TaskEntry"]
