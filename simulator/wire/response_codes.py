"""ISO 8583 response codes (DE39) and what they mean, in English and Chinese.

``firmware_fixtures/iso8583/response_codes.yaml`` holds the table; the host
simulator picks codes, the terminal shows (and speaks) their texts.
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
from simulator.fixture_fields import find_fixture, require_str

DEFAULT_RESPONSE_CODES = "response_codes"
APPROVED = "00"


def is_response_code(value: str) -> bool:
    return len(value) == 2 and value.isascii() and value.isalnum()


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
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> ResponseCodes:
        if not isinstance(document, Mapping) or not isinstance(document.get("codes"), Mapping):
            raise FixtureError(path, "expected a mapping with a 'codes' mapping at the top level")
        table = document["codes"]
        codes: dict[str, ResponseCode] = {}
        for key, texts in table.items():
            where = f"codes[{key!r}]"
            if not isinstance(key, str) or not is_response_code(key):
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
