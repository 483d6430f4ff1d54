"""The acquirer's pre-authorisation rules, as data.

``firmware_fixtures/gateway/preauth.yaml`` (its header cites the sources):
how far above the pre-authorised amount a completion may go, and for how many
days an uncompleted pre-authorisation can be completed (docs/gateway.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture

DEFAULT_PREAUTH_RULES = "preauth"
MAX_TOLERANCE_PERCENT = 100
MAX_VALIDITY_DAYS = 366
_FIELDS = {
    "completion_tolerance_percent": MAX_TOLERANCE_PERCENT,
    "validity_days": MAX_VALIDITY_DAYS,
}


@attrs.frozen
class PreauthRules:
    """Completion tolerance (percent above the pre-auth) and validity (days)."""

    completion_tolerance_percent: int = 15
    validity_days: int = 30

    def completion_limit(self, preauth_fen: int) -> int:
        """The most a completion of ``preauth_fen`` may be (fen, rounded down).

        >>> PreauthRules().completion_limit(50000)
        57500
        """
        return preauth_fen * (100 + self.completion_tolerance_percent) // 100

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_PREAUTH_RULES) -> PreauthRules:
        path = find_fixture("gateway", name_or_path, "pre-authorisation rules")
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> PreauthRules:
        if not isinstance(document, Mapping):
            raise FixtureError(path, f"expected a mapping with {', '.join(_FIELDS)}")
        unknown = sorted(str(key) for key in document if key not in _FIELDS)
        if unknown:
            raise FixtureError(
                path,
                f"unknown field {unknown[0]!r}; expected {', '.join(_FIELDS)}",
                line_of(document, unknown[0]),
            )
        values: dict[str, int] = {}
        for name, most in _FIELDS.items():
            if name not in document:
                raise FixtureError(path, f"missing field {name!r}", line_of(document))
            value = document[name]
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most:
                raise FixtureError(
                    path,
                    f"{name}: expected a whole number from 0 to {most}, got {value!r}",
                    line_of(document, name),
                )
            values[name] = value
        return cls(**values)
