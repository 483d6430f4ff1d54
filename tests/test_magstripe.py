"""The magnetic stripe reader, swipes, chip cards swiped, and fallback."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from sim_helpers import gateway_requests, insert, pin, remove, run_sale, simulation, swipe

from drivers.magstripe_reader import MagstripeReader
from drivers.registry import DeviceContext, registry
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.magstripe_reader import VirtualMagstripeReader
from simulator.devices.world import SimulatedWorld
from simulator.gateway.ledger import Status
from simulator.terminal.acquiring_events import ChipFallback
from simulator.terminal.config import TerminalConfig
from simulator.terminal.display import ScreenId, ScreenShown
from simulator.terminal.journal import TxnState
from simulator.terminal.track2 import Track2

DEBIT = cards.load("unionpay_debit")
MAGSTRIPE = cards.load("magstripe_only")
GARBAGE_GPO = cards.load("garbage_gpo")


def test_virtual_reader_queues_swipes_and_notifies_the_clock() -> None:
    clock = VirtualClock()
    reader = VirtualMagstripeReader(clock)
    assert reader.take_swipe() is None and not reader.swipe_waiting()
    with clock.actor():
        reader.swipe(DEBIT)
    assert reader.swipe_waiting()
    assert clock.wait_until(reader.swipe_waiting, 0)
    assert reader.take_swipe() == DEBIT.track2 == "6214830027183655=301222025758900000"
    reader.swipe_track2("")
    reader.discard_swipes()
    assert reader.take_swipe() is None


def test_sim_scheme_opens_it_into_the_world() -> None:
    world = SimulatedWorld(VirtualClock())
    reader = registry.open(MagstripeReader, "sim://", DeviceContext(world.clock, world))
    assert isinstance(reader, MagstripeReader)
    assert reader is world.magstripe_reader


def test_config_defaults_to_the_virtual_reader() -> None:
    assert TerminalConfig.from_mapping({}).devices.magstripe_reader == "sim://"


@pytest.mark.parametrize(
    ("text", "service_code", "chip", "pin_required"),
    [
        ("6214830027183655=301222025758900000", "220", True, True),
        ("4761733432199112=301220133600000000", "201", True, False),
        ("5454540000000000=3012121", "121", False, False),
        ("5454540000000000=3012120", "120", False, True),
        ("6214838903945159006=3012121", "121", False, True),  # UnionPay: always a PIN
    ],
)
def test_track2_rules(text: str, service_code: str, chip: bool, pin_required: bool) -> None:
    track = Track2.parse(text)
    assert track is not None
    assert (track.service_code, track.has_chip, track.pin_required) == (
        service_code,
        chip,
        pin_required,
    )
    assert track.pan not in repr(track)


@pytest.mark.parametrize("text", ["", "garbage", "123=4567", "6214830027183655=30", "6" * 38])
def test_unreadable_tracks(text: str) -> None:
    assert Track2.parse(text) is None


def test_magstripe_only_card_pays_with_an_online_pin(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 990, swipe(MAGSTRIPE), pin(MAGSTRIPE.pin))
        assert result.approved, result.outcome.reason
        (request,) = gateway_requests(sim)
        entry = sim.terminal.journal.entries()[-1]
        ledger = sim.gateway.ledger.transactions()[-1]
    assert request["22"] == "021" and "55" not in request and "23" not in request
    assert request["35"] == "621483*********9006=[REDACTED]"
    assert request["52"] == "[REDACTED]"
    assert entry.entry_mode == "021" and entry.state is TxnState.APPROVED
    assert ledger.status is Status.APPROVED and "no chip data" in ledger.note


def test_a_chip_card_swiped_must_be_inserted(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        screens: list[ScreenId] = []
        sim.bus.subscribe(
            lambda event: (
                screens.append(event.payload.screen)
                if isinstance(event.payload, ScreenShown)
                else None
            )
        )
        result = run_sale(sim, 1234, swipe(DEBIT), insert(DEBIT), pin(DEBIT.pin), remove)
        (request,) = gateway_requests(sim)
    assert result.approved
    assert screens.index(ScreenId.INSERT_CHIP) < screens.index(ScreenId.READING_CARD)
    assert request["22"] == "051"


def test_an_unreadable_swipe_asks_for_another(tmp_path: Path) -> None:
    def garbage(sim: object) -> None:
        reader = sim.world.magstripe_reader  # type: ignore[attr-defined]
        reader.swipe_track2("%B;?garbage")

    with simulation(tmp_path) as sim:
        result = run_sale(sim, 990, garbage, swipe(MAGSTRIPE), pin(MAGSTRIPE.pin))
        swipe_screens = [
            e.summary for e in sim.bus.of(ScreenShown) if e.payload.screen is ScreenId.SWIPE_CARD
        ]
    assert result.approved
    assert any("Swipe failed" in text for text in swipe_screens)


def test_garbage_gpo_falls_back_to_the_stripe(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(
            sim, 3000, insert(GARBAGE_GPO), remove, swipe(GARBAGE_GPO), pin(GARBAGE_GPO.pin)
        )
        assert result.approved, result.outcome.reason
        (request,) = gateway_requests(sim)
        fallback = [e.summary for e in sim.bus.of(ChipFallback)]
    assert request["22"] == "801" and "55" not in request
    assert fallback and "GPO" in fallback[0]


def test_a_card_with_no_common_application_falls_back(tmp_path: Path) -> None:
    # The terminal supports only Visa: the UnionPay chip has nothing for it.
    with simulation(tmp_path) as sim:
        sim.terminal.acquiring_app._emv_config = attrs.evolve(
            sim.terminal.acquiring_app._emv_config,
            aids=sim.terminal.acquiring_app._emv_config.aids[3:4],
        )
        result = run_sale(sim, 1234, insert(DEBIT), remove, swipe(DEBIT), pin(DEBIT.pin))
        (request,) = gateway_requests(sim)
    assert result.approved
    assert request["22"] == "801"


def test_a_blocked_card_does_not_fall_back(tmp_path: Path) -> None:
    text = DEBIT.source.read_text(encoding="utf-8")  # type: ignore[union-attr]
    blocked = tmp_path / "blocked.yaml"
    blocked.write_text(text.replace("pse: true", "pse: true\nblocked: true"), encoding="utf-8")
    card = cards.load(blocked)
    with simulation(tmp_path / "sim") as sim:
        result = run_sale(sim, 1234, insert(card), remove)
        assert gateway_requests(sim) == []
    assert not result.approved and "blocked" in result.outcome.reason


def test_no_swipe_after_a_chip_failure_cancels(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 3000, insert(GARBAGE_GPO), remove)
        assert gateway_requests(sim) == []
    assert not result.approved and "no card was swiped" in result.outcome.reason
