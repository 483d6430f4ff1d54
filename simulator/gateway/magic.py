"""Magic amounts and response codes: the gateway's outcome tables, as data.

* ``firmware_fixtures/gateway/magic_amounts.yaml`` -- the fen part of DE4 (its
  last two digits) picks a decline code or "no answer" for a purchase whose
  ARQC verified; everything else is approved.
* ``firmware_fixtures/iso8583/response_codes.yaml`` -- DE39 code -> English and
  Chinese texts; the terminal shows (and speaks) them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import attrs

from firmware_fixtures import yaml_lines
from firmware_fixtures.yaml_lines import line_of
from simulator.errors import FixtureError
from simulator.gateway.issuers import find_fixture, require_str, top_level_list

DEFAULT_MAGIC_AMOUNTS = "magic_amounts"
DEFAULT_RESPONSE_CODES = "response_codes"
APPROVED = "00"


def _is_code(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalnum()


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
        return cls.parse(yaml_lines.load(path, error=FixtureError), path)

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


def load_magic_amounts(name_or_path: str | Path = DEFAULT_MAGIC_AMOUNTS) -> MagicAmounts:
    return MagicAmounts.load(name_or_path)


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
    if not _is_code(code):
        raise FixtureError(
            path, f"{where}: field 'response_code' must be 2 characters, got {code!r}", line
        )
    return MagicOutcome(fen=fen, response_code=code, meaning=meaning)


# -- response codes --------------------------------------------------------------


@attrs.frozen
class ResponseCode:
    code: str
    en: str
    zh: str

    @property
    def approved(self) -> bool:
        return self.code == APPROVED

    def text(self, language: str = "en") -> str:
        return self.zh if language.lower().startswith("zh") else self.en


def _frozen_codes(value: Mapping[str, ResponseCode]) -> Mapping[str, ResponseCode]:
    return MappingProxyType(dict(value))


@attrs.frozen
class ResponseCodes:
    codes: Mapping[str, ResponseCode] = attrs.field(converter=_frozen_codes)
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_RESPONSE_CODES) -> ResponseCodes:
        path = find_fixture("iso8583", name_or_path, "response codes")
        return cls.parse(yaml_lines.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> ResponseCodes:
        if not isinstance(document, Mapping) or not isinstance(document.get("codes"), Mapping):
            raise FixtureError(path, "expected a mapping with a 'codes' mapping at the top level")
        table = document["codes"]
        codes: dict[str, ResponseCode] = {}
        for key, texts in table.items():
            where = f"codes[{key!r}]"
            if not isinstance(key, str) or not _is_code(key):
                # An unquoted 05 is YAML 1.1's octal 5: the key reads "5".
                digits = str(key)
                hint = (
                    f" (quote it: '{int(digits):02d}')"
                    if digits.isdigit() and len(digits) <= 2
                    else ""
                )
                raise FixtureError(
                    path, f"{where}: a code must be 2 quoted characters{hint}", line_of(table, key)
                )
            if not isinstance(texts, Mapping):
                raise FixtureError(
                    path, f"{where}: expected {{en: ..., zh: ...}}", line_of(table, key)
                )
            codes[key] = ResponseCode(
                code=key,
                en=require_str(path, texts, where, "en"),
                zh=require_str(path, texts, where, "zh"),
            )
        if APPROVED not in codes:
            raise FixtureError(path, "codes: the approval code '00' is missing", line_of(table))
        return cls(codes=codes, source=path)

    def get(self, code: str) -> ResponseCode | None:
        return self.codes.get(code)

    def text(self, code: str, language: str = "en") -> str:
        """The reason to show for ``code``; unknown codes still say something."""
        entry = self.codes.get(code)
        if entry is not None:
            return entry.text(language)
        if language.lower().startswith("zh"):
            return f"交易失败({code})"
        return f"Declined ({code})"

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __iter__(self) -> Iterator[ResponseCode]:
        return iter(self.codes.values())


def load_response_codes(name_or_path: str | Path = DEFAULT_RESPONSE_CODES) -> ResponseCodes:
    return ResponseCodes.load(name_or_path)


@functools.lru_cache(maxsize=1)
def response_codes() -> ResponseCodes:
    """The default response-code table (loaded once per process)."""
    return ResponseCodes.load()


def response_text(code: str, language: str = "en") -> str:
    """Shortcut for the terminal: ``response_text("51", "zh") == "余额不足"``."""
    return response_codes().text(code, language)
