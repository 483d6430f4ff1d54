"""The gateway's data files: issuers, magic amounts, response codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.errors import FixtureError
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.magic import MagicAmounts
from simulator.wire import cryptogram
from simulator.wire.response_codes import ResponseCodes


def test_builtin_issuers_hold_the_test_bins() -> None:
    issuers = IssuerDirectory.load()
    unionpay = issuers.lookup("6214830027183655")
    assert unionpay is not None
    assert unionpay.name == "possim Test Bank (UnionPay)"
    assert unionpay.cryptogram_method == "emv_csk"
    assert unionpay.imk_ac == bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
    visa = issuers.lookup("4761739001010010")
    assert visa is not None
    assert visa.cryptogram_method == "visa_cvn10"
    assert visa.imk_ac == bytes.fromhex("89ABCDEF0123456776543210FEDCBA98")
    mastercard = issuers.lookup("5454545454545454")
    assert mastercard is not None
    assert mastercard.cryptogram_method == "emv_csk"
    assert mastercard.imk_ac == bytes.fromhex("FEDCBA98765432100123456789ABCDEF")
    assert issuers.lookup("9999990000000000") is None
    for issuer in issuers:
        assert issuer.method is cryptogram.METHODS[issuer.cryptogram_method]


def test_issuer_keys_stay_out_of_reprs() -> None:
    text = repr(IssuerDirectory.load())
    assert "0123456789ABCDEF" not in text.upper()
    assert "\\x01#Eg" not in text


def test_longest_prefix_wins(tmp_path: Path) -> None:
    path = tmp_path / "issuers.yaml"
    path.write_text(
        "issuers:\n"
        "  - {prefix: '62', name: short, cryptogram: emv_csk, imk_ac: "
        "0123456789ABCDEFFEDCBA9876543210}\n"
        "  - {prefix: '621483', name: long, cryptogram: visa_cvn10, imk_ac: "
        "0123456789ABCDEFFEDCBA9876543210}\n",
        encoding="utf-8",
    )
    issuers = IssuerDirectory.load(path)
    assert [i.name for i in issuers] == ["short", "long"]
    long_match = issuers.lookup("6214830000000000")
    short_match = issuers.lookup("6200000000000000")
    assert long_match is not None and long_match.name == "long"
    assert short_match is not None and short_match.name == "short"


GOOD_KEY = "0123456789ABCDEFFEDCBA9876543210"


def block(**fields: str) -> str:
    """One issuer as a block mapping, a field per line (the entry starts on line 2)."""
    lines = [f"{key}: {value}" for key, value in fields.items()]
    return "issuers:\n  - " + "\n    ".join(lines) + "\n"


def flow(**fields: str) -> str:
    return "  - {" + ", ".join(f"{key}: {value}" for key, value in fields.items()) + "}\n"


GOOD = {"prefix": "'62'", "name": "x", "cryptogram": "emv_csk", "imk_ac": GOOD_KEY}


@pytest.mark.parametrize(
    ("body", "field", "line"),
    [
        (block(name="x", cryptogram="emv_csk", imk_ac=GOOD_KEY), "prefix", 2),
        (block(**{**GOOD, "cryptogram": "nope"}), "cryptogram", 2),
        (block(**{**GOOD, "imk_ac": "XYZ"}), "imk_ac", 2),
        (block(**{**GOOD, "imk_ac": "0123"}), "imk_ac", 2),
        (block(**{**GOOD, "prefix": "62AB"}), "prefix", 2),
        (block(**{**GOOD, "prefix": "621483"}), "prefix", 2),  # unquoted: a number
        ("issuers:\n" + flow(**GOOD) + flow(**{**GOOD, "name": "b"}), "prefix", 3),
        ("issuers:\n" + flow(**GOOD, pin="1"), "pin", 2),
    ],
)
def test_malformed_issuers_name_file_field_and_line(
    tmp_path: Path, body: str, field: str, line: int
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        IssuerDirectory.load(path)
    assert caught.value.path == path
    assert caught.value.line == line
    assert field in str(caught.value)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "body",
    ["", "issuers: 3\n", "other: []\n", "issuers: []\n", "issuers:\n  - just a string\n", "a: [\n"],
)
def test_structurally_broken_issuer_files_raise_fixture_errors(tmp_path: Path, body: str) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        IssuerDirectory.load(path)
    assert caught.value.path == path


def test_unknown_issuer_file_lists_the_known_ones() -> None:
    with pytest.raises(FixtureError, match="known: issuers"):
        IssuerDirectory.load("no_such_directory")


EXPECTED_MAGIC = {
    "05": "05",
    "51": "51",
    "54": "54",
    "55": "55",
    "91": "91",
    "96": "96",
    "68": None,
}


def test_magic_amounts_table() -> None:
    magic = MagicAmounts.load()
    assert {o.fen: o.response_code for o in magic} == EXPECTED_MAGIC
    assert magic.outcome_for("000000010068") is not None
    assert magic.outcome_for("000000010068").no_answer  # type: ignore[union-attr]
    assert magic.outcome_for("000000010000") is None
    assert magic.outcome_for(10051) == magic.outcome_for("000000000051")
    for outcome in magic:
        assert outcome.meaning


def test_every_code_the_gateway_can_send_has_texts() -> None:
    codes = ResponseCodes.load()
    sent_by_host = {"00", "12", "13", "14", "30", "82", "94"}
    magic_codes = {o.response_code for o in MagicAmounts.load() if o.response_code}
    for code in sent_by_host | magic_codes | {"05", "51", "54", "55", "91", "96"}:
        assert code in codes, code
        entry = codes.get(code)
        assert entry is not None and entry.en and entry.zh


def test_response_texts_in_both_languages() -> None:
    codes = ResponseCodes.load()
    assert codes.text("00", "zh") == "交易成功"
    assert codes.text("51", "zh") == "余额不足"
    assert codes.text("55", "zh") == "密码错"
    assert codes.text("91", "zh") == "发卡行不可用"
    assert codes.text("51") == "Insufficient funds"
    assert codes.text("00", "en") == "Approved"
    assert codes.get("00") is not None
    assert codes.get("00").approved  # type: ignore[union-attr]
    # An unknown code still says something with the code in it.
    assert "Q7" in codes.text("Q7")
    assert "Q7" in codes.text("Q7", "zh")


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("codes:\n  00: {en: ok, zh: 好}\n", "quote"),
        ("codes:\n  '00': {en: ok}\n", "zh"),
        ("codes:\n  '05': {en: declined, zh: 拒绝}\n", "'00'"),
        ("codes:\n  '000': {en: ok, zh: 好}\n", "2 quoted"),
        ("codes: [1, 2]\n", "codes"),
    ],
)
def test_malformed_response_codes(tmp_path: Path, body: str, needle: str) -> None:
    path = tmp_path / "codes.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        ResponseCodes.load(path)
    assert caught.value.path == path
    assert needle in str(caught.value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("magic_amounts:\n  - {fen: '5', response_code: '05', meaning: x}\n", "fen"),
        ("magic_amounts:\n  - {fen: '05', meaning: x}\n", "response_code"),
        ("magic_amounts:\n  - {fen: '05', response_code: '05'}\n", "meaning"),
        ("magic_amounts:\n  - {fen: '68', no_answer: 'yes', meaning: x}\n", "no_answer"),
        (
            "magic_amounts:\n  - {fen: '68', no_answer: true, response_code: '05', meaning: x}\n",
            "response_code",
        ),
        (
            "magic_amounts:\n  - {fen: '05', response_code: '05', meaning: x}\n"
            "  - {fen: '05', response_code: '51', meaning: y}\n",
            "fen",
        ),
    ],
)
def test_malformed_magic_amounts(tmp_path: Path, body: str, field: str) -> None:
    path = tmp_path / "magic.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        MagicAmounts.load(path)
    assert caught.value.path == path
    assert caught.value.line is not None
    assert f"'{field}'" in str(caught.value)
