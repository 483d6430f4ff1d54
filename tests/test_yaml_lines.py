"""The shared YAML loader: lines of mappings, keys and items; one error type for every failure."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from drivers import fixtures
from drivers.errors import DriverError
from drivers.fixtures import (
    FixtureFileError,
    LineDict,
    LineList,
    TextLineLoader,
    line_at,
    line_of,
)
from drivers.printer.profile import PrinterProfileError
from simulator.errors import ConfigError, FixtureError, ScenarioError, SimulatorError

DOCUMENT = """\
# a comment first
name: demo
media:
  width: {mm: 58, pixels: 384}
  dpi: 203
steps:
  - sale: "12.34"
  - insert_card: unionpay_debit

  - expect:
      screen: approved
fonts:
  0: {columns: 32}
"""


def write(tmp_path: Path, text: str | bytes, name: str = "doc.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_mappings_and_lists_know_their_lines() -> None:
    doc = fixtures.loads(DOCUMENT, "doc.yaml")
    assert isinstance(doc, LineDict)
    assert doc.line == 2  # where the mapping starts, after the comment
    assert doc.key_lines == {"name": 2, "media": 3, "steps": 6, "fonts": 12}
    media = doc["media"]
    assert isinstance(media, LineDict)
    assert (media.line, media.line_of("width"), media.line_of("dpi")) == (4, 4, 5)
    assert media["width"] == {"mm": 58, "pixels": 384}
    steps = doc["steps"]
    assert isinstance(steps, LineList)
    assert steps.line == 7
    assert steps.item_lines == [7, 8, 10]
    assert steps[2]["expect"].line_of("screen") == 11


def test_a_missing_key_or_item_falls_back_to_the_container() -> None:
    doc = fixtures.loads(DOCUMENT, "doc.yaml")
    assert doc.line_of("nope") == doc.line
    assert doc["steps"].line_of(7) == doc["steps"].line
    assert doc["steps"].line_of(-1) == 10


def test_keys_are_strings_and_values_keep_their_yaml_types() -> None:
    doc = fixtures.loads(DOCUMENT, "doc.yaml")
    assert list(doc["fonts"]) == ["0"]  # an unquoted 0 key still reads "0"
    assert doc["media"]["dpi"] == 203
    assert doc["steps"][0] == {"sale": "12.34"}


def test_the_text_loader_reads_every_plain_scalar_as_written() -> None:
    doc = fixtures.loads(
        "country: 0156\nflag: yes\nnothing: ~\nempty:\nversion: 3.10\nlist: [0x1F, true]\n",
        "doc.yaml",
        loader=TextLineLoader,
    )
    assert doc == {
        "country": "0156",
        "flag": "yes",
        "nothing": "~",
        "empty": "",
        "version": "3.10",
        "list": ["0x1F", "true"],
    }
    assert isinstance(doc, LineDict) and doc.line_of("list") == 6
    # The default loader is unchanged by the text loader existing.
    assert fixtures.loads("country: 0156\n", "doc.yaml") == {"country": 110}


def test_line_of_and_line_at() -> None:
    doc = fixtures.loads(DOCUMENT, "doc.yaml")
    assert line_of(doc) == 2
    assert line_of(doc, "steps") == 6
    assert line_of(doc["steps"], 1) == 8
    assert line_of({"plain": "dict"}) is None
    assert line_of("scalar", "key") is None
    assert line_at(doc, "media", "width", "pixels") == 4
    assert line_at(doc, "steps", 2, "expect", "screen") == 11
    # A missing field: the line of the mapping that should hold it.
    assert line_at(doc, "media", "paper") == 4
    assert line_at(doc, "nope", "deeper") == 2
    # Past a scalar: the scalar's line.
    assert line_at(doc, "name", "first") == 2
    assert line_at({"plain": {"dict": 1}}, "plain", "dict") is None


def test_a_duplicate_key_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb:\n  c: 1\n  d: 2\n  c: 3\n")
    with pytest.raises(FixtureFileError) as caught:
        fixtures.load(path)
    error = caught.value
    assert (error.path, error.line) == (path, 5)
    assert error.problem == "duplicate key 'c' (first on line 3)"
    assert str(error) == f"{path}:5: duplicate key 'c' (first on line 3)"


def test_keys_that_read_the_same_are_duplicates() -> None:
    with pytest.raises(FixtureFileError, match="duplicate key '1'"):
        fixtures.loads("1: a\n'1': b\n", "doc.yaml")


def test_merge_keys_may_be_overridden_but_not_repeated() -> None:
    text = "base: &base {a: 1, b: 2}\nmine:\n  <<: *base\n  b: 3\n"
    doc = fixtures.loads(text, "doc.yaml")
    assert doc["mine"] == {"a": 1, "b": 3}
    assert doc["mine"].line_of("b") == 4
    with pytest.raises(FixtureFileError, match="duplicate key 'b'"):
        fixtures.loads(text + "  b: 4\n", "doc.yaml")


def test_a_complex_key_is_refused_with_its_line() -> None:
    with pytest.raises(FixtureFileError) as caught:
        fixtures.loads("a: 1\n? [x, y]\n: 2\n", "doc.yaml")
    assert caught.value.line == 2
    assert "a key must be a plain value" in caught.value.problem


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("a: [1, 2\nb: 3\n", 2),
        ("a: 1\n  b: 2\n", 2),
        ("a: 1\nb: 'open\n", 3),
        ("a: 1\n---\nb: 2\n", 2),
        ("a: !!python/object:os.system echo\n", 1),  # a safe loader
    ],
)
def test_invalid_yaml_gives_the_line(tmp_path: Path, text: str, line: int) -> None:
    path = write(tmp_path, text)
    with pytest.raises(FixtureFileError) as caught:
        fixtures.load(path)
    assert caught.value.line == line
    assert caught.value.problem.startswith("not valid YAML: ")
    assert str(caught.value).startswith(f"{path}:{line}: not valid YAML: ")


def test_invalid_yaml_names_where_the_construct_started() -> None:
    with pytest.raises(FixtureFileError) as caught:
        fixtures.loads("a: [1,\n  2,\n  3\nb: 4\n", "doc.yaml")
    assert "while parsing a flow sequence on line 1" in caught.value.problem
    assert caught.value.line == 4


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(FixtureFileError) as missing:
        fixtures.load(tmp_path / "absent.yaml")
    assert missing.value.problem == "cannot read: No such file or directory"
    assert missing.value.line is None
    with pytest.raises(FixtureFileError, match="cannot read: Is a directory"):
        fixtures.load(tmp_path)


def test_non_utf8_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = write(tmp_path, "name: ok\nmerchant: \xc9picerie\n".encode("latin-1"))
    with pytest.raises(FixtureFileError) as caught:
        fixtures.load(path)
    assert caught.value.line == 2
    assert caught.value.problem == "not UTF-8 text: byte 0xC9 is not valid UTF-8"


def test_an_empty_file_is_none(tmp_path: Path) -> None:
    assert fixtures.load(write(tmp_path, "# only a comment\n")) is None


@pytest.mark.parametrize("error", [FixtureError, ScenarioError, ConfigError, PrinterProfileError])
def test_failures_raise_the_error_type_asked_for(
    tmp_path: Path, error: type[FixtureFileError]
) -> None:
    path = write(tmp_path, "a: [\n")
    with pytest.raises(error) as caught:
        fixtures.load(path, error=error)
    assert type(caught.value) is error
    assert caught.value.path == path and caught.value.line == 2
    with pytest.raises(error, match="cannot read"):
        fixtures.load(tmp_path / "absent.yaml", error=error)


def test_the_error_hierarchy() -> None:
    fixture = FixtureError("cards/x.yaml", "pan: missing", 7)
    assert isinstance(fixture, SimulatorError) and isinstance(fixture, FixtureFileError)
    assert str(fixture) == "cards/x.yaml:7: pan: missing"
    assert (
        str(ScenarioError("s.yaml", "steps: expected a list")) == "s.yaml: steps: expected a list"
    )
    printer = PrinterProfileError("p.yaml", "missing (required)", field="media", line=3)
    assert isinstance(printer, DriverError) and isinstance(printer, FixtureFileError)
    assert str(printer) == "p.yaml:3: field media: missing (required)"
    assert printer.problem == "missing (required)"


@pytest.mark.parametrize(
    "error",
    [
        FixtureFileError("a.yaml", "bad", 3),
        ScenarioError("s.yaml", "bad", 4),
        PrinterProfileError("p.yaml", "bad", field="media.dpi", line=5),
    ],
)
def test_errors_survive_pickling(error: FixtureFileError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)


def test_drivers_never_import_simulator() -> None:
    code = (
        "import sys, drivers.printer.profile, drivers.fixtures, drivers.wire.iso7816\n"
        "assert not any(m == 'simulator' or m.startswith('simulator.') for m in sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_printer_profile_field_errors_carry_the_line(tmp_path: Path) -> None:
    from drivers.printer.profile import PrinterProfile

    text = "name: p\nmedia:\n  width:\n    mm: 58\n    pixels: wide\nfonts:\n  0: {columns: 32}\n"
    path = write(tmp_path, text)
    with pytest.raises(PrinterProfileError) as caught:
        PrinterProfile.load(str(path))
    assert (caught.value.field, caught.value.line) == ("media.width.pixels", 5)
    assert str(caught.value).startswith(f"{path}:5: field media.width.pixels: expected an integer")
    # A missing field: the line of the mapping that should hold it.
    path = write(tmp_path, text.replace("    pixels: wide\n", ""))
    with pytest.raises(PrinterProfileError) as caught:
        PrinterProfile.load(str(path))
    assert (caught.value.field, caught.value.line) == ("media.width.pixels", 4)
