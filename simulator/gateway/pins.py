"""Online PIN verification at the acquirer host.

Two pieces of data: which PIN key each terminal enciphers PIN blocks under
(``firmware_fixtures/gateway/terminals.yaml``, by DE41) and each issuer's PIN
verification key (``pvk`` in ``issuers.yaml``). The rule, shared with the card
images (``docs/gateway.md``):

1. decipher DE52 with the terminal's key and decode the ISO 9564 format-0
   block against the PAN (:mod:`simulator.wire.pin_block`);
2. compute the IBM 3624 offset of that PIN with the issuer's PVK
   (decimalisation table ``0123456789012345``, the 12 PAN digits left of the
   check digit, F-padded);
3. compare it with the offset at the start of the track 2 discretionary data
   (DE35; tag 57 in DE55 when DE35 is absent).

Three wrong online PINs for one PAN on one (gateway clock) day lock that PAN's
online PIN until the next day: the third and every later attempt is answered
``75``. A correct PIN resets the count. The count lives in memory only (a
restarted host forgets it) and is keyed by a hash, never the PAN itself.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import warnings
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import attrs
from psec import pin as psec_pin

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture, require_str, top_level_list
from simulator.gateway.issuers import Issuer, tdes_key_field
from simulator.wire.pin_block import PinBlockError, decipher_pin

DEFAULT_TERMINALS = "terminals"
DECIMALISATION_TABLE = "0123456789012345"
PAN_DIGITS_VERIFIED = 12
MAX_WRONG_PINS = 3

INCORRECT_PIN = "55"
PIN_TRIES_EXCEEDED = "75"
SECURITY_VIOLATION = "63"


@attrs.frozen
class TerminalKeys:
    """DE41 -> terminal PIN key: by exact terminal id, else by the longest ``tid_prefix``
    (a range of load-test terminals, docs/load.md, shares one key)."""

    keys: Mapping[str, bytes] = attrs.field(repr=False)
    source: Path | None = None
    prefixes: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_TERMINALS) -> TerminalKeys:
        path = find_fixture("gateway", name_or_path, "terminal key directory")
        return cls.parse(fixtures.load(path, error=FixtureError), path)

    @classmethod
    def parse(cls, document: Any, path: Path) -> TerminalKeys:
        keys: dict[str, bytes] = {}
        prefixes: dict[str, bytes] = {}
        for index, entry in enumerate(top_level_list(path, document, "terminals")):
            where = f"terminals[{index}]"
            if not isinstance(entry, Mapping):
                raise FixtureError(path, f"{where}: expected a mapping, got {entry!r}")
            unknown = set(entry) - {"tid", "tid_prefix", "pin_key"}
            if unknown:
                names = ", ".join(sorted(map(str, unknown)))
                raise FixtureError(path, f"{where}: unknown field(s) {names}", line_of(entry))
            if "tid_prefix" in entry and "tid" not in entry:
                prefix = require_str(path, entry, where, "tid_prefix")
                if not 1 <= len(prefix) <= 7 or prefix in prefixes:
                    raise FixtureError(
                        path,
                        f"{where}: field 'tid_prefix' must be 1-7 characters and not repeat, "
                        f"got {prefix!r}",
                        line_of(entry),
                    )
                prefixes[prefix] = tdes_key_field(path, entry, where, "pin_key")
                continue
            tid = require_str(path, entry, where, "tid")
            if len(tid) != 8:
                raise FixtureError(
                    path, f"{where}: field 'tid' must be 8 characters, got {tid!r}", line_of(entry)
                )
            if tid in keys:
                raise FixtureError(path, f"{where}: tid {tid!r} repeats", line_of(entry))
            keys[tid] = tdes_key_field(path, entry, where, "pin_key")
        return cls(keys=keys, source=path, prefixes=prefixes)

    def pin_key(self, tid: str) -> bytes | None:
        key = self.keys.get(tid)
        if key is not None:
            return key
        for length in range(min(len(tid), 7), 0, -1):
            key = self.prefixes.get(tid[:length])
            if key is not None:
                return key
        return None


def ibm3624_offset(pvk: bytes, pin: str, pan: str) -> str:
    """The IBM 3624 offset of ``pin`` for ``pan`` (the rule the card images follow)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # two-key TDES deprecation, see pin_block.py
        return str(
            psec_pin.generate_ibm3624_offset(
                pvk, DECIMALISATION_TABLE, pin, pan, len(pan) - 13, PAN_DIGITS_VERIFIED, "F"
            )
        )


def track2_discretionary(track2: str) -> str | None:
    """Discretionary data of a track 2 (after separator, YYMM and service code)."""
    for separator in ("=", "D", "d"):
        if separator in track2:
            after = track2.split(separator, 1)[1]
            return after[7:] if len(after) >= 7 else None
    return None


@attrs.frozen
class PinCheck:
    code: str | None  # None: the PIN is right; otherwise the DE39 to answer
    note: str


class PinVerifier:
    def __init__(self, terminals: TerminalKeys) -> None:
        self._terminals = terminals
        self._lock = threading.Lock()
        self._wrong: dict[tuple[str, date], int] = {}

    def check(
        self, *, tid: str, pan: str, de52: str, track2: str | None, issuer: Issuer, today: date
    ) -> PinCheck:
        key = self._terminals.pin_key(tid)
        if key is None:
            return PinCheck(SECURITY_VIOLATION, f"no PIN key for terminal {tid}: PIN not checked")
        if issuer.pvk is None:
            return PinCheck(SECURITY_VIOLATION, f"{issuer.name} has no PVK: PIN not checked")
        discretionary = track2_discretionary(track2) if track2 else None
        if not discretionary:
            return PinCheck(SECURITY_VIOLATION, "no track 2 discretionary data: no PIN offset")
        counter = (hashlib.sha256(pan.encode("ascii")).hexdigest(), today)
        with self._lock:
            if self._wrong.get(counter, 0) >= MAX_WRONG_PINS:
                return PinCheck(PIN_TRIES_EXCEEDED, "online PIN locked for today")
        try:
            pin = decipher_pin(bytes.fromhex(de52), pan, key)
        except (PinBlockError, ValueError):
            return PinCheck(SECURITY_VIOLATION, "DE52 does not decipher to a format-0 PIN block")
        offset = discretionary[: len(pin)]
        try:
            expected = ibm3624_offset(issuer.pvk, pin, pan)
        except ValueError:
            return PinCheck(SECURITY_VIOLATION, "the PIN or PAN does not fit IBM 3624")
        if len(offset) == len(pin) and hmac.compare_digest(expected, offset):
            with self._lock:
                self._wrong.pop(counter, None)
            return PinCheck(None, "online PIN verified")
        with self._lock:
            wrong = self._wrong.get(counter, 0) + 1
            self._wrong[counter] = wrong
        if wrong >= MAX_WRONG_PINS:
            return PinCheck(PIN_TRIES_EXCEEDED, f"wrong online PIN ({wrong} today): locked")
        return PinCheck(INCORRECT_PIN, f"wrong online PIN ({wrong} today)")
