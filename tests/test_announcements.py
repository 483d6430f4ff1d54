"""Announcement templates as data: loading errors with file:line, every
channel's text, and the cashier app speaking the configured language."""

from __future__ import annotations

from pathlib import Path

import pytest

import firmware_fixtures
from simulator.devices import cards
from simulator.errors import FixtureError
from simulator.shop import Shop
from simulator.terminal.announcements import CHANNELS, Announcements
from simulator.terminal.config import TerminalConfig
from simulator.terminal.tracing import Said

DEBIT = cards.load("unionpay_debit")

GOOD = """\
languages:
  zh:
    card: "收款成功，{amount_zh}"
    wechat: "微信收款{amount_zh}"
    alipay: "支付宝到账{amount_zh}"
    unionpay_qr: "云闪付收款{amount_zh}"
  en:
    card: "Paid {amount_en}"
    wechat: "WeChat {amount_en}"
    alipay: "Alipay {amount_en}"
    unionpay_qr: "UnionPay {amount_en}"
"""


@pytest.mark.parametrize(
    ("language", "channel", "spoken"),
    [
        ("zh", "card", "收款成功，十二点三四元"),
        ("zh", "wechat", "微信收款十二点三四元"),
        ("zh", "alipay", "支付宝到账十二点三四元"),
        ("zh", "unionpay_qr", "云闪付收款十二点三四元"),
        ("en", "card", "Payment received, twelve point three four yuan"),
        ("en", "wechat", "WeChat Pay received twelve point three four yuan"),
        ("en", "alipay", "Alipay received twelve point three four yuan"),
        ("en", "unionpay_qr", "UnionPay QR received twelve point three four yuan"),
    ],
)
def test_each_channel_of_the_default_set(language: str, channel: str, spoken: str) -> None:
    announcer = Announcements.load().announcer(language)
    assert announcer.language == language
    assert announcer.text(channel, 1234) == spoken


def test_an_unknown_channel_at_runtime_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"'cash'.*alipay, card, unionpay_qr, wechat"):
        Announcements.load().announcer("zh").text("cash", 100)


def test_an_unknown_language_names_the_setting_and_the_known_ones() -> None:
    with pytest.raises(FixtureError, match=r"'fr' \(known: en, zh\).*announcement_language"):
        Announcements.load().announcer("fr")


@pytest.mark.parametrize(
    ("old", "new", "line", "problem"),
    [
        ('{amount_zh}"\n    wechat', '{amount}"\n    wechat', 3, "unknown placeholder {amount}"),
        ("微信收款{amount_zh}", "微信收款{amount_zh", 4, "languages.zh.wechat: "),
        ("支付宝到账{amount_zh}", "支付宝到账{}", 5, "unknown placeholder {}"),
        ("Alipay {amount_en}", "Alipay {amount_en.real}", 10, "unknown placeholder"),
        ("Paid {amount_en}", "Paid {amount_en!z}", 8, "languages.en.card: "),
        ('    unionpay_qr: "UnionPay {amount_en}"\n', "", 7, "missing channel(s) unionpay_qr"),
        ('    wechat: "WeChat', '    wechat_pay: "WeChat', 9, "unknown channel 'wechat_pay'"),
        ('card: "Paid {amount_en}"', "card: [Paid]", 8, "expected a (quoted) text"),
        ("languages:", "langs:", 1, "expected `languages:`"),
        ("  en:\n", "  en: hello\n  xx:\n", 7, "languages.en: expected a mapping"),
        ('    alipay: "Alipay', '    alipay: "A"\n    alipay: "Alipay', 11, "duplicate key"),
        ("languages:", "extra: 1\nlanguages:", 1, "unknown key 'extra'"),
    ],
)
def test_malformed_sets_fail_at_load_with_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, problem: str
) -> None:
    assert old in GOOD
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(FixtureError) as caught:
        Announcements.load(path)
    assert caught.value.path == path
    assert caught.value.line == line, caught.value
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}:{line}: ")


def test_a_good_set_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD.replace("Paid", "Got {{cash}}"), encoding="utf-8")
    announcer = Announcements.load(path).announcer("en")
    assert announcer.text("card", 100) == "Got {cash} one yuan"
    assert set(announcer.templates) == set(CHANNELS)


def test_a_missing_set_lists_the_known_ones() -> None:
    with pytest.raises(FixtureError, match=r"no announcement set named 'nope'.*known: default"):
        Announcements.load("nope")


def _sale(tmp_path: Path, terminal: dict[str, str]) -> list[tuple[str, str]]:
    config = TerminalConfig.from_mapping({"terminal": terminal})
    with Shop(config, tmp_path, seed=1) as sim:
        result = sim.pay_by_card(1234, DEBIT)
        assert result.approved, result.outcome.reason
        return [(e.payload.text, e.payload.language) for e in sim.bus.of(Said)]


def test_the_cashier_app_announces_in_chinese_by_default(tmp_path: Path) -> None:
    assert _sale(tmp_path, {}) == [("收款成功，十二点三四元", "zh")]


def test_the_cashier_app_announces_in_english_when_configured(tmp_path: Path) -> None:
    said = _sale(tmp_path, {"announcement_language": "en"})
    assert said == [("Payment received, twelve point three four yuan", "en")]


def test_an_unknown_announcement_language_stops_the_terminal_start(tmp_path: Path) -> None:
    config = TerminalConfig.from_mapping({"terminal": {"announcement_language": "fr"}})
    with pytest.raises(FixtureError, match="announcement_language"):
        Shop(config, tmp_path, seed=1)


def test_the_vendor_contract_no_longer_holds_announcements() -> None:
    text = firmware_fixtures.ROOT.joinpath("vendors", "newland.yaml").read_text(encoding="utf-8")
    assert "\nannouncements:" not in text
