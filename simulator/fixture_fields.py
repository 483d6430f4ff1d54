"""Reading fields of YAML fixtures (loaded by :mod:`drivers.fixtures`)
with errors that name the file, the line and the field."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError

YAML_SUFFIXES = (".yaml", ".yml")


def find_fixture(category: str, name_or_path: str | Path, what: str) -> Path:
    """The YAML fixture ``name_or_path`` in ``category`` or a FixtureError."""
    return fixtures.locate(category, name_or_path, YAML_SUFFIXES, what, FixtureError)


def top_level_list(path: Path, document: Any, key: str) -> list[Any]:
    if not isinstance(document, Mapping) or key not in document:
        raise FixtureError(path, f"expected a mapping with a {key!r} key at the top level")
    items = document[key]
    if not isinstance(items, list):
        raise FixtureError(path, f"{key!r} must be a list", line_of(document))
    return items


def require_str(path: Path, entry: Mapping[str, Any], where: str, field: str) -> str:
    """``entry[field]`` as a non-empty string, or a FixtureError naming it."""
    if field not in entry:
        raise FixtureError(path, f"{where}: missing field {field!r}", line_of(entry))
    value = entry[field]
    if not isinstance(value, str) or not value.strip():
        raise FixtureError(
            path,
            f"{where}: field {field!r} must be a non-empty (quoted) string, got {value!r}",
            line_of(entry),
        )
    return value.strip()
