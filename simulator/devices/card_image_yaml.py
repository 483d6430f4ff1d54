"""Card image files: the YAML format, declared field by field, and the reader.

Every field of a card image file is declared once, as a
:class:`~simulator.fixture_fields.FieldSpec` in :data:`CARD_FIELDS`,
:data:`APPLICATION_FIELDS` or :data:`RECORD_FIELDS` (name, kind, default,
rules, help). That one table gives:

* the reader, :func:`parse`: ``file:line: field: expected ...`` for each
  problem; unknown fields are errors, with a did-you-mean. Then each application
  is personalised (:mod:`simulator.devices.card_image_emv`);
* ``possim check``'s messages for the cards scenarios name (the steps load them);
* the field tables of docs/cards.md (:func:`updated_page`;
  ``tests/test_card_image.py`` fails when they are stale; regenerate with
  ``.venv/bin/python -m simulator.devices.card_image_yaml``).

All scalars are read as the text written in the file (no YAML 1.1 surprises:
``0156`` stays ``"0156"``, not octal 110: the shared loader's
:class:`~drivers.fixtures.TextLineLoader`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import attrs

from drivers import fixtures as yaml_lines
from drivers.fixtures import TextLineLoader
from simulator.devices.card_image import Application, CardImage
from simulator.devices.card_image_emv import (
    DERIVED_TAGS,
    PAN_EXPECTED,
    Dol,
    Tag,
    TagValues,
    afl_entries,
    asks_for_ac_inputs,
    asks_for_arc,
    atr_start,
    cvm_list_shape,
    date,
    fits_track2,
    luhn,
    model_values,
    month,
    personalise_application,
    protocol_spelling,
    within_try_limit,
)
from simulator.errors import FixtureError
from simulator.fixture_fields import (
    Ascii,
    Boolean,
    Digits,
    FieldReader,
    Fields,
    FieldSpec,
    Hex,
    Integer,
    ListOf,
    Node,
    OneOf,
    Section,
    Text,
    reference_table,
)
from simulator.wire import cryptogram

# -- the format --------------------------------------------------------------------------

RECORD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("sfi", Integer("an SFI of 1-30", range(1, 31)), "the short file identifier, 1-30"),
    FieldSpec(
        "record", Integer("a record number of 1-254", range(1, 255)), "the record number, 1-254"
    ),
    FieldSpec(
        "tags",
        ListOf("tags", Tag(), example=", e.g. [5A, 5F24]"),
        "the primitive tags the record holds, in order: derived ones (below) or ones under "
        "the application's `data`",
    ),
    FieldSpec(
        "oda",
        Boolean(),
        "counted in the AFL's records for offline data authentication (they must come first "
        "in a run)",
        default=False,
    ),
)

APPLICATION_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(
        "aid", Hex("an AID of 5-16 bytes of hex", range(5, 17)), "5-16 bytes of hex (4F / 84)"
    ),
    FieldSpec("label", Ascii("1-16 ASCII characters", range(1, 17)), "1-16 ASCII characters (50)"),
    FieldSpec(
        "preferred_name",
        Ascii("1-16 ASCII characters (issuer code table 1)", range(1, 17)),
        "1-16 ASCII characters (9F12, code table 1)",
        default=None,
    ),
    FieldSpec(
        "priority",
        Integer("a priority 0-15 (1 = highest)", range(0, 16)),
        "0-15 (87; 1 is the highest, 0 none)",
        default=0,
    ),
    FieldSpec(
        "aip",
        Hex("an AIP of 2 bytes of hex", (2,)),
        "Application Interchange Profile, 2 bytes (82). `10` cardholder verification, `08` "
        "terminal risk management, `04` issuer authentication by EXTERNAL AUTHENTICATE (else "
        "tag 91 travels in CDOL2)",
    ),
    FieldSpec(
        "pdol",
        Dol("a PDOL"),
        "PDOL (9F38) asked for by the FCI; GPO data must match its length",
        default=b"",
    ),
    FieldSpec(
        "cdol1",
        Dol("a CDOL1"),
        "CDOL1 (8C); must ask for 9F02 9F03 9F1A 95 5F2A 9A 9C 9F37 (the cryptogram input)",
        rules=(asks_for_ac_inputs,),
    ),
    FieldSpec(
        "cdol2",
        Dol("a CDOL2"),
        "CDOL2 (8D); must ask for 8A, and for 91 if issuer authentication data comes with the "
        "second GENERATE AC",
        rules=(asks_for_arc,),
    ),
    FieldSpec(
        "cvm_list",
        Hex("a CVM list"),
        "CVM list (8E): amount X (4 bytes), amount Y (4 bytes), 2-byte rules",
        default=b"",
        rules=(cvm_list_shape,),
    ),
    FieldSpec(
        "iad",
        Hex("an IAD template of 7-32 bytes of hex", range(7, 33)),
        "Issuer Application Data template, 7-32 bytes; bytes 3..6 are the CVR (`03` + 3 "
        "bytes), which the card fills in",
    ),
    FieldSpec(
        "cryptogram",
        OneOf(
            f"a cryptogram method ({', '.join(sorted(cryptogram.METHODS))})",
            tuple(sorted(cryptogram.METHODS)),
        ),
        "how the card makes its cryptograms: "
        + " or ".join(f"`{m}`" for m in sorted(cryptogram.METHODS))
        + " (`simulator.wire.cryptogram.METHODS`)",
    ),
    FieldSpec(
        "issuer_master_key_ac",
        Hex("a 16- or 24-byte key in hex", (16, 24)),
        "the issuer master key for AC, 16 or 24 bytes of hex -- TEST keys only",
    ),
    FieldSpec("app_version", Hex("2 bytes of hex", (2,)), "9F08", default=b"\x00\x30"),
    FieldSpec(
        "usage_control",
        Hex("2 bytes of hex", (2,)),
        "Application Usage Control (9F07)",
        default=b"\xff\x00",
    ),
    FieldSpec(
        "iac_default",
        Hex("5 bytes of hex", (5,)),
        "Issuer Action Code - Default (9F0D)",
        default=bytes.fromhex("D84000A800"),
    ),
    FieldSpec(
        "iac_denial",
        Hex("5 bytes of hex", (5,)),
        "Issuer Action Code - Denial (9F0E)",
        default=bytes.fromhex("0010000000"),
    ),
    FieldSpec(
        "iac_online",
        Hex("5 bytes of hex", (5,)),
        "Issuer Action Code - Online (9F0F)",
        default=bytes.fromhex("D84004F800"),
    ),
    FieldSpec(
        "gpo_response",
        Hex("hex"),
        "raw bytes the card answers GPO with (then `9000`), for broken cards",
        default=None,
    ),
    FieldSpec(
        "blocked", Boolean(), "SELECT answers the FCI with 6283; GPO is refused", default=False
    ),
    FieldSpec(
        "require_issuer_authentication",
        Boolean(),
        "without a verified ARPC the second GENERATE AC gives an AAC",
        default=True,
    ),
    FieldSpec(
        "kernel",
        OneOf("a contactless kernel (mchip, qpboc, qvsdc)", ("mchip", "qpboc", "qvsdc")),
        "offered over contactless, in the PPSE with this kernel: `qpboc` (UnionPay "
        "QuickPass, kernel 7), `qvsdc` (Visa, kernel 3): the cryptogram comes in the GPO "
        "answer; `mchip` (Mastercard, kernel 2): GENERATE AC as on contact. Needs "
        "`contactless: true` (docs/contactless.md)",
        default=None,
    ),
    FieldSpec(
        "ctq",
        Hex("2 bytes of hex", (2,)),
        "Card Transaction Qualifiers (9F6C) for the quick kernels: byte 1 `80` online PIN "
        "required, `40` signature required (when the reader asks for a CVM); the card sets "
        "byte 2 `80` (CDCVM performed) itself",
        default=b"\x80\x00",
    ),
    FieldSpec(
        "fdda",
        Boolean(),
        "fDDA (quick kernels): the card gets the simulator's issuer and ICC certificates in "
        "records 1-2 of SFI 4 and signs its dynamic data (9F4B) in the GPO answer; the AIP "
        "says DDA (docs/contactless.md)",
        default=False,
    ),
    FieldSpec(
        "data",
        TagValues(),
        "extra primitive tags, `TAG: hex`; each must be listed in a record. A `data` value "
        "overrides a derived one",
        default=MappingProxyType({}),
    ),
    FieldSpec(
        "records",
        ListOf("records", Section(RECORD_FIELDS)),
        "the application's records (below)",
    ),
    FieldSpec(
        "afl",
        Hex("an AFL (4-byte entries)"),
        "an explicit AFL (94), 4-byte entries, for odd cards",
        default=None,
        default_doc="derived",
        rules=(afl_entries,),
    ),
)

CARD_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("name", Text("the card's name"), "the card's name (normally the file name)"),
    FieldSpec(
        "brand",
        Text("the card brand, e.g. UnionPay"),
        "UnionPay, Visa, Mastercard ... (display only)",
    ),
    FieldSpec("description", Text(), "one line for people", default=""),
    FieldSpec(
        "chip",
        Boolean(),
        "`false`: the card has no (working) chip. It gives no ATR and answers no APDU (a "
        "*mute* card); it can only be swiped. Service code `1xx`: a magstripe-only card; `2xx`: "
        "a chip card whose chip is dead (terminals fall back to the stripe). It may not have "
        "the fields marked (chip)",
        default=True,
    ),
    FieldSpec(
        "contact",
        Boolean(),
        "the card has contacts; `false` for a phone wallet (mute in the chip slot)",
        default=True,
    ),
    FieldSpec(
        "contactless",
        Boolean(),
        "the card has an antenna (ISO/IEC 14443-4): it can be tapped, answers the PPSE "
        "`2PAY.SYS.DDF01` and runs its applications' `kernel` (docs/contactless.md)",
        default=False,
    ),
    FieldSpec(
        "ats_historical",
        Hex("1-15 bytes of hex", range(1, 16)),
        "the historical bytes of its ATS: a PC/SC reader shows the ATR `3B 8n 80 01` + "
        "these + TCK (PC/SC Part 3 3.1.3.2.3.1)",
        default=b"POSSIMCL",
        default_doc="`POSSIMCL` in ASCII",
    ),
    FieldSpec(
        "wallet",
        Boolean(),
        "a phone wallet: a tokenised PAN and the cardholder verified on the phone (CDCVM); "
        'an unverified phone answers GPO `69 86` ("see phone"), and the cardholder '
        "verifies before the next tap",
        default=False,
    ),
    FieldSpec(
        "atr",
        Hex("an ATR of 2-33 bytes of hex", range(2, 34)),
        "Answer To Reset, hex, 2-33 bytes, starting `3B` or `3F`",
        rules=(atr_start,),
        only_if="chip",
        otherwise=b"",
    ),
    FieldSpec(
        "protocol",
        OneOf("T=0 or T=1", ("T=0", "T=1"), protocol_spelling),
        "`T=0`: the card answers case-4 commands with `61xx` (data via GET RESPONSE) and a "
        "wrong Le with `6Cxx`; `T=1`: data directly",
        default="T=1",
        only_if="chip",
    ),
    FieldSpec(
        "pan",
        Digits(PAN_EXPECTED, range(12, 20)),
        "12-19 digits, Luhn-checked (tag 5A)",
        rules=(luhn,),
    ),
    FieldSpec(
        "psn",
        Digits("a 2-digit PAN sequence number", range(2, 3)),
        "PAN sequence number, 2 digits (5F34)",
        default="00",
    ),
    FieldSpec(
        "expiry",
        Digits("a date as YYMM (quoted)", range(4, 5)),
        "YYMM; 5F24 is the last day of that month",
        rules=(month,),
    ),
    FieldSpec(
        "effective",
        Digits("a date as YYMMDD (quoted)", range(6, 7)),
        "YYMMDD (5F25)",
        default="000101",
        rules=(date,),
    ),
    FieldSpec(
        "cardholder_name",
        Ascii("2-26 ASCII characters (EMV 5F20)", range(2, 27)),
        "2-26 ASCII characters (5F20)",
        default="CARDHOLDER",
    ),
    FieldSpec(
        "service_code",
        Digits("a 3-digit service code", range(3, 4)),
        "3 digits (5F30, and in track 2)",
        default="220",
    ),
    FieldSpec(
        "track2_discretionary",
        Digits("track 2 discretionary digits", range(0, 20)),
        "digits after the service code in track 2 (37 characters in all); starts with the "
        "IBM 3624 offset of the PIN for the gateway's online PIN check",
        default="",
        default_doc="empty",
        rules=(fits_track2,),
    ),
    FieldSpec(
        "pin",
        Digits("an offline PIN of 4-12 digits (quoted)", range(4, 13)),
        "the cardholder's PIN, 4-12 digits: the offline PIN the card verifies, and the PIN "
        "whose IBM 3624 offset starts `track2_discretionary` (online PIN)",
    ),
    FieldSpec(
        "pin_try_limit",
        Integer("a PIN try limit of 1-15", range(1, 16)),
        "1-15",
        default=3,
        only_if="chip",
    ),
    FieldSpec(
        "pin_tries_left",
        Integer("0..pin_try_limit", range(0, 16)),
        "the counter at issue; `0` makes a PIN-blocked card",
        default_from="pin_try_limit",
        default_doc="the limit",
        rules=(within_try_limit,),
        only_if="chip",
    ),
    FieldSpec(
        "issuer_country",
        Digits('an ISO 3166 numeric code as 4 digits, e.g. "0156"', range(4, 5)),
        'ISO 3166 numeric, 4 digits, e.g. `"0156"` (5F28)',
    ),
    FieldSpec(
        "issuer_currency",
        Digits('an ISO 4217 numeric code as 4 digits, e.g. "0156"', range(4, 5)),
        'ISO 4217 numeric, 4 digits, e.g. `"0156"` (9F42)',
    ),
    FieldSpec(
        "currency_exponent",
        Integer("a currency exponent 0-9", range(0, 10)),
        "9F44",
        default=2,
    ),
    FieldSpec(
        "language",
        Ascii("1-4 ISO 639 two-letter codes, e.g. zhen", (2, 4, 6, 8), alpha=True),
        "5F2D, ISO 639 two-letter codes run together",
        default="zhen",
    ),
    FieldSpec(
        "pse",
        Boolean(),
        "answer SELECT `1PAY.SYS.DDF01` with a directory of the applications; `false`: 6A82, "
        "the terminal selects from its AID list",
        default=True,
        only_if="chip",
        otherwise=False,
    ),
    FieldSpec(
        "atc",
        Integer("a starting ATC 0-65534", range(0, 0xFFFF)),
        "the ATC at issue",
        default=0,
        only_if="chip",
    ),
    FieldSpec(
        "blocked",
        Boolean(),
        "the whole card is blocked: every SELECT answers 6A81",
        default=False,
        only_if="chip",
    ),
    FieldSpec(
        "applications",
        ListOf("applications", Section(APPLICATION_FIELDS)),
        "a non-empty list, below",
        only_if="chip",
        otherwise=(),
    ),
)

# Fields that describe the chip: a card image with ``chip: false`` may not have them.
CHIP_FIELDS = tuple(spec.name for spec in CARD_FIELDS if spec.only_if == "chip")
CARD = Section(CARD_FIELDS, what="card")


# -- reading -------------------------------------------------------------


def parse(text: str, path: Path) -> CardImage:
    """The card image in ``text`` (read from ``path``, which names it in errors)."""
    document = yaml_lines.loads(text, path, loader=TextLineLoader, error=FixtureError)
    if document is None:
        raise FixtureError(path, "the card image is empty")
    card = CARD.read(Node(document, yaml_lines.line_of(document) or 1), "", FieldReader(path))
    image = CardImage(**model_values(CardImage, card), applications=(), source=path)
    applications: list[Application] = []
    apps: tuple[Fields, ...] = card["applications"]
    for app in apps:
        personalised = personalise_application(image, app)
        if any(earlier.aid == personalised.aid for earlier in applications):
            app.fail("aid", "repeats an earlier AID")
        applications.append(personalised)
    return attrs.evolve(image, applications=tuple(applications))


# -- the reference in docs/cards.md --------------------------------------------------------

DOC_PATH = Path(__file__).resolve().parent.parent.parent / "docs" / "cards.md"
REGENERATE = ".venv/bin/python -m simulator.devices.card_image_yaml"


def _derived_tags() -> str:
    tags = ", ".join(f"`{tag}`" for tag in DERIVED_TAGS)
    return (
        f"Tags whose values come from the fields above (a record may list them without "
        f"`data`): {tags}."
    )


# The generated parts of the page: (name in its markers, what goes between them).
BLOCKS: tuple[tuple[str, Callable[[], str]], ...] = (
    ("CARD FIELDS", lambda: reference_table(CARD_FIELDS)),
    ("APPLICATION FIELDS", lambda: reference_table(APPLICATION_FIELDS)),
    ("RECORD FIELDS", lambda: reference_table(RECORD_FIELDS)),
    ("DERIVED TAGS", _derived_tags),
)


def updated_page(page: str) -> str:
    """``page`` with its generated parts replaced by the current ones."""
    for name, render in BLOCKS:
        begin = f"<!-- BEGIN {name}: generated from simulator/devices/card_image_yaml.py -->"
        start, stop = page.index(begin) + len(begin), page.index(f"<!-- END {name} -->")
        page = page[:start] + "\n\n" + render() + "\n\n" + page[stop:]
    return page


def main() -> int:
    page = DOC_PATH.read_text(encoding="utf-8")
    DOC_PATH.write_text(updated_page(page), encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())


__all__ = ["APPLICATION_FIELDS", "CARD_FIELDS", "CHIP_FIELDS", "RECORD_FIELDS", "parse"]
