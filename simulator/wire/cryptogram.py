"""Application cryptograms (ARQC/TC/AAC) and ARPCs, shared by the card and
the issuer host so both sides compute the same thing.

Keys follow EMV Book 2 Annex A: the issuer's master key for AC derives each
card's ICC master key (Option A, from PAN and PSN); a per-transaction session
key comes from the ATC. Two methods exist:

* ``emv_csk`` -- EMV Common Session Key (A1.3.1), R = ATC || 00..00; AC is
  ISO 9797-1 MAC algorithm 3 with padding method 2; ARPC method 1. This is what
  possim's UnionPay (UICS/PBOC) cards use.
* ``visa_cvn10`` -- the ICC master key is used directly, padding method 1;
  ARPC method 1 -- Visa's CVN 10.

The AC input is the EMV Book 2 recommended minimum set, in this order:
9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 82 9F36 and the 4-byte CVR from IAD (9F10).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pyemv import ac as _ac
from pyemv import kd as _kd

from drivers.errors import EmvDataError

AC_INPUT_TAGS = ("9F02", "9F03", "9F1A", "95", "5F2A", "9A", "9C", "9F37", "82", "9F36")
# IAD layout possim's cards use: length, derivation key index, CVN, CVR(4) ...
IAD_CVR_SLICE = slice(3, 7)


class CryptogramMethod(Protocol):
    name: str

    def generate_ac(self, icc_mk: bytes, tags: Mapping[str, bytes]) -> bytes: ...

    def generate_arpc(self, icc_mk: bytes, tags: Mapping[str, bytes], arc: bytes) -> bytes: ...


def derive_icc_master_key(issuer_master_key: bytes, pan: str, psn: str) -> bytes:
    """Personalisation: the card's ICC MK from the issuer's MK (EMV Option A)."""
    return _kd.derive_icc_mk_a(issuer_master_key, pan, psn.zfill(2)[-2:])


def ac_input(tags: Mapping[str, bytes]) -> bytes:
    missing = [tag for tag in (*AC_INPUT_TAGS, "9F10") if tag not in tags]
    if missing:
        raise EmvDataError(f"cryptogram input lacks tag(s) {', '.join(missing)}")
    iad = tags["9F10"]
    if len(iad) < IAD_CVR_SLICE.stop:
        raise EmvDataError(f"IAD 9F10 is {len(iad)} bytes; a CVR needs at least 7")
    return b"".join(tags[tag] for tag in AC_INPUT_TAGS) + iad[IAD_CVR_SLICE]


class EmvCommonSessionKey:
    name = "emv_csk"

    def _session_key(self, icc_mk: bytes, tags: Mapping[str, bytes]) -> bytes:
        atc = tags.get("9F36", b"")
        if len(atc) != 2:
            raise EmvDataError("ATC 9F36 must be 2 bytes")
        return _kd.derive_common_sk(icc_mk, atc + bytes(6))

    def generate_ac(self, icc_mk: bytes, tags: Mapping[str, bytes]) -> bytes:
        return _ac.generate_ac(self._session_key(icc_mk, tags), ac_input(tags), _ac.PaddingType.EMV)

    def generate_arpc(self, icc_mk: bytes, tags: Mapping[str, bytes], arc: bytes) -> bytes:
        return _ac.generate_arpc_1(self._session_key(icc_mk, tags), tags["9F26"], arc)


class VisaCvn10:
    name = "visa_cvn10"

    def generate_ac(self, icc_mk: bytes, tags: Mapping[str, bytes]) -> bytes:
        return _ac.generate_ac(icc_mk, ac_input(tags), _ac.PaddingType.VISA)

    def generate_arpc(self, icc_mk: bytes, tags: Mapping[str, bytes], arc: bytes) -> bytes:
        return _ac.generate_arpc_1(icc_mk, tags["9F26"], arc)


METHODS: dict[str, CryptogramMethod] = {
    method.name: method for method in (EmvCommonSessionKey(), VisaCvn10())
}


def method(name: str) -> CryptogramMethod:
    try:
        return METHODS[name]
    except KeyError:
        known = ", ".join(sorted(METHODS))
        raise EmvDataError(f"unknown cryptogram method {name!r} (known: {known})") from None
