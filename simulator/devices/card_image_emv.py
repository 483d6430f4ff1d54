"""What card image fields mean in EMV terms, beyond what each holds.

:mod:`simulator.devices.card_image_yaml` declares the card image format (one
:class:`~simulator.fixture_fields.FieldSpec` per field); this module supplies
what those declarations use and what no single field can do:

* the EMV kinds of values (:class:`Dol`, :class:`Tag`, :class:`TagValues`);
* the rules a field obeys given the fields before it (a Luhn-valid PAN, a track 2
  that fits, a CDOL1 asking for every cryptogram input ...);
* *personalisation* (:func:`personalise_application`), as an issuer's bureau does
  it: the ICC master key for AC derived from the issuer key (EMV Option A), the
  records encoded from the image's fields and ``data``, and the AFL laid out
  from the records.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from typing import Any

import attrs

from drivers.errors import EmvDataError
from drivers.fixtures import LineDict
from drivers.wire import ber_tlv as tlv
from drivers.wire.emv_tags import TAG_NAMES
from simulator.devices.card_image import Application, CardImage, RecordLayout, luhn_valid
from simulator.devices.card_oda import FDDA_SFI, personalise_fdda
from simulator.fixture_fields import FieldReader, Fields, Hex, Kind, Node, child
from simulator.wire import cryptogram

_TAG_RE = re.compile(r"^[0-9A-F]{2}([0-9A-F]{2}){0,2}$")
_TRACK2_CHARACTERS = 37  # ISO/IEC 7813 track 2: PAN, "=", YYMM, service code, discretionary
_MAX_RECORD = 254  # a READ RECORD answer: 256 bytes less the status word
PAN_EXPECTED = "a PAN of 12-19 digits (quoted) with a valid Luhn check digit"

# Application fields whose values go into records as these tags.
FIELD_TAGS = {
    "9F07": "usage_control",
    "9F08": "app_version",
    "9F0D": "iac_default",
    "9F0E": "iac_denial",
    "9F0F": "iac_online",
}
# Tags a record may list without a ``data`` entry: their values come from the
# image's fields (CardImage.derived_value, and the application fields above).
DERIVED_TAGS = tuple(sorted({*CardImage.derivable_tags(), *FIELD_TAGS}))


# -- kinds only card images have -----------------------------------------------------


@attrs.frozen
class Dol(Kind[bytes]):
    """A data object list (PDOL, CDOL1, CDOL2): tag-length pairs in hex."""

    expected: str

    def read(self, node: Node, where: str, reader: FieldReader) -> bytes:
        value = Hex(self.expected).read(node, where, reader)
        try:
            tlv.parse_dol(value)
        except EmvDataError as exc:
            reader.fail(node, where, f"expected {self.expected}: {exc}")
        return value


@attrs.frozen
class Tag(Kind[str]):
    """A primitive EMV tag a record may hold: a known one, or a 9Fxx/DFxx/5Fxx."""

    expected: str = "an EMV tag in hex (e.g. 5F24)"

    def read(self, node: Node, where: str, reader: FieldReader) -> str:
        raw = reader.scalar(node, where, self.expected).strip().upper()
        if not _TAG_RE.match(raw):
            reader.fail(node, where, f"expected {self.expected}, got {raw!r}")
        first = int(raw[:2], 16)
        if (first & 0x1F == 0x1F) != (len(raw) > 2) or first & 0x20:
            reader.fail(node, where, f"expected a primitive EMV tag, got {raw!r}")
        if raw not in TAG_NAMES and not raw.startswith(("9F", "DF", "5F")):
            reader.fail(
                node, where, f"expected a known EMV tag or a 9Fxx/DFxx/5Fxx tag, got {raw!r}"
            )
        return raw


@attrs.frozen
class TagValue:
    value: bytes
    node: Node  # the tag's key, for "is not listed in any record"


@attrs.frozen
class TagValues(Kind[Mapping[str, TagValue]]):
    """``data``: a mapping of primitive tags to hex values."""

    expected: str = "a mapping of tag: hex value"

    def read(self, node: Node, where: str, reader: FieldReader) -> Mapping[str, TagValue]:
        if not isinstance(node.value, LineDict):
            reader.fail(node, where, f"expected {self.expected}")
        mapping: LineDict = node.value
        values: dict[str, TagValue] = {}
        for key in mapping:
            key_node = Node(key, mapping.line_of(key))
            tag = Tag().read(key_node, where, reader)
            if tag in values:
                reader.fail(key_node, f"{where}.{tag}", "appears twice")
            value = Hex("a hex value").read(child(mapping, key), f"{where}.{tag}", reader)
            values[tag] = TagValue(value, key_node)
        return values


# -- rules beyond one kind ------------------------------------------------------------


def luhn(pan: str, earlier: Mapping[str, Any]) -> str | None:
    return None if luhn_valid(pan) else f"expected {PAN_EXPECTED}; Luhn check fails"


def month(yymm: str, earlier: Mapping[str, Any]) -> str | None:
    if 1 <= int(yymm[2:]) <= 12:
        return None
    return f"expected a date as YYMM, month {yymm[2:]} is not 01-12"


def date(yymmdd: str, earlier: Mapping[str, Any]) -> str | None:
    year, month, day = 2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    if 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]:
        return None
    return f"expected a date as YYMMDD, {yymmdd} is not a date"


def fits_track2(digits: str, earlier: Mapping[str, Any]) -> str | None:
    room = _TRACK2_CHARACTERS - len(earlier["pan"]) - 8  # "=", YYMM, service code
    if len(digits) <= room:
        return None
    return f"expected at most {room} digits (track 2 holds {_TRACK2_CHARACTERS} characters)"


def within_try_limit(tries: int, earlier: Mapping[str, Any]) -> str | None:
    return None if tries <= earlier["pin_try_limit"] else f"expected 0..pin_try_limit, got {tries}"


def atr_start(atr: bytes, earlier: Mapping[str, Any]) -> str | None:
    return None if atr[0] in (0x3B, 0x3F) else "expected an ATR starting 3B or 3F"


def asks_for_ac_inputs(cdol1: bytes, earlier: Mapping[str, Any]) -> str | None:
    asked = {tag for tag, _ in tlv.parse_dol(cdol1)}
    # The card supplies its own AIP (82) and ATC (9F36).
    missing = [t for t in cryptogram.AC_INPUT_TAGS if t not in asked and t not in ("82", "9F36")]
    if not missing:
        return None
    return "expected a CDOL1 asking for every terminal cryptogram input; lacks " + ", ".join(
        missing
    )


def asks_for_arc(cdol2: bytes, earlier: Mapping[str, Any]) -> str | None:
    if "8A" in {tag for tag, _ in tlv.parse_dol(cdol2)}:
        return None
    return "expected a CDOL2 asking for 8A (authorisation response code)"


def cvm_list_shape(cvm_list: bytes, earlier: Mapping[str, Any]) -> str | None:
    if not cvm_list or (len(cvm_list) >= 10 and len(cvm_list) % 2 == 0):
        return None
    return "expected a CVM list: amount X (4 bytes), amount Y (4 bytes), then 2-byte rules"


def afl_entries(afl: bytes, earlier: Mapping[str, Any]) -> str | None:
    return None if len(afl) % 4 == 0 else "expected an AFL made of 4-byte entries"


def protocol_spelling(text: str) -> str:
    return text.upper().replace(" ", "")


# -- personalisation ----------------------------------------------------------------


def personalise_application(image: CardImage, app: Fields) -> Application:
    try:
        icc_mk = cryptogram.derive_icc_master_key(app["issuer_master_key_ac"], image.pan, image.psn)
    except (ValueError, EmvDataError) as exc:
        app.fail("issuer_master_key_ac", f"cannot derive the ICC master key: {exc}")
    partial = Application(
        **model_values(Application, app),
        afl=b"",
        cryptogram_method=app["cryptogram"],
        icc_master_key=icc_mk,
        records={},
    )
    data: Mapping[str, TagValue] = app["data"]
    records: tuple[Fields, ...] = app["records"]
    layout: list[RecordLayout] = []
    encoded: dict[tuple[int, int], bytes] = {}
    placed: set[str] = set()
    for record in records:
        key = (record["sfi"], record["record"])
        if key in encoded:
            record.fail(None, "repeats an earlier SFI and record number")
        body = b""
        for tag in record["tags"]:
            if tag in placed:
                record.fail("tags", f"tag {tag} is already in a record")
            placed.add(tag)
            value = _tag_value(image, partial, app, tag)
            if value is None:
                record.fail(
                    "tags",
                    f"tag {tag} has no value: add it under {app.path('data')} "
                    f"(derived tags: {', '.join(DERIVED_TAGS)})",
                )
            body += tlv.pack(tag, value)
        template = tlv.pack("70", body)
        if len(template) > _MAX_RECORD:
            record.fail(None, f"the record is {len(template)} bytes; max {_MAX_RECORD}")
        encoded[key] = template
        layout.append(RecordLayout(record["sfi"], record["record"], record["tags"], record["oda"]))
    for tag, given in data.items():
        if tag not in placed:
            app.reader.fail(
                given.node,
                f"{app.path('data')}.{tag}",
                "is not listed in any record's tags; add it to one",
            )
    if app["fdda"]:
        if app["afl"] is not None:
            app.fail("fdda", "an explicit afl cannot list the fDDA records: drop one of the two")
        partial, fdda_records, fdda_layout = personalise_fdda(image, partial)
        if set(fdda_records) & set(encoded):
            app.fail("fdda", f"the fDDA records go in SFI {FDDA_SFI}: records 1-2 are taken")
        encoded.update(fdda_records)
        layout.extend(fdda_layout)
    afl = app["afl"] if app["afl"] is not None else _afl(layout, app)
    return attrs.evolve(partial, afl=afl, records=encoded, layout=tuple(layout))


def model_values(model: type[Any], fields: Fields) -> dict[str, Any]:
    """The fields read that are attributes of ``model`` as they are (not the nested
    lists and the values personalisation computes)."""
    computed = {"applications", "records", "afl", "source"}
    names = set(attrs.fields_dict(model)) - computed
    return {name: value for name, value in fields.values.items() if name in names}


def _tag_value(image: CardImage, app: Application, fields: Fields, tag: str) -> bytes | None:
    """A record's value of ``tag``: the application's ``data``, its field, or derived."""
    given = fields["data"].get(tag)
    if given is not None:
        return bytes(given.value)
    field = FIELD_TAGS.get(tag)
    if field is not None:
        return bytes(fields[field])
    return image.derived_value(tag, app)


def _afl(layout: list[RecordLayout], app: Fields) -> bytes:
    """AFL entries from runs of consecutive records in one SFI, in listed order."""
    runs: list[list[RecordLayout]] = []
    for record in layout:
        last = runs[-1][-1] if runs else None
        if last is not None and last.sfi == record.sfi and record.number == last.number + 1:
            runs[-1].append(record)
        else:
            runs.append([record])
    afl = b""
    for run in runs:
        oda_flags = [record.oda for record in run]
        oda_count = sum(oda_flags)
        if oda_flags != [True] * oda_count + [False] * (len(run) - oda_count):
            app.fail(
                "records", f"records with oda: true must come first in their run (SFI {run[0].sfi})"
            )
        afl += bytes([run[0].sfi << 3, run[0].number, run[-1].number, oda_count])
    return afl


__all__ = [
    "DERIVED_TAGS",
    "FIELD_TAGS",
    "PAN_EXPECTED",
    "Dol",
    "Tag",
    "TagValue",
    "TagValues",
    "model_values",
    "personalise_application",
]
