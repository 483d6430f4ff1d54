"""Printer profiles: the built-in files load, and every malformed file names its field."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import DriverError
from drivers.printer.profile import PrinterProfile, PrinterProfileError, available

VALID = """\
name: test_printer
media:
  width: {mm: 58, pixels: 384}
  dpi: 203
fonts:
  0: {name: Font A, columns: 32}
features:
  qrCode: true
pythonEscpos:
  profile: default
cjk:
  encoding: gb18030
  fsAmpersand: true
"""


def write(tmp_path: Path, text: str, name: str = "broken.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_builtin_58mm_profile() -> None:
    profile = PrinterProfile.load("generic_58mm")
    assert profile.name == "generic_58mm"
    assert profile.paper_width_mm == 58
    assert profile.dots_per_line == 384
    assert profile.chars_per_line == 32
    assert profile.dots_per_char == 12
    assert profile.chars_per_line_font_b == 42
    assert profile.native_qr is True
    assert profile.cjk_encoding == "gb18030"
    assert profile.cjk_needs_fs_ampersand is False
    assert profile.escpos_profile == "default"
    assert profile.source is not None and profile.source.name == "generic_58mm.yaml"


def test_builtin_80mm_profile() -> None:
    profile = PrinterProfile.load("generic_80mm")
    assert (profile.paper_width_mm, profile.dots_per_line, profile.chars_per_line) == (80, 576, 48)
    assert profile.dots_per_char == 12
    assert profile.escpos_profile == "TM-T20II"


def test_available_lists_the_builtins() -> None:
    assert {"generic_58mm", "generic_80mm"} <= set(available())


def test_load_by_path(tmp_path: Path) -> None:
    profile = PrinterProfile.load(str(write(tmp_path, VALID, "mine.yaml")))
    assert profile.name == "test_printer"
    assert profile.cjk_needs_fs_ampersand is True
    assert profile.chars_per_line_font_b == 384 // 9  # derived when fonts.1 is absent


def test_profiles_are_found_on_possim_fixtures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "printers").mkdir()
    write(tmp_path / "printers", VALID.replace("test_printer", "shop_printer"), "shop.yaml")
    monkeypatch.setenv("POSSIM_FIXTURES", str(tmp_path))
    assert PrinterProfile.load("shop").name == "shop_printer"


def test_unknown_name_lists_known_profiles() -> None:
    with pytest.raises(PrinterProfileError) as caught:
        PrinterProfile.load("no_such_printer")
    message = str(caught.value)
    assert "no_such_printer" in message
    assert "generic_58mm" in message
    assert isinstance(caught.value, DriverError)


def test_missing_file_path() -> None:
    with pytest.raises(PrinterProfileError, match=r"nowhere\.yaml: no such printer profile file"):
        PrinterProfile.load("/nonexistent/nowhere.yaml")


@pytest.mark.parametrize(
    ("old", "new", "field", "problem"),
    [
        ("pixels: 384", "", "media.width.pixels", "missing"),
        ("pixels: 384", "pixels: wide", "media.width.pixels", "expected an integer"),
        ("pixels: 384", "pixels: 380", "media.width.pixels", "multiple of 8"),
        ("pixels: 384", "pixels: 1024", "media.width.pixels", "do not fit on 58 mm"),
        ("mm: 58", "mm: 76", "media.width.mm", "expected 58 or 80"),
        ("columns: 32", "columns: 100", "fonts.0.columns", "do not fit"),
        ("columns: 32", "columns: -3", "fonts.0.columns", "positive integer"),
        ("qrCode: true", "qrCode: maybe", "features.qrCode", "expected true or false"),
        ("qrCode: true", "qrCodes: true", "features.qrCodes", "unknown field"),
        ("profile: default", "profile: NoSuchModel", "pythonEscpos.profile", "capability"),
        ("encoding: gb18030", "encoding: klingon", "cjk.encoding", "codec"),
        ("fsAmpersand: true", "fsAmpersand: 1", "cjk.fsAmpersand", "expected true or false"),
        ("name: test_printer", "nmae: test_printer", "nmae", "unknown field"),
    ],
)
def test_malformed_field_names_file_and_field(
    tmp_path: Path, old: str, new: str, field: str, problem: str
) -> None:
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(PrinterProfileError) as caught:
        PrinterProfile.load(str(path))
    error = caught.value
    assert error.path == path
    assert error.field == field
    assert str(path) in str(error)
    assert f"field {field}:" in str(error)
    assert problem in str(error)


def test_missing_section(tmp_path: Path) -> None:
    path = write(tmp_path, "name: x\nfonts: {0: {columns: 32}}\n")
    with pytest.raises(PrinterProfileError, match=r"field media: missing"):
        PrinterProfile.load(str(path))


def test_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- just\n- a list\n")
    with pytest.raises(PrinterProfileError, match="expected the file to hold a mapping"):
        PrinterProfile.load(str(path))


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("  dpi: 203", "  dpi: [203"))
    with pytest.raises(PrinterProfileError) as caught:
        PrinterProfile.load(str(path))
    assert caught.value.line is not None
    assert f"{path}:{caught.value.line}: not valid YAML" in str(caught.value)


def test_no_cjk_section_means_no_chinese_font(tmp_path: Path) -> None:
    text = VALID.split("cjk:")[0]
    profile = PrinterProfile.load(str(write(tmp_path, text, "western.yaml")))
    assert profile.cjk_encoding is None
    assert not profile.supports_cjk
