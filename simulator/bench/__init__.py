"""possim's benchmarks, run by ``possim bench NAME``: speed and memory goals, not tests.

Each module here defines ``NAME``, ``DESCRIPTION`` and ``run(options) ->
Measurement``; ``possim bench`` lists them. They ship with possim (they run
from a wheel, in any folder); the repository's ``benchmarks/README.md`` says
how the figures in the README were taken.
"""

from __future__ import annotations

from typing import Any

import attrs

from simulator.errors import SimulatorError


@attrs.frozen
class Measurement:
    """A benchmark's result: the figure printed last, and the details above it."""

    figure: float
    unit: str
    details: dict[str, Any] = attrs.field(factory=dict)


class BenchmarkFailed(SimulatorError):
    """The benchmark could not measure what it measures (exit status 1, like a failed check)."""
