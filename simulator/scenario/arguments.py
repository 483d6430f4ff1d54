"""Step arguments that are durations and counts, each declared once with its bounds.

A declaration gives both the JSON Schema of the argument (``docs/scenario.schema.json``)
and its parser (``possim check`` / ``possim run``), so the two refuse the same
values: a duration is at most :data:`MAX_DURATION` of virtual time, finite; a
count is a whole number within its declared range. docs/reliability.md lists
the bounds.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from simulator.scenario.model import Where

# A day of virtual time: longer than any timeout a terminal or host has, short
# enough that a typo (30000h) is caught rather than run.
MAX_DURATION = 24 * 3600.0
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")


@attrs.frozen
class Duration:
    """A duration argument: ``30s``, ``500ms``, ``2m``, ``1h``, or a number of seconds."""

    maximum: float = MAX_DURATION

    def schema(self) -> dict[str, Any]:
        # The pattern spells the maximum per unit, so an editor refuses "25h" as the
        # parser does.
        per_unit = "|".join(
            rf"{_at_most(int(self.maximum / seconds))}\s*{unit}" + ("?" if unit == "s" else "")
            for unit, seconds in _UNIT_SECONDS.items()
        )
        return {
            "description": f"A duration: 30s, 500ms, 2m, 1h, or a number of seconds; at most "
            f"{_shown(self.maximum)}.",
            "anyOf": [
                {"type": "number", "minimum": 0, "maximum": self.maximum},
                {"type": "string", "pattern": rf"^\s*(?:{per_unit})\s*$"},
            ],
        }

    def parse(self, value: Any, where: Where, what: str) -> float:
        expected = f"expected a duration like 30s, 500ms or 2m, got {value!r}"
        if isinstance(value, bool):
            raise where.error(f"{what}: {expected}")
        if isinstance(value, (int, float)):
            seconds = float(value)
        else:
            match = DURATION_RE.match(str(value))
            if match is None:
                raise where.error(f"{what}: {expected}")
            seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2) or "s"]
        if seconds < 0:
            raise where.error(f"{what}: a duration cannot be negative")
        if not seconds <= self.maximum:  # also NaN
            raise where.error(
                f"{what}: at most {_shown(self.maximum)} of virtual time, got {value!r}"
            )
        return seconds


@attrs.frozen
class Count:
    """A whole-number argument from ``minimum`` to ``maximum``."""

    minimum: int
    maximum: int
    description: str
    default: int | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }
        if self.default is not None:
            schema["default"] = self.default
        return schema

    def parse(self, value: Any, where: Where, what: str) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.minimum <= value <= self.maximum
        ):
            raise where.error(
                f"{what}: expected a whole number from {self.minimum} to {self.maximum}, "
                f"got {value!r}"
            )
        return value


DURATION = Duration()


def _shown(seconds: float) -> str:
    return f"{seconds / 3600:g}h" if seconds >= 3600 else f"{seconds:g}s"


def _at_most(limit: int) -> str:
    """A regex for the decimal numbers from 0 to ``limit`` (leading zeros and a
    fraction allowed: ``007.5``; ``limit`` itself only with a zero fraction)."""
    below = _integers_up_to(limit - 1) if limit > 0 else None
    exact = rf"{limit}(?:\.0+)?"
    return rf"0*(?:{exact}|(?:{below})(?:\.\d+)?)" if below else rf"0*(?:{exact})"


def _integers_up_to(top: int) -> str:
    """A regex for the whole numbers 0..``top`` written without leading zeros."""
    digits = str(top)
    width = len(digits)
    choices = [] if width == 1 else ["0", rf"[1-9]\d{{0,{width - 2}}}"]
    for index, digit in enumerate(digits):
        lowest = 1 if index == 0 and width > 1 else 0
        if int(digit) > lowest:
            rest = width - index - 1
            choices.append(
                f"{digits[:index]}[{lowest}-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else "")
            )
    choices.append(digits)
    return "|".join(choices)
