"""Issuers the gateway simulator knows, by BIN, with their cryptogram keys.

The directory is data (``firmware_fixtures/gateway/issuers.yaml``): a list of
``{prefix, name, cryptogram, imk_ac, pvk}`` entries (``pvk`` optional: without it
the issuer cannot verify online PINs). The longest prefix matching a
PAN picks the issuer. A malformed file raises :class:`FixtureError` naming the
file, the line and the field.

This module also holds the small checks the gateway's data files share; they
are read with :mod:`drivers.fixtures`, which keeps the line of
every mapping so errors can point at it.
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture, require_str, top_level_list
from simulator.wire import cryptogram

DEFAULT_ISSUERS = "issuers"


# -- issuers -------------------------------------------------------------------


@attrs.frozen
class Issuer:
    prefix: str
    name: str
    cryptogram_method: str
    # Never shown in a repr, a log or a trace.
    imk_ac: bytes = attrs.field(repr=False)
    # PIN verification key (IBM 3624 offsets); None: online PINs cannot be checked.
    pvk: bytes | None = attrs.field(default=None, repr=False)

    @property
    def method(self) -> cryptogram.CryptogramMethod:
        return cryptogram.method(self.cryptogram_method)

    def icc_master_key(self, pan: str, psn: str) -> bytes:
        """The card's ICC master key for AC (EMV Option A)."""
        return cryptogram.derive_icc_master_key(self.imk_ac, pan, psn)


@attrs.frozen
class IssuerDirectory:
    issuers: tuple[Issuer, ...]
    source: Path | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_ISSUERS) -> IssuerDirectory:
        path = find_fixture("gateway", name_or_path, "issuer directory")
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> IssuerDirectory:
        entries = top_level_list(path, document, "issuers")
        issuers: list[Issuer] = []
        seen: dict[str, int] = {}
        for index, entry in enumerate(entries):
            where = f"issuers[{index}]"
            if not isinstance(entry, Mapping):
                raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
            issuer = _parse_issuer(path, entry, where)
            if issuer.prefix in seen:
                first = seen[issuer.prefix]
                raise FixtureError(
                    path,
                    f"{where}: field 'prefix' {issuer.prefix!r} repeats issuers[{first}]",
                    line_of(entry),
                )
            seen[issuer.prefix] = index
            issuers.append(issuer)
        if not issuers:
            raise FixtureError(path, "'issuers' lists no issuer")
        return cls(issuers=tuple(issuers), source=path)

    def lookup(self, pan: str) -> Issuer | None:
        """The issuer with the longest prefix of ``pan``, or None."""
        best: Issuer | None = None
        for issuer in self.issuers:
            if pan.startswith(issuer.prefix) and (
                best is None or len(issuer.prefix) > len(best.prefix)
            ):
                best = issuer
        return best

    def __iter__(self) -> Iterator[Issuer]:
        return iter(self.issuers)

    def __len__(self) -> int:
        return len(self.issuers)


def _parse_issuer(path: Path, entry: Mapping[str, Any], where: str) -> Issuer:
    line = line_of(entry)
    unknown = set(entry) - {"prefix", "name", "cryptogram", "imk_ac", "pvk"}
    if unknown:
        names = ", ".join(sorted(map(str, unknown)))
        raise FixtureError(path, f"{where}: unknown field(s) {names}", line)
    prefix = require_str(path, entry, where, "prefix")
    if not prefix.isdigit() or not 1 <= len(prefix) <= 11:
        raise FixtureError(
            path, f"{where}: field 'prefix' must be 1-11 digits, got {prefix!r}", line
        )
    name = require_str(path, entry, where, "name")
    method = require_str(path, entry, where, "cryptogram")
    if method not in cryptogram.METHODS:
        known = ", ".join(sorted(cryptogram.METHODS))
        raise FixtureError(
            path, f"{where}: field 'cryptogram' {method!r} is not a known method ({known})", line
        )
    key = tdes_key_field(path, entry, where, "imk_ac")
    pvk = tdes_key_field(path, entry, where, "pvk") if "pvk" in entry else None
    return Issuer(prefix=prefix, name=name, cryptogram_method=method, imk_ac=key, pvk=pvk)


def tdes_key_field(path: Path, entry: Mapping[str, Any], where: str, field: str) -> bytes:
    """A TDES key field (hex, 16 or 24 bytes), or a FixtureError naming it."""
    line = line_of(entry)
    key_hex = require_str(path, entry, where, field)
    try:
        key = binascii.unhexlify(key_hex)
    except (binascii.Error, ValueError):
        raise FixtureError(path, f"{where}: field {field!r} is not hex", line) from None
    if len(key) not in (16, 24):
        raise FixtureError(
            path, f"{where}: field {field!r} must be 16 or 24 bytes, got {len(key)}", line
        )
    return key
