"""Printer profiles: what a receipt printer model can do (data, not code).

A profile says how wide the paper is, how many dots and characters fit on a
line, which python-escpos capability profile drives it, whether it renders QR
codes itself (``GS ( k``) and how it prints Chinese. Profiles live in
``firmware_fixtures/printers/<name>.yaml`` (or any folder on
``POSSIM_FIXTURES``); the field names follow escpos-printer-db, the database
python-escpos ships as its "capabilities"::

    name: generic_58mm
    vendor: Generic
    notes: free text
    media:
      width: {mm: 58, pixels: 384}   # paper width; printable dots per line
      dpi: 203
    fonts:
      0: {name: Font A, columns: 32}  # characters per line, font A (required)
      1: {name: Font B, columns: 42}  # font B (optional: dots / 9)
    features:
      qrCode: true                    # native QR (GS ( k); false: QR sent as an image
    pythonEscpos:
      profile: default                # escpos.capabilities profile name
    cjk:                              # omit for printers without a Chinese font
      encoding: gb18030               # double-byte text encoding in Chinese mode
      fsAmpersand: false              # true: starts in single-byte mode, needs FS &

Every problem in a profile file raises :class:`PrinterProfileError` naming the
file, the line and the field.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.errors import DriverError
from drivers.fixtures import FixtureFileError

CATEGORY = "printers"
SUFFIXES = (".yaml", ".yml")
PAPER_WIDTHS_MM = (58, 80)

# escpos-printer-db feature names a profile may carry; possim uses ``qrCode``
# and accepts the others (as booleans) so entries can be copied from the db.
DB_FEATURES = frozenset(
    {
        "barcodeA",
        "barcodeB",
        "bitImageColumn",
        "bitImageRaster",
        "graphics",
        "highDensity",
        "paperFullCut",
        "paperPartCut",
        "pdf417Code",
        "pulseBel",
        "pulseStandard",
        "qrCode",
        "starCommands",
    }
)


class PrinterProfileError(DriverError, FixtureFileError):
    """A printer profile is missing, unknown or malformed.

    ``path`` is the file (or the name that was looked up), ``field`` the dotted
    YAML field at fault (``None`` when the whole file is), ``line`` its line
    when known, ``problem`` what was expected.
    """

    def __init__(
        self,
        path: Path | str,
        problem: str,
        *,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        FixtureFileError.__init__(
            self, path, f"field {field}: {problem}" if field else problem, line
        )
        self.field = field
        self.problem = problem


class _FieldError(ValueError):
    """A constructor argument is invalid; ``attribute`` names it."""

    def __init__(self, attribute: str, problem: str) -> None:
        self.attribute = attribute
        self.problem = problem
        super().__init__(f"{attribute}: {problem}")


def _escpos_profile_names() -> frozenset[str]:
    from escpos.capabilities import CAPABILITIES

    return frozenset(CAPABILITIES["profiles"])


def _check_paper_width(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if value not in PAPER_WIDTHS_MM:
        raise _FieldError(attribute.name, f"expected 58 or 80 (mm), got {value!r}")


def _check_positive(_: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _FieldError(attribute.name, f"expected a positive integer, got {value!r}")


def _check_escpos_profile(_: Any, attribute: attrs.Attribute[str], value: str) -> None:
    known = _escpos_profile_names()
    if value not in known:
        raise _FieldError(
            attribute.name,
            f"expected a python-escpos capability profile name (e.g. 'default', "
            f"'TM-T20II'), got {value!r}",
        )


def _check_encoding(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is None:
        return
    try:
        codecs.lookup(value)
    except LookupError:
        raise _FieldError(
            attribute.name, f"expected a Python codec name (e.g. 'gb18030'), got {value!r}"
        ) from None


@attrs.frozen
class PrinterProfile:
    """One printer model's geometry and capabilities."""

    name: str
    paper_width_mm: int = attrs.field(validator=_check_paper_width)
    dots_per_line: int = attrs.field(validator=_check_positive)
    chars_per_line: int = attrs.field(validator=_check_positive)  # font A
    chars_per_line_font_b: int = attrs.field(validator=_check_positive)
    dpi: int = attrs.field(default=203, validator=_check_positive)
    escpos_profile: str = attrs.field(default="default", validator=_check_escpos_profile)
    native_qr: bool = True
    cjk_encoding: str | None = attrs.field(default="gb18030", validator=_check_encoding)
    cjk_needs_fs_ampersand: bool = False
    vendor: str = "Generic"
    notes: str = ""
    source: Path | None = attrs.field(default=None, eq=False)

    @chars_per_line_font_b.default
    def _font_b_columns(self) -> int:
        return max(1, self.dots_per_line // 9)  # font B cells are 9 dots wide

    def __attrs_post_init__(self) -> None:
        if self.dots_per_line % 8:
            raise _FieldError(
                "dots_per_line", f"expected a multiple of 8, got {self.dots_per_line}"
            )
        paper_dots = int(self.paper_width_mm / 25.4 * self.dpi)
        if self.dots_per_line > paper_dots:
            raise _FieldError(
                "dots_per_line",
                f"{self.dots_per_line} dots do not fit on {self.paper_width_mm} mm paper "
                f"at {self.dpi} dpi (at most {paper_dots})",
            )
        for attribute in ("chars_per_line", "chars_per_line_font_b"):
            columns = getattr(self, attribute)
            if self.dots_per_line // columns < 8:
                raise _FieldError(
                    attribute,
                    f"{columns} characters of at least 8 dots do not fit in "
                    f"{self.dots_per_line} dots",
                )

    # -- geometry -----------------------------------------------------------

    @property
    def dots_per_char(self) -> int:
        """Width of one font A character cell in dots (12 at 203 dpi)."""
        return self.dots_per_line // self.chars_per_line

    @property
    def dots_per_char_font_b(self) -> int:
        return self.dots_per_line // self.chars_per_line_font_b

    @property
    def supports_cjk(self) -> bool:
        return self.cjk_encoding is not None

    # -- loading --------------------------------------------------------------

    @classmethod
    def load(cls, name_or_path: str | Path) -> PrinterProfile:
        """The profile named ``name_or_path`` (``generic_58mm``) or in that file."""
        path = fixtures.locate(
            CATEGORY, name_or_path, SUFFIXES, "printer profile", PrinterProfileError
        )
        data = fixtures.load(path, error=PrinterProfileError)
        return cls.from_mapping(data, source=path)

    @classmethod
    def from_mapping(cls, data: Any, *, source: Path | str = "<profile>") -> PrinterProfile:
        """Build a profile from parsed YAML (see the module docstring).

        Errors carry lines when ``data`` was read by :mod:`drivers.fixtures`.
        """
        reader = _Reader(Path(source), data)
        root = reader.mapping(data, None)
        reader.only_keys(
            root,
            None,
            {"name", "vendor", "notes", "media", "fonts", "features", "pythonEscpos", "cjk"},
        )
        media = reader.mapping(reader.required(root, None, "media"), "media")
        reader.only_keys(media, "media", {"width", "dpi"})
        width = reader.mapping(reader.required(media, "media", "width"), "media.width")
        reader.only_keys(width, "media.width", {"mm", "pixels"})
        fonts = reader.mapping(reader.required(root, None, "fonts"), "fonts")
        fonts = {str(key): value for key, value in fonts.items()}
        reader.only_keys(fonts, "fonts", {"0", "1"})
        font_a = reader.mapping(reader.required(fonts, "fonts", "0"), "fonts.0")
        reader.only_keys(font_a, "fonts.0", {"name", "columns"})
        features = reader.mapping(root.get("features", {}), "features")
        reader.only_keys(features, "features", DB_FEATURES)
        for feature, value in features.items():
            reader.boolean(value, f"features.{feature}")
        python_escpos = reader.mapping(root.get("pythonEscpos", {}), "pythonEscpos")
        reader.only_keys(python_escpos, "pythonEscpos", {"profile"})
        kwargs: dict[str, Any] = {
            "name": reader.string(root.get("name", reader.path.stem), "name"),
            "vendor": reader.string(root.get("vendor", "Generic"), "vendor"),
            "notes": reader.string(root.get("notes", ""), "notes").strip(),
            "paper_width_mm": reader.integer(
                reader.required(width, "media.width", "mm"), "media.width.mm"
            ),
            "dots_per_line": reader.integer(
                reader.required(width, "media.width", "pixels"), "media.width.pixels"
            ),
            "dpi": reader.integer(media.get("dpi", 203), "media.dpi"),
            "chars_per_line": reader.integer(
                reader.required(font_a, "fonts.0", "columns"), "fonts.0.columns"
            ),
            "native_qr": reader.boolean(features.get("qrCode", True), "features.qrCode"),
            "escpos_profile": reader.string(
                python_escpos.get("profile", "default"), "pythonEscpos.profile"
            ),
            "source": reader.path,
        }
        if "1" in fonts:
            font_b = reader.mapping(fonts["1"], "fonts.1")
            reader.only_keys(font_b, "fonts.1", {"name", "columns"})
            kwargs["chars_per_line_font_b"] = reader.integer(
                reader.required(font_b, "fonts.1", "columns"), "fonts.1.columns"
            )
        cjk = root.get("cjk")
        if cjk is None:
            kwargs["cjk_encoding"] = None
        else:
            cjk = reader.mapping(cjk, "cjk")
            reader.only_keys(cjk, "cjk", {"encoding", "fsAmpersand"})
            kwargs["cjk_encoding"] = reader.string(
                reader.required(cjk, "cjk", "encoding"), "cjk.encoding"
            )
            kwargs["cjk_needs_fs_ampersand"] = reader.boolean(
                cjk.get("fsAmpersand", False), "cjk.fsAmpersand"
            )
        try:
            return cls(**kwargs)
        except _FieldError as exc:
            raise reader.fail(_YAML_FIELDS.get(exc.attribute, exc.attribute), exc.problem) from None


# Where each attribute comes from in the YAML, for error messages.
_YAML_FIELDS = {
    "paper_width_mm": "media.width.mm",
    "dots_per_line": "media.width.pixels",
    "chars_per_line": "fonts.0.columns",
    "chars_per_line_font_b": "fonts.1.columns",
    "dpi": "media.dpi",
    "escpos_profile": "pythonEscpos.profile",
    "native_qr": "features.qrCode",
    "cjk_encoding": "cjk.encoding",
    "cjk_needs_fs_ampersand": "cjk.fsAmpersand",
}


def available() -> list[str]:
    """Names of the printer profiles on the fixture search path."""
    return fixtures.names(CATEGORY, SUFFIXES)


@attrs.frozen
class _Reader:
    """Typed access to parsed YAML that names the file and field on error."""

    path: Path
    document: Any = None  # the whole parsed file, for the lines of fields

    def fail(self, field: str | None, problem: str) -> PrinterProfileError:
        line = fixtures.line_at(self.document, *field.split(".")) if field else None
        return PrinterProfileError(self.path, problem, field=field, line=line)

    def mapping(self, value: Any, field: str | None) -> dict[Any, Any]:
        if not isinstance(value, Mapping):
            what = "the file" if field is None else "a mapping"
            raise self.fail(field, f"expected {what} to hold a mapping, got {_kind(value)}")
        return dict(value)

    def required(self, mapping: Mapping[Any, Any], parent: str | None, key: str) -> Any:
        if key not in mapping:
            field = f"{parent}.{key}" if parent else key
            raise self.fail(field, "missing (required)")
        return mapping[key]

    def only_keys(self, mapping: Mapping[Any, Any], parent: str | None, allowed: Any) -> None:
        for key in mapping:
            if str(key) not in allowed:
                field = f"{parent}.{key}" if parent else str(key)
                raise self.fail(
                    field, f"unknown field; expected one of {', '.join(sorted(allowed))}"
                )

    def integer(self, value: Any, field: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(field, f"expected an integer, got {_kind(value)}")
        return value

    def boolean(self, value: Any, field: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(field, f"expected true or false, got {_kind(value)}")
        return value

    def string(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise self.fail(field, f"expected a string, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"
