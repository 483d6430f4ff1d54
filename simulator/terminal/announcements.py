"""What the cashier app says when a payment succeeds: templates as data.

``firmware_fixtures/announcements/NAME.yaml`` holds one template per language
and payment channel (card, wechat, alipay, unionpay_qr), e.g.
``wechat: "微信收款{amount_zh}"``. The terminal picks the file and the language
with ``[terminal] announcements`` and ``[terminal] announcement_language``.
A template may use only the placeholders in :data:`PLACEHOLDERS`; anything else
(a typo, a digit form, a positional ``{}``) is a :class:`FixtureError` naming
the file and line when the file is loaded, never a surprise mid-sale.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError
from simulator.fixture_fields import find_fixture
from simulator.terminal.amounts import spell_en, spell_zh

DEFAULT_SET = "default"
DEFAULT_LANGUAGE = "zh"
CHANNELS = ("card", "wechat", "alipay", "unionpay_qr")
PLACEHOLDERS: Mapping[str, Callable[[int], str]] = {
    "amount_zh": spell_zh,
    "amount_en": spell_en,
}


@attrs.frozen
class Announcer:
    """The templates of one language: turns (channel, amount) into speech."""

    language: str
    templates: Mapping[str, str]

    def text(self, method: str, amount_fen: int) -> str:
        template = self.templates.get(method)
        if template is None:
            known = ", ".join(sorted(self.templates))
            raise ValueError(f"no {self.language} announcement for channel {method!r} ({known})")
        return template.format(**{name: spell(amount_fen) for name, spell in PLACEHOLDERS.items()})


@attrs.frozen
class Announcements:
    path: Path
    languages: Mapping[str, Announcer]
    languages_line: int | None = None

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_SET) -> Announcements:
        path = find_fixture("announcements", name_or_path, "announcement set")
        doc = fixtures.load(path, error=FixtureError)
        if not isinstance(doc, Mapping) or not isinstance(doc.get("languages"), Mapping):
            raise FixtureError(
                path,
                "expected `languages:` mapping each language (zh, en ...) to its channel templates",
                line_of(doc, "languages"),
            )
        unknown = sorted(str(key) for key in doc if key != "languages")
        if unknown:
            raise FixtureError(
                path,
                f"unknown key {unknown[0]!r}; expected only `languages`",
                line_of(doc, unknown[0]),
            )
        languages = doc["languages"]
        if not languages:
            raise FixtureError(path, "languages: needs at least one language", line_of(doc))
        return cls(
            path=path,
            languages={
                str(language): Announcer(str(language), _templates(path, languages, str(language)))
                for language in languages
            },
            languages_line=line_of(doc, "languages"),
        )

    def announcer(self, language: str) -> Announcer:
        """The templates for ``language`` (``[terminal] announcement_language``)."""
        found = self.languages.get(language)
        if found is None:
            known = ", ".join(sorted(self.languages))
            raise FixtureError(
                self.path,
                f"no announcements in language {language!r} (known: {known}); set "
                "[terminal] announcement_language to one of them or add the language here",
                self.languages_line,
            )
        return found


def _templates(path: Path, languages: Mapping[str, Any], language: str) -> dict[str, str]:
    where = f"languages.{language}"
    section = languages[language]
    if not isinstance(section, Mapping):
        raise FixtureError(
            path,
            f"{where}: expected a mapping of channel: template ({', '.join(CHANNELS)})",
            line_of(languages, language),
        )
    unknown = sorted(str(key) for key in section if key not in CHANNELS)
    if unknown:
        raise FixtureError(
            path,
            f"{where}: unknown channel {unknown[0]!r}; expected {', '.join(CHANNELS)}",
            line_of(section, unknown[0]),
        )
    missing = [channel for channel in CHANNELS if channel not in section]
    if missing:
        raise FixtureError(
            path,
            f"{where}: missing channel(s) {', '.join(missing)}; every language names "
            f"{', '.join(CHANNELS)}",
            line_of(languages, language),
        )
    templates = {}
    for channel in CHANNELS:
        template = section[channel]
        line = line_of(section, channel)
        if not isinstance(template, str) or not template.strip():
            raise FixtureError(
                path, f"{where}.{channel}: expected a (quoted) text, got {template!r}", line
            )
        _check_template(path, f"{where}.{channel}", template, line)
        templates[channel] = template
    return templates


def _check_template(path: Path, where: str, template: str, line: int | None) -> None:
    known = ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)
    try:
        fields = [field for _, field, _, _ in string.Formatter().parse(template)]
    except ValueError as exc:
        raise FixtureError(
            path, f"{where}: {exc} (write {{{{ and }}}} for literal braces)", line
        ) from None
    for field in fields:
        if field is None:
            continue
        if field not in PLACEHOLDERS:
            shown = f"{{{field}}}" if field else "{}"
            raise FixtureError(
                path, f"{where}: unknown placeholder {shown}; expected one of {known}", line
            )
    try:
        template.format(**{name: spell(1234) for name, spell in PLACEHOLDERS.items()})
    except (ValueError, KeyError, IndexError, AttributeError) as exc:
        raise FixtureError(path, f"{where}: {exc}", line) from None
