"""Magic amounts: the gateway's outcome table, as data.

``firmware_fixtures/gateway/magic_amounts.yaml`` -- the fen part of DE4 (its
last two digits) picks a decline code or "no answer" for a purchase whose ARQC
verified; everything else is approved.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture, require_str, top_level_list
from simulator.wire.response_codes import is_response_code

DEFAULT_MAGIC_AMOUNTS = "magic_amounts"


# -- magic amounts ---------------------------------------------------------------


@attrs.frozen
class MagicOutcome:
    fen: str
    response_code: str | None  # None: the host never answers
    meaning: str

    @property
    def no_answer(self) -> bool:
        return self.response_code is None


def _frozen_outcomes(value: Mapping[str, MagicOutcome]) -> Mapping[str, MagicOutcome]:
    return MappingProxyType(dict(value))


@attrs.frozen
class MagicAmounts:
    outcomes: Mapping[str, MagicOutcome] = attrs.field(converter=_frozen_outcomes)
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MAGIC_AMOUNTS) -> MagicAmounts:
        path = find_fixture("gateway", name_or_path, "magic amounts")
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> MagicAmounts:
        outcomes: dict[str, MagicOutcome] = {}
        for index, entry in enumerate(top_level_list(path, document, "magic_amounts")):
            where = f"magic_amounts[{index}]"
            if not isinstance(entry, Mapping):
                raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
            outcome = _parse_outcome(path, entry, where)
            if outcome.fen in outcomes:
                raise FixtureError(
                    path, f"{where}: field 'fen' {outcome.fen!r} appears twice", line_of(entry)
                )
            outcomes[outcome.fen] = outcome
        return cls(outcomes=outcomes, source=path)

    def outcome_for(self, amount: str | int) -> MagicOutcome | None:
        """The magic outcome for an amount (DE4 digits or fen), None = normal."""
        fen = f"{int(amount) % 100:02d}" if isinstance(amount, int) else amount[-2:]
        return self.outcomes.get(fen)

    def __iter__(self) -> Iterator[MagicOutcome]:
        return iter(self.outcomes.values())


def _parse_outcome(path: Path, entry: Mapping[str, Any], where: str) -> MagicOutcome:
    line = line_of(entry)
    unknown = set(entry) - {"fen", "response_code", "no_answer", "meaning"}
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise FixtureError(path, f"{where}: unknown field(s) {names}", line)
    fen = require_str(path, entry, where, "fen")
    if len(fen) != 2 or not fen.isdigit():
        raise FixtureError(path, f"{where}: field 'fen' must be two digits, got {fen!r}", line)
    meaning = require_str(path, entry, where, "meaning")
    no_answer = entry.get("no_answer", False)
    if not isinstance(no_answer, bool):
        raise FixtureError(path, f"{where}: field 'no_answer' must be true or false", line)
    if no_answer:
        if "response_code" in entry:
            raise FixtureError(
                path, f"{where}: field 'response_code' makes no sense with no_answer: true", line
            )
        return MagicOutcome(fen=fen, response_code=None, meaning=meaning)
    code = require_str(path, entry, where, "response_code")
    if not is_response_code(code):
        raise FixtureError(
            path, f"{where}: field 'response_code' must be 2 characters, got {code!r}", line
        )
    return MagicOutcome(fen=fen, response_code=code, meaning=meaning)
