"""YAML that remembers where things were: the shared loader, raising ScenarioError.

See :mod:`firmware_fixtures.yaml_lines`; this module only names the error type
scenario files fail with.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from firmware_fixtures import yaml_lines
from firmware_fixtures.yaml_lines import LineDict, LineList
from simulator.errors import ScenarioError

__all__ = ["LineDict", "LineList", "load"]


def load(path: Path) -> Any:
    """Parse the scenario file ``path``; every failure is a :class:`ScenarioError`."""
    return yaml_lines.load(path, error=ScenarioError)
