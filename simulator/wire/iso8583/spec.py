"""ISO 8583 specs: which fields a host's messages have and how each is encoded.

Specs are JSON files in ``firmware_fixtures/iso8583/`` holding a pyiso8583
spec dict under ``fields``; ``possim_ascii`` is the default.

>>> spec = Iso8583Spec.load()
>>> spec.name, spec.describe_field("4"), spec.describe_field("999")
('possim_ascii', 'Amount, Transaction', 'field 999')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from simulator.errors import FixtureError

DEFAULT_SPEC = "possim_ascii"

Fields = dict[str, str]


@attrs.frozen
class Iso8583Spec:
    name: str
    fields: Mapping[str, Mapping[str, Any]]
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str = DEFAULT_SPEC) -> Iso8583Spec:
        """A spec by name (``firmware_fixtures/iso8583/NAME.json``) or path.

        Raises:
            FixtureError: no such spec, or one that is not a pyiso8583 spec (``path:line``).
        """
        path = fixtures.locate("iso8583", name_or_path, (".json",), "ISO 8583 spec", FixtureError)
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise FixtureError(path, f"not valid JSON: {exc.msg}", exc.lineno) from None
        fields = document.get("fields") if isinstance(document, dict) else None
        if not isinstance(fields, dict) or "t" not in fields or "p" not in fields:
            raise FixtureError(
                path, "expected an object with 'fields' holding at least 't' and 'p'"
            )
        for key, field in fields.items():
            missing = {"data_enc", "len_enc", "len_type", "max_len"} - set(field)
            if missing:
                raise FixtureError(path, f"field {key!r} lacks {', '.join(sorted(missing))}")
        return cls(name=str(document.get("name", path.stem)), fields=fields, source=path)

    def describe_field(self, key: str) -> str:
        return str(self.fields.get(key, {}).get("desc", f"field {key}"))
