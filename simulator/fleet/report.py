"""What a fleet run found: each request's fate and the summary ``possim fleet`` prints.

An :class:`Outcome` is one request: the response code (None: lost -- no
answer within the timeout, or the connection failed or dropped), the latency
(request written -> reply read) and a problem, if any (an answer with the
wrong MTI, or for another terminal or STAN, is *mismatched*). The
:class:`FleetReport` counts them by response code, gives the latency's p50,
p99 and maximum (:func:`percentile`, nearest rank) and the throughput
(answers per second of the run). Card data stays out of it: the PAN is
masked.

>>> percentile([0.3, 0.1, 0.2], 0.5)
0.2
>>> percentile([], 0.99)
nan
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import attrs

from drivers.wire.masking import mask_pan
from simulator.fleet.plan import FleetPlan
from simulator.wire.response_codes import APPROVED


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` 0.5 = median); nan if empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


@attrs.frozen
class Outcome:
    """One request's fate: its response code (None: lost) and latency in seconds."""

    tid: str
    stan: str
    transmission: str
    response_code: str | None
    latency: float
    rrn: str = ""
    auth_code: str = ""
    problem: str = ""


@attrs.frozen
class FleetReport:
    plan: FleetPlan
    outcomes: tuple[Outcome, ...]
    seconds: float

    @property
    def planned(self) -> int:
        return self.plan.terminals * self.plan.transactions

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is not None and not o.problem]

    @property
    def approved(self) -> list[Outcome]:
        return [o for o in self.answered if o.response_code == APPROVED]

    @property
    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is None]

    @property
    def mismatched(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is not None and o.problem]

    @property
    def latencies(self) -> list[float]:
        return [o.latency for o in self.answered]

    @property
    def throughput(self) -> float:
        return len(self.answered) / self.seconds if self.seconds > 0 else 0.0

    def response_codes(self) -> Counter[str]:
        return Counter(o.response_code for o in self.answered if o.response_code is not None)

    def lines(self) -> list[str]:
        plan = self.plan
        latencies = self.latencies
        codes = ", ".join(f"{code} x{n}" for code, n in sorted(self.response_codes().items()))
        lines = [
            f"host: {plan.endpoint.host}:{plan.endpoint.port} (spec {plan.endpoint.spec}, "
            f"{plan.endpoint.header} header"
            + (f", TPDU {plan.endpoint.tpdu.hex().upper()}" if plan.endpoint.tpdu else "")
            + (f", {plan.endpoint.mac} MAC" if plan.endpoint.mac else "")
            + ")",
            f"terminals: {plan.terminals} x {plan.transactions} purchases of "
            f"{plan.amount_fen} fen, card {mask_pan(plan.card.pan)}, think {plan.think} s",
            f"planned: {self.planned}, sent: {self.sent}, answered: {len(self.answered)}, "
            f"approved: {len(self.approved)}, lost: {len(self.lost)}, "
            f"mismatched: {len(self.mismatched)}",
            f"response codes: {codes or '-'}",
            f"latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"max {max(latencies, default=math.nan) * 1000:.1f} ms",
            f"throughput: {self.throughput:.0f} answers/s over {self.seconds:.2f} s",
        ]
        problems = Counter(o.problem for o in self.outcomes if o.problem)
        lines.extend(f"problem x{n}: {text}" for text, n in sorted(problems.items()))
        return lines
