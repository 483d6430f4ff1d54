"""The terminal configuration's [keys] and [emv] sections."""

from __future__ import annotations

import pytest

from simulator.errors import ConfigError
from simulator.terminal.config import DEFAULT_PIN_KEY, TerminalConfig


def test_defaults_and_the_shipped_file_agree() -> None:
    shipped = TerminalConfig.load()
    assert shipped.keys.pin_key == DEFAULT_PIN_KEY == TerminalConfig().keys.pin_key
    assert shipped.devices.magstripe_reader == "sim://"
    assert DEFAULT_PIN_KEY not in repr(shipped)


@pytest.mark.parametrize(
    ("keys", "problem"),
    [
        ({"pin_key": "XYZ"}, "must be hex"),
        ({"pin_key": "0123456789ABCDEF"}, "double-length"),
        ({"pin_key": "0123456789ABCDEF0123456789ABCDEF"}, "equal halves"),
        ({"tpk": DEFAULT_PIN_KEY}, "tpk"),
    ],
)
def test_bad_keys_are_config_errors(keys: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        TerminalConfig.from_mapping({"keys": keys})


@pytest.mark.parametrize(
    ("value", "fen"), [("0.00", 0), ("100.00", 10000), ("12.5", 1250), (300, 30000)]
)
def test_floor_limit_in_yuan(value: object, fen: int) -> None:
    assert TerminalConfig.from_mapping({"emv": {"floor_limit": value}}).emv.floor_limit_fen == fen


@pytest.mark.parametrize(
    ("emv", "problem"),
    [({"floor_limit": "-1"}, "floor_limit"), ({"floor_limit": True}, "amount"), ({"x": 1}, "x")],
)
def test_bad_emv_section(emv: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        TerminalConfig.from_mapping({"emv": emv})
