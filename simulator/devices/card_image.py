"""Card images: what a virtual EMV card holds, read from YAML.

A card image is data, not code (``firmware_fixtures/cards/*.yaml``; the format
is described in ``docs/cards.md``). Loading it *personalises* the card: the
records are encoded from the image's fields, the AFL is laid out from the
records, and each application's ICC master key for AC is derived from the
issuer master key with EMV Option A -- exactly what the gateway simulator's
issuer does to check the card's cryptograms.

All scalars are read as the text written in the file (no YAML 1.1 surprises:
``0156`` stays ``"0156"``, not octal 110: the shared loader's
:class:`~drivers.fixtures.TextLineLoader`), then checked field by
field. A malformed image raises :class:`FixtureError` with the file, the field
and the line.

``chip: false`` makes a card without a (working) chip: it has no ATR and no
applications, and may not have the chip's fields (:data:`CHIP_FIELDS`). With a
``1xx`` service code it is a magnetic-stripe-only card; with ``2xx`` it is a
chip card whose chip is dead, which terminals should read by fallback swipe.
"""

from __future__ import annotations

import calendar
import re
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple, NoReturn, TypeVar

import attrs

from drivers import fixtures
from drivers.errors import EmvDataError
from drivers.fixtures import LineDict, LineList, TextLineLoader
from drivers.wire import ber_tlv as tlv
from drivers.wire.emv_tags import TAG_NAMES
from drivers.wire.masking import mask_pan
from simulator.errors import FixtureError
from simulator.wire import cryptogram

CATEGORY = "cards"
SUFFIXES = (".yaml", ".yml")
PSE_SFI = 1

_HEX_RE = re.compile(r"^[0-9A-Fa-f]*$")
_TAG_RE = re.compile(r"^[0-9A-F]{2}([0-9A-F]{2}){0,2}$")
_T = TypeVar("_T")

# Tags a record may list without a ``data`` entry: their values come from the
# image's fields (see CardImage.derived_value).
DERIVED_TAGS = (
    "57", "5A", "5F20", "5F24", "5F25", "5F28", "5F30", "5F34", "8C", "8D", "8E",
    "9F07", "9F08", "9F0D", "9F0E", "9F0F", "9F42", "9F44",
)  # fmt: skip

_CARD_FIELDS = {
    "name", "brand", "description", "chip", "atr", "protocol", "pan", "psn", "expiry", "effective",
    "cardholder_name", "service_code", "track2_discretionary", "pin", "pin_try_limit",
    "pin_tries_left", "issuer_country", "issuer_currency", "currency_exponent", "language",
    "pse", "atc", "blocked", "applications",
}  # fmt: skip
_APP_FIELDS = {
    "aid", "label", "preferred_name", "priority", "aip", "afl", "pdol", "cdol1", "cdol2",
    "cvm_list", "iad", "cryptogram", "issuer_master_key_ac", "app_version", "usage_control",
    "iac_default", "iac_denial", "iac_online", "records", "data", "gpo_response", "blocked",
    "require_issuer_authentication",
}  # fmt: skip
_RECORD_FIELDS = {"sfi", "record", "tags", "oda"}
# Fields that describe the chip: a card image with ``chip: false`` may not have them.
CHIP_FIELDS = (
    "atr", "protocol", "pse", "atc", "blocked", "pin_try_limit", "pin_tries_left", "applications",
)  # fmt: skip


@attrs.frozen
class RecordLayout:
    """One record of an application file: where it lives and which tags it holds."""

    sfi: int
    number: int
    tags: tuple[str, ...]
    oda: bool = False


@attrs.frozen
class Application:
    """One EMV application on the card, personalised."""

    aid: bytes
    label: str
    preferred_name: str | None
    priority: int  # Application Priority Indicator (87), 0 = none
    aip: bytes
    afl: bytes
    pdol: bytes
    cdol1: bytes
    cdol2: bytes
    cvm_list: bytes
    iad: bytes  # template; the card writes its CVR into bytes 3..6
    cryptogram_method: str
    icc_master_key: bytes = attrs.field(repr=False)  # ICC MK for AC (personalised)
    records: Mapping[tuple[int, int], bytes] = attrs.field(repr=False)  # (sfi, n) -> 70 template
    layout: tuple[RecordLayout, ...] = ()
    gpo_response: bytes | None = None  # raw GPO answer overriding the computed one
    blocked: bool = False
    require_issuer_authentication: bool = True

    @property
    def aid_hex(self) -> str:
        return self.aid.hex().upper()

    @property
    def method(self) -> cryptogram.CryptogramMethod:
        return cryptogram.method(self.cryptogram_method)


@attrs.frozen
class CardImage:
    name: str
    brand: str
    description: str
    atr: bytes
    protocol: str  # "T=0" (61xx / 6Cxx answers) or "T=1"
    pan: str = attrs.field(repr=False)
    psn: str
    expiry: str  # YYMM
    effective: str  # YYMMDD
    cardholder_name: str = attrs.field(repr=False)
    service_code: str
    track2_discretionary: str = attrs.field(repr=False)
    pin: str = attrs.field(repr=False)
    pin_try_limit: int
    pin_tries_left: int
    issuer_country: str  # ISO 3166 numeric, 4 digits ("0156")
    issuer_currency: str  # ISO 4217 numeric, 4 digits ("0156")
    currency_exponent: int
    language: str
    pse: bool
    atc: int
    blocked: bool
    applications: tuple[Application, ...]  # empty for a card without a chip
    # False: a magnetic-stripe-only card (or one whose chip is dead): no ATR, no
    # answer to any APDU; it can only be swiped (``track2``).
    chip: bool = True
    source: Path | None = None

    # -- loading ----------------------------------------------------------------

    @classmethod
    def load(cls, name_or_path: str | Path) -> CardImage:
        """The image named ``name_or_path`` (``unionpay_debit``) or at that path."""
        path = fixtures.locate(CATEGORY, name_or_path, SUFFIXES, "card image", FixtureError)
        text = fixtures.read_text(path, error=FixtureError)
        try:
            stat = path.stat()
        except OSError as exc:
            raise FixtureError(path, f"cannot read: {exc.strerror or exc}") from None
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
        with _cache_lock:
            cached = _cache.get(key)
        if cached is not None:
            return cached
        image = cls.parse(text, path)
        with _cache_lock:
            _cache[key] = image
        return image

    @classmethod
    def parse(cls, text: str, path: Path | str = "<card image>") -> CardImage:
        """A card image from YAML text (``path`` only names it in errors)."""
        return _Parser(Path(path)).card(text)

    @staticmethod
    def names() -> list[str]:
        return fixtures.names(CATEGORY, SUFFIXES)

    # -- derived data -------------------------------------------------------------

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.pan)

    @property
    def expiry_date(self) -> str:
        """5F24 as YYMMDD: the last day of the expiry month."""
        year, month = 2000 + int(self.expiry[:2]), int(self.expiry[2:])
        return f"{self.expiry}{calendar.monthrange(year, month)[1]:02d}"

    @property
    def track2(self) -> str:
        """Track 2 as text (ISO 7813 ``=`` separator), e.g. for ISO 8583 DE35."""
        return f"{self.pan}={self.expiry}{self.service_code}{self.track2_discretionary}"

    def track2_equivalent(self) -> bytes:
        """Tag 57: PAN ``D`` YYMM service code discretionary data, F-padded."""
        digits = self.track2.replace("=", "D")
        if len(digits) % 2:
            digits += "F"
        return bytes.fromhex(digits)

    def derived_value(self, tag: str, app: Application) -> bytes | None:
        """The value of ``tag`` computed from the image's fields, if it is one."""
        derive = _DERIVATIONS.get(tag)
        return None if derive is None else derive(self, app)

    def application(self, aid: str | bytes) -> Application:
        wanted = aid if isinstance(aid, bytes) else bytes.fromhex(aid)
        for app in self.applications:
            if app.aid == wanted:
                return app
        raise KeyError(f"card image {self.name!r} has no application {wanted.hex().upper()}")


def _pan_bcd(image: CardImage, app: Application) -> bytes:
    digits = image.pan + ("F" if len(image.pan) % 2 else "")
    return bytes.fromhex(digits)


_DERIVATIONS: dict[str, Callable[[CardImage, Application], bytes]] = {
    "57": lambda image, app: image.track2_equivalent(),
    "5A": _pan_bcd,
    "5F20": lambda image, app: image.cardholder_name.encode("ascii"),
    "5F24": lambda image, app: bytes.fromhex(image.expiry_date),
    "5F25": lambda image, app: bytes.fromhex(image.effective),
    "5F28": lambda image, app: bytes.fromhex(image.issuer_country),
    "5F30": lambda image, app: bytes.fromhex("0" + image.service_code),
    "5F34": lambda image, app: bytes.fromhex(image.psn),
    "8C": lambda image, app: app.cdol1,
    "8D": lambda image, app: app.cdol2,
    "8E": lambda image, app: app.cvm_list,
    "9F42": lambda image, app: bytes.fromhex(image.issuer_currency),
    "9F44": lambda image, app: bytes([image.currency_exponent]),
}

_cache: dict[tuple[str, int, int], CardImage] = {}
_cache_lock = threading.Lock()


def luhn_valid(number: str) -> bool:
    if not number.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


# -- the parser ---------------------------------------------------------------------


class _Node(NamedTuple):
    """A value read from the card image and the line it starts on."""

    value: Any  # str, LineDict or LineList (TextLineLoader reads scalars as text)
    line: int | None


def _child(mapping: LineDict, key: str) -> _Node:
    """``mapping[key]``, at its own line if it is a mapping or a list, else at the key's."""
    value = mapping[key]
    return _Node(value, fixtures.line_of(value) or mapping.line_of(key))


def _items(node: _Node) -> list[_Node]:
    """The items of a list node, each at its line."""
    return [_Node(item, node.value.line_of(index)) for index, item in enumerate(node.value)]


class _Mapping:
    """A mapping from the card image with its path, for field-by-field checking."""

    def __init__(self, parser: _Parser, node: _Node, where: str, known: set[str]) -> None:
        if not isinstance(node.value, LineDict):
            parser.fail(node, where, "expected a mapping (field: value lines)")
        self.parser = parser
        self.node = node
        self.where = where
        mapping: LineDict = node.value
        for key in mapping:
            if key not in known:
                expected = ", ".join(sorted(known))
                parser.fail(
                    _Node(key, mapping.line_of(key)),
                    self.path(key),
                    f"unknown field; expected one of {expected}",
                )
        self.items = {key: _child(mapping, key) for key in mapping}

    def path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def has(self, key: str) -> bool:
        return key in self.items

    def node_of(self, key: str) -> _Node | None:
        return self.items.get(key)

    def get(
        self,
        key: str,
        convert: Callable[[_Parser, _Node, str], _T],
        default: _T | None = None,
        *,
        required: bool = True,
        expected: str = "a value",
    ) -> _T:
        node = self.node_of(key)
        if node is None:
            if not required:
                return default  # type: ignore[return-value]
            self.parser.fail(self.node, self.path(key), f"missing; expected {expected}")
        return convert(self.parser, node, self.path(key))


class _Parser:
    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, node: _Node, where: str, problem: str) -> NoReturn:
        raise FixtureError(self.path, f"{where}: {problem}", node.line)

    # -- scalars ------------------------------------------------------------------

    def text(self, node: _Node, where: str, expected: str = "text") -> str:
        if isinstance(node.value, (LineDict, LineList)):
            self.fail(node, where, f"expected {expected}, got a {_kind(node)}")
        return str(node.value)

    def hex(
        self,
        node: _Node,
        where: str,
        *,
        lengths: range | tuple[int, ...] | None = None,
        what: str = "hex",
    ) -> bytes:
        raw = self.text(node, where, what)
        compact = "".join(raw.split())
        if len(compact) % 2 or not _HEX_RE.match(compact):
            self.fail(node, where, f"expected {what} (pairs of hex digits), got {raw!r}")
        value = bytes.fromhex(compact)
        if lengths is not None and len(value) not in lengths:
            self.fail(node, where, f"expected {what}, got {len(value)} bytes ({raw!r})")
        return value

    def digits(self, node: _Node, where: str, counts: range, what: str) -> str:
        raw = self.text(node, where, what).strip()
        if not (raw.isascii() and raw.isdigit() and len(raw) in counts):
            self.fail(node, where, f"expected {what}, got {raw!r}")
        return raw

    def integer(self, node: _Node, where: str, bounds: range, what: str) -> int:
        raw = self.text(node, where, what).strip()
        try:
            value = int(raw, 0) if raw.lower().startswith("0x") else int(raw, 10)
        except ValueError:
            self.fail(node, where, f"expected {what}, got {raw!r}")
        if value not in bounds:
            self.fail(node, where, f"expected {what}, got {value}")
        return value

    def boolean(self, node: _Node, where: str) -> bool:
        raw = self.text(node, where, "true or false").strip().lower()
        if raw in ("true", "yes", "on"):
            return True
        if raw in ("false", "no", "off"):
            return False
        self.fail(node, where, f"expected true or false, got {raw!r}")

    def dol(self, node: _Node, where: str, what: str) -> bytes:
        value = self.hex(node, where, what=what)
        try:
            tlv.parse_dol(value)
        except EmvDataError as exc:
            self.fail(node, where, f"expected {what}: {exc}")
        return value

    # -- the document -------------------------------------------------------------

    def card(self, text: str) -> CardImage:
        document = fixtures.loads(text, self.path, loader=TextLineLoader, error=FixtureError)
        if document is None:
            raise FixtureError(self.path, "the card image is empty")
        root = _Node(document, fixtures.line_of(document) or 1)
        doc = _Mapping(self, root, "", _CARD_FIELDS)
        p = self

        def s(key: str, expected: str = "text", default: str | None = None) -> str:
            def convert(parser: _Parser, node: _Node, where: str) -> str:
                return parser.text(node, where, expected).strip()

            return doc.get(key, convert, default, required=default is None, expected=expected)

        name = s("name", "the card's name")
        brand = s("brand", "the card brand, e.g. UnionPay")
        description = s("description", default="")
        chip = doc.get("chip", lambda q, n, w: q.boolean(n, w), True, required=False)
        if not chip:
            for key in CHIP_FIELDS:
                if doc.has(key):
                    p.fail(
                        _Node(key, doc.node.value.line_of(key)),
                        key,
                        f"a card with chip: false has no chip, so no {key}; "
                        "remove the field or set chip: true",
                    )
            atr = b""
        else:
            atr = doc.get(
                "atr",
                lambda q, n, w: q.hex(
                    n, w, lengths=range(2, 34), what="an ATR of 2-33 bytes of hex"
                ),
                expected="an ATR of 2-33 bytes of hex",
            )
            if atr[0] not in (0x3B, 0x3F):
                p.fail(doc.node_of("atr") or root, "atr", "expected an ATR starting 3B or 3F")
        protocol = s("protocol", "T=0 or T=1", default="T=1").upper().replace(" ", "")
        if protocol not in ("T=0", "T=1"):
            p.fail(doc.node_of("protocol") or root, "protocol", "expected T=0 or T=1")

        pan_expected = "a PAN of 12-19 digits (quoted) with a valid Luhn check digit"
        pan = doc.get(
            "pan",
            lambda q, n, w: q.digits(n, w, range(12, 20), pan_expected),
            expected=pan_expected,
        )
        if not luhn_valid(pan):
            p.fail(doc.node_of("pan") or root, "pan", f"expected {pan_expected}; Luhn check fails")
        psn = doc.get(
            "psn",
            lambda q, n, w: q.digits(n, w, range(2, 3), "a 2-digit PAN sequence number"),
            "00",
            required=False,
        )
        expiry = doc.get(
            "expiry", lambda q, n, w: _yymm(q, n, w), expected="the expiry date as YYMM"
        )
        effective = doc.get("effective", lambda q, n, w: _yymmdd(q, n, w), "000101", required=False)
        cardholder_name = s("cardholder_name", default="CARDHOLDER")
        if not (cardholder_name.isascii() and 2 <= len(cardholder_name) <= 26):
            p.fail(
                doc.node_of("cardholder_name") or root,
                "cardholder_name",
                "expected 2-26 ASCII characters (EMV 5F20)",
            )
        service_code = doc.get(
            "service_code",
            lambda q, n, w: q.digits(n, w, range(3, 4), "a 3-digit service code"),
            "220",
            required=False,
        )
        discretionary = doc.get(
            "track2_discretionary",
            lambda q, n, w: q.digits(n, w, range(0, 20), "track 2 discretionary digits"),
            "",
            required=False,
        )
        if len(pan) + 8 + len(discretionary) > 37:
            p.fail(
                doc.node_of("track2_discretionary") or root,
                "track2_discretionary",
                f"expected at most {37 - len(pan) - 8} digits (track 2 holds 37 characters)",
            )
        pin = doc.get(
            "pin",
            lambda q, n, w: q.digits(n, w, range(4, 13), "an offline PIN of 4-12 digits (quoted)"),
            expected="an offline PIN of 4-12 digits (quoted)",
        )
        pin_try_limit = doc.get(
            "pin_try_limit",
            lambda q, n, w: q.integer(n, w, range(1, 16), "a PIN try limit of 1-15"),
            3,
            required=False,
        )
        pin_tries_left = doc.get(
            "pin_tries_left",
            lambda q, n, w: q.integer(n, w, range(0, pin_try_limit + 1), "0..pin_try_limit"),
            pin_try_limit,
            required=False,
        )
        issuer_country = doc.get(
            "issuer_country",
            lambda q, n, w: q.digits(n, w, range(4, 5), "an ISO 3166 numeric code as 4 digits"),
            expected='an ISO 3166 numeric code as 4 digits, e.g. "0156"',
        )
        issuer_currency = doc.get(
            "issuer_currency",
            lambda q, n, w: q.digits(n, w, range(4, 5), "an ISO 4217 numeric code as 4 digits"),
            expected='an ISO 4217 numeric code as 4 digits, e.g. "0156"',
        )
        currency_exponent = doc.get(
            "currency_exponent",
            lambda q, n, w: q.integer(n, w, range(0, 10), "a currency exponent 0-9"),
            2,
            required=False,
        )
        language = s("language", default="zhen")
        if not (language.isascii() and language.isalpha() and len(language) in (2, 4, 6, 8)):
            p.fail(
                doc.node_of("language") or root,
                "language",
                "expected 1-4 ISO 639 two-letter codes, e.g. zhen",
            )
        pse = doc.get("pse", lambda q, n, w: q.boolean(n, w), True, required=False)
        atc = doc.get(
            "atc",
            lambda q, n, w: q.integer(n, w, range(0, 0xFFFF), "a starting ATC 0-65534"),
            0,
            required=False,
        )
        blocked = doc.get("blocked", lambda q, n, w: q.boolean(n, w), False, required=False)

        image = CardImage(
            name=name,
            brand=brand,
            description=description,
            atr=atr,
            protocol=protocol,
            pan=pan,
            psn=psn,
            expiry=expiry,
            effective=effective,
            cardholder_name=cardholder_name,
            service_code=service_code,
            track2_discretionary=discretionary,
            pin=pin,
            pin_try_limit=pin_try_limit,
            pin_tries_left=pin_tries_left,
            issuer_country=issuer_country,
            issuer_currency=issuer_currency,
            currency_exponent=currency_exponent,
            language=language,
            pse=pse and chip,
            atc=atc,
            blocked=blocked,
            applications=(),
            chip=chip,
            source=self.path,
        )
        if not chip:
            return image
        apps_node = doc.node_of("applications")
        if apps_node is None:
            p.fail(root, "applications", "missing; expected a list of applications")
        if not isinstance(apps_node.value, LineList) or not apps_node.value:
            p.fail(apps_node, "applications", "expected a non-empty list of applications")
        applications: list[Application] = []
        for index, app_node in enumerate(_items(apps_node)):
            app = self.application(image, app_node, f"applications[{index}]")
            for earlier in applications:
                if earlier.aid == app.aid:
                    p.fail(app_node, f"applications[{index}].aid", "repeats an earlier AID")
            applications.append(app)
        return attrs.evolve(image, applications=tuple(applications))

    def application(self, image: CardImage, node: _Node, where: str) -> Application:
        m = _Mapping(self, node, where, _APP_FIELDS)

        def hexfield(
            key: str, what: str, lengths: range | tuple[int, ...] | None = None
        ) -> Callable[[_Parser, _Node, str], bytes]:
            return lambda q, n, w: q.hex(n, w, lengths=lengths, what=what)

        aid = m.get(
            "aid",
            hexfield("aid", "an AID of 5-16 bytes of hex", range(5, 17)),
            expected="an AID of 5-16 bytes of hex",
        )
        label = m.get(
            "label", lambda q, n, w: q.text(n, w).strip(), expected="an application label"
        )
        if not (label.isascii() and 1 <= len(label) <= 16):
            self.fail(m.node_of("label") or node, m.path("label"), "expected 1-16 ASCII characters")
        preferred_name = m.get(
            "preferred_name", lambda q, n, w: q.text(n, w).strip(), None, required=False
        )
        if preferred_name is not None and not (
            preferred_name.isascii() and 1 <= len(preferred_name) <= 16
        ):
            self.fail(
                m.node_of("preferred_name") or node,
                m.path("preferred_name"),
                "expected 1-16 ASCII characters (issuer code table 1)",
            )
        priority = m.get(
            "priority",
            lambda q, n, w: q.integer(n, w, range(0, 16), "a priority 0-15 (1 = highest)"),
            0,
            required=False,
        )
        aip = m.get("aip", hexfield("aip", "an AIP of 2 bytes of hex", (2,)), expected="an AIP")
        pdol = m.get("pdol", lambda q, n, w: q.dol(n, w, "a PDOL"), b"", required=False)
        cdol1 = m.get("cdol1", lambda q, n, w: q.dol(n, w, "a CDOL1"), expected="a CDOL1")
        cdol2 = m.get("cdol2", lambda q, n, w: q.dol(n, w, "a CDOL2"), expected="a CDOL2")
        cdol1_tags = {tag for tag, _ in tlv.parse_dol(cdol1)}
        missing = [tag for tag in cryptogram.AC_INPUT_TAGS if tag not in cdol1_tags]
        missing = [tag for tag in missing if tag not in ("82", "9F36")]
        if missing:
            self.fail(
                m.node_of("cdol1") or node,
                m.path("cdol1"),
                f"expected a CDOL1 asking for every terminal cryptogram input; lacks "
                f"{', '.join(missing)}",
            )
        if "8A" not in {tag for tag, _ in tlv.parse_dol(cdol2)}:
            self.fail(
                m.node_of("cdol2") or node,
                m.path("cdol2"),
                "expected a CDOL2 asking for 8A (authorisation response code)",
            )
        cvm_list = m.get("cvm_list", hexfield("cvm_list", "a CVM list"), b"", required=False)
        if cvm_list and (len(cvm_list) < 10 or len(cvm_list) % 2):
            self.fail(
                m.node_of("cvm_list") or node,
                m.path("cvm_list"),
                "expected a CVM list: amount X (4 bytes), amount Y (4 bytes), then 2-byte rules",
            )
        iad = m.get(
            "iad",
            hexfield("iad", "an IAD template of 7-32 bytes of hex", range(7, 33)),
            expected="an IAD template of 7-32 bytes (bytes 3..6 hold the CVR)",
        )

        def method_name(q: _Parser, n: _Node, w: str) -> str:
            value = q.text(n, w).strip()
            if value not in cryptogram.METHODS:
                known = ", ".join(sorted(cryptogram.METHODS))
                q.fail(n, w, f"expected a cryptogram method ({known}), got {value!r}")
            return value

        method = m.get("cryptogram", method_name, expected="a cryptogram method name")
        imk = m.get(
            "issuer_master_key_ac",
            hexfield("issuer_master_key_ac", "a 16- or 24-byte key in hex", (16, 24)),
            expected="the issuer master key for AC, 16 or 24 bytes of hex",
        )
        try:
            icc_mk = cryptogram.derive_icc_master_key(imk, image.pan, image.psn)
        except (ValueError, EmvDataError) as exc:
            self.fail(
                m.node_of("issuer_master_key_ac") or node,
                m.path("issuer_master_key_ac"),
                f"cannot derive the ICC master key: {exc}",
            )
        app_version = m.get(
            "app_version", hexfield("app_version", "2 bytes of hex", (2,)), b"\x00\x30",
            required=False,
        )  # fmt: skip
        usage_control = m.get(
            "usage_control", hexfield("usage_control", "2 bytes of hex", (2,)), b"\xff\x00",
            required=False,
        )  # fmt: skip
        iacs = {
            key: m.get(key, hexfield(key, "5 bytes of hex", (5,)), default, required=False)
            for key, default in (
                ("iac_default", bytes.fromhex("D84000A800")),
                ("iac_denial", bytes.fromhex("0010000000")),
                ("iac_online", bytes.fromhex("D84004F800")),
            )
        }
        gpo_response = m.get("gpo_response", hexfield("gpo_response", "hex"), None, required=False)
        blocked = m.get("blocked", lambda q, n, w: q.boolean(n, w), False, required=False)
        require_ia = m.get(
            "require_issuer_authentication",
            lambda q, n, w: q.boolean(n, w),
            True,
            required=False,
        )

        # -- extra data and records ---------------------------------------------------
        data: dict[str, bytes] = {}
        data_lines: dict[str, _Node] = {}
        data_node = m.node_of("data")
        if data_node is not None:
            if not isinstance(data_node.value, LineDict):
                self.fail(data_node, m.path("data"), "expected a mapping of tag: hex value")
            data_map: LineDict = data_node.value
            for key in data_map:
                key_node, value_node = _Node(key, data_map.line_of(key)), _child(data_map, key)
                tag = self._tag(key_node, m.path("data"))
                if tag in data:
                    self.fail(key_node, f"{m.path('data')}.{tag}", "appears twice")
                data[tag] = self.hex(value_node, f"{m.path('data')}.{tag}", what="a hex value")
                data_lines[tag] = key_node

        partial = Application(
            aid=aid,
            label=label,
            preferred_name=preferred_name,
            priority=priority,
            aip=aip,
            afl=b"",
            pdol=pdol,
            cdol1=cdol1,
            cdol2=cdol2,
            cvm_list=cvm_list,
            iad=iad,
            cryptogram_method=method,
            icc_master_key=icc_mk,
            records={},
            gpo_response=gpo_response,
            blocked=blocked,
            require_issuer_authentication=require_ia,
        )
        fixed = {
            "9F07": usage_control,
            "9F08": app_version,
            "9F0D": iacs["iac_default"],
            "9F0E": iacs["iac_denial"],
            "9F0F": iacs["iac_online"],
        }
        records_node = m.node_of("records")
        if records_node is None:
            self.fail(node, m.path("records"), "missing; expected a list of records")
        if not isinstance(records_node.value, LineList) or not records_node.value:
            self.fail(records_node, m.path("records"), "expected a non-empty list of records")
        layout: list[RecordLayout] = []
        encoded: dict[tuple[int, int], bytes] = {}
        placed: set[str] = set()
        for index, record_node in enumerate(_items(records_node)):
            rwhere = f"{m.path('records')}[{index}]"
            record = self.record(record_node, rwhere)
            if (record.sfi, record.number) in encoded:
                self.fail(record_node, rwhere, "repeats an earlier SFI and record number")
            body = b""
            for tag in record.tags:
                if tag in placed:
                    self.fail(record_node, f"{rwhere}.tags", f"tag {tag} is already in a record")
                placed.add(tag)
                value = data.get(tag)
                if value is None:
                    value = fixed.get(tag) or image.derived_value(tag, partial)
                if value is None:
                    self.fail(
                        record_node,
                        f"{rwhere}.tags",
                        f"tag {tag} has no value: add it under {m.path('data')} "
                        f"(derived tags: {', '.join(DERIVED_TAGS)})",
                    )
                body += tlv.pack(tag, value)
            template = tlv.pack("70", body)
            if len(template) > 256 - 2:
                self.fail(record_node, rwhere, f"the record is {len(template)} bytes; max 254")
            encoded[(record.sfi, record.number)] = template
            layout.append(record)
        for tag, key_node in data_lines.items():
            if tag not in placed:
                self.fail(
                    key_node,
                    f"{m.path('data')}.{tag}",
                    "is not listed in any record's tags; add it to one",
                )
        afl_node = m.node_of("afl")
        if afl_node is not None:
            afl = self.hex(afl_node, m.path("afl"), what="an AFL (4-byte entries)")
            if len(afl) % 4:
                self.fail(afl_node, m.path("afl"), "expected an AFL made of 4-byte entries")
        else:
            afl = self._afl(layout, records_node, m.path("records"))
        return attrs.evolve(partial, afl=afl, records=encoded, layout=tuple(layout))

    def record(self, node: _Node, where: str) -> RecordLayout:
        m = _Mapping(self, node, where, _RECORD_FIELDS)
        sfi = m.get(
            "sfi",
            lambda q, n, w: q.integer(n, w, range(1, 31), "an SFI of 1-30"),
            expected="an SFI of 1-30",
        )
        number = m.get(
            "record",
            lambda q, n, w: q.integer(n, w, range(1, 255), "a record number of 1-254"),
            expected="a record number of 1-254",
        )
        tags_node = m.node_of("tags")
        if tags_node is None:
            self.fail(node, m.path("tags"), "missing; expected a list of tags, e.g. [5A, 5F24]")
        if not isinstance(tags_node.value, LineList) or not tags_node.value:
            self.fail(tags_node, m.path("tags"), "expected a non-empty list of tags")
        tags = tuple(self._tag(tag_node, m.path("tags")) for tag_node in _items(tags_node))
        oda = m.get("oda", lambda q, n, w: q.boolean(n, w), False, required=False)
        return RecordLayout(sfi=sfi, number=number, tags=tags, oda=oda)

    def _tag(self, node: _Node, where: str) -> str:
        raw = self.text(node, where, "an EMV tag in hex").strip().upper()
        if not _TAG_RE.match(raw):
            self.fail(node, where, f"expected an EMV tag in hex (e.g. 5F24), got {raw!r}")
        first = int(raw[:2], 16)
        if (first & 0x1F == 0x1F) != (len(raw) > 2) or first & 0x20:
            self.fail(node, where, f"expected a primitive EMV tag, got {raw!r}")
        if raw not in TAG_NAMES and not (raw.startswith(("9F", "DF", "5F"))):
            self.fail(node, where, f"expected a known EMV tag or a 9Fxx/DFxx/5Fxx tag, got {raw!r}")
        return raw

    def _afl(self, layout: list[RecordLayout], node: _Node, where: str) -> bytes:
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
                self.fail(
                    node,
                    where,
                    f"records with oda: true must come first in their run (SFI {run[0].sfi})",
                )
            afl += bytes([run[0].sfi << 3, run[0].number, run[-1].number, oda_count])
        return afl


def _yymm(parser: _Parser, node: _Node, where: str) -> str:
    value = parser.digits(node, where, range(4, 5), "a date as YYMM (quoted)")
    if not 1 <= int(value[2:]) <= 12:
        parser.fail(node, where, f"expected a date as YYMM, month {value[2:]} is not 01-12")
    return value


def _yymmdd(parser: _Parser, node: _Node, where: str) -> str:
    value = parser.digits(node, where, range(6, 7), "a date as YYMMDD (quoted)")
    year, month, day = 2000 + int(value[:2]), int(value[2:4]), int(value[4:])
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(year, month)[1]:
        parser.fail(node, where, f"expected a date as YYMMDD, {value} is not a date")
    return value


def _kind(node: _Node) -> str:
    if isinstance(node.value, LineDict):
        return "mapping"
    if isinstance(node.value, LineList):
        return "list"
    return "scalar"


__all__ = [
    "CATEGORY",
    "CHIP_FIELDS",
    "DERIVED_TAGS",
    "PSE_SFI",
    "SUFFIXES",
    "Application",
    "CardImage",
    "RecordLayout",
    "luhn_valid",
]
