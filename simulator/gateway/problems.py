"""What every service of the gateway reports besides its traffic (source ``gateway``):
problems, and the limits it reaches (docs/reliability.md)."""

from __future__ import annotations

from typing import ClassVar

import attrs

from simulator.events import SUMMARY_ONLY, EventPayload, Problem

SOURCE = "gateway"


@attrs.frozen
class GatewayProblem(Problem):
    """Something went wrong in the gateway: a bad request, a lost connection, a bug."""

    source: ClassVar[str] = SOURCE


@attrs.frozen
class ConnectionProblem(GatewayProblem):
    """A terminal's connection was closed on a problem."""

    peer: str


@attrs.frozen
class LimitReached(EventPayload):
    """A limit starts or stops refusing work (connections, pending notifies ...): one
    line for the operator, printed even by ``possim gateway serve --quiet``."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "limit"

    text: str = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return self.text
