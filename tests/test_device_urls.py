"""Device URLs: every scheme's parameters declared once, documented and checked from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers import fixtures, url_reference
from drivers.kinds import DEVICE_KINDS
from drivers.registry import registry
from simulator.cli import main
from simulator.terminal.config import DeviceURLs, TerminalConfig


def test_docs_devices_md_is_generated_from_the_registered_schemes() -> None:
    page = url_reference.DOC_PATH.read_text(encoding="utf-8")
    assert page == url_reference.updated_page(page), (
        f"the generated part of {url_reference.DOC_PATH} is stale: regenerate it with "
        f"`{url_reference.REGENERATE}`"
    )


def test_every_scheme_says_what_it_is_and_every_parameter_what_it_does() -> None:
    schemes = registry.registered()
    assert {s.kind for s in schemes} == set(DEVICE_KINDS)
    for scheme in schemes:
        assert scheme.usage.startswith(f"{scheme.name}://") and scheme.help, scheme
        for param in scheme.params:
            assert param.help, (scheme.name, param.name)
            if param.default is not None and param.choices:
                assert param.default in param.choices, (scheme.name, param.name)


@pytest.mark.parametrize("name", fixtures.names("terminals", (".toml",)), ids=lambda name: name)
def test_the_shipped_terminal_configurations_name_valid_device_urls(name: str) -> None:
    assert TerminalConfig.load(name).devices.problems() == []


def test_device_url_problems_name_the_device_and_what_was_expected() -> None:
    devices = DeviceURLs(
        printer="sim://?profle=generic_58mm",
        scanner="sim://?transport=tcp",
        speaker="espeak://en?rate=fast",
        card_reader="lpt://1",
    )
    assert devices.problems() == [
        "devices.card_reader: no card_reader driver for 'lpt://1': known schemes are "
        "pcsc://, replay://, sim://",
        "devices.printer: sim://?profle=generic_58mm: unknown parameter 'profle': did you "
        "mean 'profile'? (known: profile, transport)",
        "devices.scanner: sim://?transport=tcp: transport='tcp'; expected one of sim, pty, wedge",
        "devices.speaker: espeak://en?rate=fast: rate='fast' is not an integer; expected a "
        "whole number from 80 to 450 words per minute",
    ]


def test_possim_check_checks_the_device_urls_of_a_scenarios_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before: a typo in a terminal configuration's URL parameter surfaced only when
    the run opened the device (or, for pcsc://, was ignored)."""
    config = tmp_path / "typo.toml"
    config.write_text(
        '[devices]\nprinter = "sim://?profile=generic_58mm&transprt=tcp"\n'
        'card_reader = "pcsc://?reader=ACS"\n',
        encoding="utf-8",
    )
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        f'name: typo in the terminal\nterminal: {config}\nsteps:\n  - sale: "1.00"\n',
        encoding="utf-8",
    )
    assert main(["check", str(scenario)]) == 2  # invalid input (possim docs cli)
    assert capsys.readouterr().out.splitlines() == [
        f"{scenario}:2: terminal: {config}: devices.card_reader: pcsc://?reader=ACS: unknown "
        "parameter 'reader' (pcsc:// takes no parameters but record)",
        f"{scenario}:2: terminal: {config}: devices.printer: "
        "sim://?profile=generic_58mm&transprt=tcp: unknown parameter 'transprt': did you "
        "mean 'transport'? (known: profile, transport)",
    ]
