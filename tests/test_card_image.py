"""Card images: loading, personalisation and the errors a malformed file gives."""

from __future__ import annotations

from pathlib import Path

import pytest

import firmware_fixtures
from drivers.wire import ber_tlv as tlv
from simulator.devices import card_image_yaml, cards
from simulator.devices.card_image import luhn_valid
from simulator.errors import FixtureError
from simulator.wire import cryptogram

pytestmark = pytest.mark.filterwarnings("ignore:.*TripleDES")

ISSUER_KEY = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
UNIONPAY = firmware_fixtures.ROOT.joinpath("cards", "unionpay_debit.yaml")


def variant(tmp_path: Path, *replacements: tuple[str, str], name: str = "variant") -> Path:
    """The UnionPay debit image with text replaced, written to a temporary file."""
    text = UNIONPAY.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, f"{old!r} is not in the UnionPay image"
        text = text.replace(old, new, 1)
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")


def test_unionpay_debit_loads_by_name_with_its_fields() -> None:
    image = cards.load("unionpay_debit")
    assert image.name == "unionpay_debit"
    assert image.brand == "UnionPay"
    assert image.pan == "6214830027183655"
    assert image.psn == "01"
    assert image.expiry == "3012"
    assert image.expiry_date == "301231"
    assert image.issuer_country == "0156"  # a string, not YAML 1.1's octal 110
    assert image.issuer_currency == "0156"
    assert image.pin == "683915"
    assert image.pin_try_limit == image.pin_tries_left == 3
    assert image.pse is True
    (app,) = image.applications
    assert app.aid_hex == "A000000333010101"
    assert app.label == "UnionPay Debit"
    assert app.cryptogram_method == "emv_csk"
    assert app.cvm_list.hex().upper() == "000000000000000041035E031F00"


def test_track2_equivalent_is_derived_from_pan_expiry_and_service_code() -> None:
    image = cards.load("unionpay_debit")
    assert image.track2.startswith("6214830027183655=3012220")
    assert image.track2_equivalent().hex().upper().startswith("6214830027183655D3012220")
    record = image.applications[0].records[(1, 1)]
    tags = tlv.decode_flat(record)
    assert tags["57"] == image.track2_equivalent()
    assert tags["5F20"] == b"ZHANG/SAN"


def test_afl_is_laid_out_from_the_records() -> None:
    app = cards.load("unionpay_debit").applications[0]
    # SFI 1 record 1; SFI 2 records 1-2; no ODA records.
    assert app.afl.hex().upper() == "0801010010010200"
    assert set(app.records) == {(1, 1), (2, 1), (2, 2)}
    record = tlv.decode_flat(app.records[(2, 1)])
    assert record["5A"].hex() == "6214830027183655"
    assert record["5F24"].hex() == "301231"
    assert record["5F34"].hex() == "01"
    assert record["9F42"].hex() == "0156"


def test_personalisation_derives_the_icc_master_key_from_the_issuer_key() -> None:
    image = cards.load("unionpay_debit")
    expected = cryptogram.derive_icc_master_key(ISSUER_KEY, image.pan, image.psn)
    assert image.applications[0].icc_master_key == expected


def test_repr_hides_pan_pin_name_and_keys() -> None:
    image = cards.load("unionpay_debit")
    text = repr(image)
    assert image.pan not in text
    assert image.pin not in text
    assert "ZHANG" not in text
    assert image.applications[0].icc_master_key.hex() not in text.lower()
    assert image.masked_pan == "621483******3655"


def test_names_lists_the_builtin_cards() -> None:
    assert "unionpay_debit" in cards.names()


def test_unknown_card_name_lists_known_cards() -> None:
    with pytest.raises(FixtureError, match="unionpay_debit"):
        cards.load("no_such_card")


def test_loading_a_path_works_and_is_cached(tmp_path: Path) -> None:
    path = variant(tmp_path, ("cardholder_name: ZHANG/SAN", "cardholder_name: LI/SI"))
    first = cards.load(str(path))
    assert first.cardholder_name == "LI/SI"
    assert cards.load(str(path)) is first


def test_missing_field_names_file_field_and_line(tmp_path: Path) -> None:
    path = variant(tmp_path, ('pan: "6214830027183655"', "# no pan"))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    error = caught.value
    assert error.path == path
    assert error.problem.startswith("pan: missing; expected")
    # A missing field is reported at the mapping that should hold it.
    assert error.line == line_of(path, "name: unionpay_debit")
    assert str(path) in str(error)


def test_bad_luhn_names_the_field_and_its_line(tmp_path: Path) -> None:
    path = variant(tmp_path, ('pan: "6214830027183655"', 'pan: "6214830027183656"'))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    assert caught.value.problem.startswith("pan: expected")
    assert "Luhn" in caught.value.problem
    assert caught.value.line == line_of(path, 'pan: "6214830027183656"')


def test_bad_hex_names_the_application_field_and_line(tmp_path: Path) -> None:
    path = variant(tmp_path, ("aid: A000000333010101", "aid: A00000033301010G"))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    assert caught.value.problem.startswith("applications[0].aid: expected")
    assert caught.value.line == line_of(path, "aid: A00000033301010G")
    assert f"{path}:{caught.value.line}" in str(caught.value)


def test_bad_key_length_is_reported(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        (
            "issuer_master_key_ac: 0123456789ABCDEFFEDCBA9876543210",
            "issuer_master_key_ac: 0123456789ABCDEF",
        ),
    )
    with pytest.raises(FixtureError, match=r"applications\[0\]\.issuer_master_key_ac: expected"):
        cards.load(str(path))


def test_unknown_field_is_a_typo_not_ignored(tmp_path: Path) -> None:
    path = variant(tmp_path, ("pin_try_limit: 3", "pin_try_limt: 3"))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    assert caught.value.problem.startswith("pin_try_limt: unknown field")
    assert caught.value.line == line_of(path, "pin_try_limt")


def test_unknown_cryptogram_method_lists_the_known_ones(tmp_path: Path) -> None:
    path = variant(tmp_path, ("cryptogram: emv_csk", "cryptogram: rot13"))
    with pytest.raises(FixtureError, match="emv_csk, visa_cvn10"):
        cards.load(str(path))


def test_record_tag_without_a_value_is_reported(tmp_path: Path) -> None:
    path = variant(tmp_path, ("tags: [8C, 8D, 8E]", "tags: [8C, 8D, 8E, 9F4D]"))
    with pytest.raises(FixtureError, match=r"records\[2\]\.tags: tag 9F4D has no value"):
        cards.load(str(path))


def test_data_tag_placed_in_no_record_is_reported(tmp_path: Path) -> None:
    path = variant(tmp_path, ("tags: [57, 5F20, 9F1F]", "tags: [57, 5F20]"))
    with pytest.raises(FixtureError, match=r"data\.9F1F: is not listed in any record"):
        cards.load(str(path))


def test_cdol1_must_ask_for_the_cryptogram_inputs(tmp_path: Path) -> None:
    path = variant(tmp_path, ("cdol1: 9F0206 9F0306 ", "cdol1: 9F0306 "))
    with pytest.raises(FixtureError, match=r"cdol1: .*lacks 9F02"):
        cards.load(str(path))


def test_invalid_yaml_gives_the_line(tmp_path: Path) -> None:
    path = variant(tmp_path, ("brand: UnionPay", "brand: [UnionPay"))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    assert caught.value.problem.startswith("not valid YAML")
    assert caught.value.line is not None


def test_bad_expiry_month(tmp_path: Path) -> None:
    path = variant(tmp_path, ('expiry: "3012"', 'expiry: "3013"'))
    with pytest.raises(FixtureError, match="expiry: expected a date as YYMM"):
        cards.load(str(path))


def test_explicit_afl_and_gpo_override_are_kept(tmp_path: Path) -> None:
    path = variant(
        tmp_path,
        ('    app_version: "0030"', '    app_version: "0030"\n    afl: "08010100"'),
        ("    iac_online:", "    gpo_response: DEADBEEF\n    iac_online:"),
    )
    app = cards.load(str(path)).applications[0]
    assert app.afl == bytes.fromhex("08010100")
    assert app.gpo_response == bytes.fromhex("DEADBEEF")


@pytest.mark.parametrize(
    ("number", "valid"),
    [("6214830027183655", True), ("4111111111111111", True), ("4111111111111112", False)],
)
def test_luhn(number: str, valid: bool) -> None:
    assert luhn_valid(number) is valid


def test_the_readme_example_is_a_valid_card_image() -> None:
    readme = firmware_fixtures.ROOT.joinpath("cards", "README.md").read_text(encoding="utf-8")
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    image = cards.parse(example, "README.md")
    assert image.name == "my_card"
    assert image.applications[0].afl.hex().upper() == "0801010010010100"


def test_the_field_tables_in_docs_cards_md_are_generated_from_the_declarations() -> None:
    page = card_image_yaml.DOC_PATH.read_text(encoding="utf-8")
    assert page == card_image_yaml.updated_page(page), (
        f"the field tables in {card_image_yaml.DOC_PATH} are stale: regenerate them with "
        f"`{card_image_yaml.REGENERATE}`"
    )
    for spec in card_image_yaml.CARD_FIELDS + card_image_yaml.APPLICATION_FIELDS:
        assert f"| `{spec.name}` | {spec.reference_required()} | {spec.help} |" in page


def test_an_unknown_field_suggests_the_declared_one(tmp_path: Path) -> None:
    path = variant(tmp_path, ("    iac_online:", "    iac_onlin:"))
    with pytest.raises(FixtureError) as caught:
        cards.load(str(path))
    assert caught.value.problem.startswith(
        "applications[0].iac_onlin: unknown field: did you mean 'iac_online'?; expected one of"
    )
    assert caught.value.line == line_of(path, "iac_onlin:")


def test_possim_check_validates_a_scenarios_card_file_through_the_same_declarations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A malformed card file a scenario names is reported with the card's own file, line
    and field -- also when its name is close to a catalogue card's (it was once hidden
    behind "unknown card 'unionpay_debit.yaml': did you mean 'unionpay_debit'?")."""
    from simulator.cli import main

    monkeypatch.chdir(tmp_path)
    card = variant(tmp_path, ('expiry: "3012"', 'expiry: "3013"'), name="unionpay_debit")
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: a custom card\nsteps:\n"
        '  - sale: "1.00"\n'
        "  - insert_card: unionpay_debit.yaml\n"
        f"  - swipe_card: {card}\n",
        encoding="utf-8",
    )
    assert main(["check", str(scenario)]) == 2  # invalid input
    out = capsys.readouterr().out.splitlines()
    card_line = line_of(card, 'expiry: "3013"')
    problem = "expiry: expected a date as YYMM, month 13 is not 01-12"
    assert out == [
        f"{scenario}:4: insert_card: unionpay_debit.yaml:{card_line}: {problem}",
        f"{scenario}:5: swipe_card: {card}:{card_line}: {problem}",
    ]
