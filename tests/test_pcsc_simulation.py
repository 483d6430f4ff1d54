"""Whole purchases with the card on the real PC/SC stack (Shop(card_transport="pcsc"))."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator import cli
from simulator.devices import cards
from simulator.devices.vpcd_card import VpcdCardSlot
from simulator.errors import ConfigError
from simulator.pcscd import PrivatePcscd
from simulator.scenario.loader import discover, load_scenario
from simulator.scenario.runner import run_scenario
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.tracing import ApduExchanged

pytestmark = [
    pytest.mark.system_package("pcscd"),
    pytest.mark.system_package("vpcd-config"),
    pytest.mark.system_package("pyscard"),
    pytest.mark.filterwarnings("ignore:.*TripleDES"),
]

REPO = Path(__file__).resolve().parent.parent
WIND_DOWN = 3600.0


def pcsc_simulation(workdir: Path) -> Shop:
    return Shop(TerminalConfig.load("default"), workdir, card_transport="pcsc")


def test_purchase_over_pcsc_is_approved_and_charged_once(
    private_pcscd: PrivatePcscd, tmp_path: Path
) -> None:
    card = cards.load("unionpay_debit")
    with pcsc_simulation(tmp_path) as sim:
        assert isinstance(sim.world.card_slot, VpcdCardSlot)
        assert sim.terminal.card_reader.name == sim.world.card_slot.name
        result = sim.pay_by_card(1234, card)
        assert result.approved, result
        charges = [entry for entry in sim.gateway.ledger.transactions() if entry.charged]
        assert len(charges) == 1
        apdus = sim.bus.of(ApduExchanged)
        assert any("GENERATE AC" in event.summary for event in apdus)
    # The slot went back to the process's pcscd.
    assert len(private_pcscd.slots) == 2


def test_card_pulled_mid_transaction_over_pcsc_leaves_no_charge(
    private_pcscd: PrivatePcscd, tmp_path: Path
) -> None:
    card = cards.load("unionpay_debit")
    with pcsc_simulation(tmp_path) as sim:
        slot, pad = sim.world.card_slot, sim.world.pin_pad
        assert slot is not None and pad is not None
        with sim.clock.actor():
            sale = sim.terminal.start_sale(1234)
            sim.clock.settle()
            slot.insert(sim.world.card(card))
            sim.clock.settle()
            assert pad.awaiting_pin
            slot.remove()  # gone before the PIN is verified and the cryptogram made
            pad.type_pin(card.pin)
            result = sale.wait(WIND_DOWN)
        assert result is not None and not result.approved
        assert "removed" in result.outcome.reason, result.outcome.reason
        assert not [entry for entry in sim.gateway.ledger.transactions() if entry.charged]
        assert not sim.bus.of(LinkIsoMessage)


def test_unknown_card_transport_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown card transport 'usb'"):
        Shop(TerminalConfig.load("default"), tmp_path, card_transport="usb")


def test_possim_run_card_purchase_over_pcsc_is_deterministic(
    private_pcscd: PrivatePcscd, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = str(REPO / "scenarios" / "card_purchase.yaml")
    transcripts = []
    for run in ("first", "second"):
        out = tmp_path / run
        assert cli.main(["run", scenario, "--card-transport", "pcsc", "--out", str(out)]) == 0
        assert "1 passed, 0 failed" in capsys.readouterr().out
        (folder,) = [path for path in out.iterdir() if path.is_dir()]
        transcripts.append((folder / "transcript.txt").read_text(encoding="utf-8"))
    assert transcripts[0] == transcripts[1]
    assert "power on, ATR 3B888001504F5353494D555017" in transcripts[0]


SIM_READER_NAME = "possim virtual reader"

# The scenarios that put a card into the reader (QR and printer ones add nothing here),
# the pre-authorisation ones among them.
LIBRARY = [
    path
    for path in discover([REPO / "scenarios"])
    if path.stem.startswith(("card_", "magstripe_", "preauth_"))
]


@pytest.mark.parametrize("path", LIBRARY, ids=[path.stem for path in LIBRARY])
def test_library_scenario_passes_over_pcsc(
    private_pcscd: PrivatePcscd, path: Path, tmp_path: Path
) -> None:
    scenario = load_scenario(path)
    over_pcsc = run_scenario(scenario, tmp_path / "pcsc", card_transport="pcsc")
    assert over_pcsc.passed, over_pcsc.failure_text
    # The driver works unchanged: through pcscd the terminal does exactly what it
    # does with the in-process reader, event for event.
    # Only the reader's name may differ (it appears in card-error texts).
    in_process = run_scenario(scenario, tmp_path / "sim")
    with Shop(TerminalConfig.load("default"), tmp_path / "names", card_transport="pcsc") as sim:
        pcsc_name = sim.terminal.card_reader.name
    sim_transcript = (in_process.artifacts / "transcript.txt").read_text(encoding="utf-8")
    pcsc_transcript = (over_pcsc.artifacts / "transcript.txt").read_text(encoding="utf-8")
    assert pcsc_transcript.replace(pcsc_name, "<reader>") == sim_transcript.replace(
        SIM_READER_NAME, "<reader>"
    )
