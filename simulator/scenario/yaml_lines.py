"""YAML that remembers where things were: the shared loader, raising ScenarioError.

See :mod:`drivers.fixtures`; this module only names the error type
scenario files fail with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drivers import fixtures
from drivers.fixtures import LineDict, LineList
from simulator.errors import ScenarioError

__all__ = ["LineDict", "LineList", "load"]


def load(path: Path) -> Any:
    """Parse the scenario file ``path``; every failure is a :class:`ScenarioError`."""
    return fixtures.load(path, error=ScenarioError)
