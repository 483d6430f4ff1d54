"""Online PIN end to end: the terminal enciphers the PIN into DE52 under its
PIN key, the gateway verifies it, and the PIN is never written anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from sim_helpers import (
    everything_written,
    gateway_requests,
    insert,
    pin,
    remove,
    run_sale,
    simulation,
    swipe,
)

from simulator.devices import cards
from simulator.devices.card_image import CardImage
from simulator.gateway.ledger import Status
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.journal import TxnState
from simulator.terminal.tracing import ApduExchanged
from simulator.wire.iso8583 import redact_field

CREDIT = cards.load("unionpay_credit")  # CVM list: online PIN, then signature
VISA = cards.load("visa_credit")


def test_de52_is_redacted_in_every_trace() -> None:
    assert redact_field("52", "0123456789ABCDEF") == "[REDACTED]"


@pytest.mark.parametrize("card", [CREDIT, VISA], ids=lambda card: card.name)
def test_right_online_pin_is_approved_and_never_written(card: CardImage, tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 4560, insert(card), pin(card.pin), remove)
        assert result.approved, result.outcome.reason
        (request,) = gateway_requests(sim)
        assert request["22"] == "051"
        assert request["52"] == "[REDACTED]"
        assert "55" in request
        entry = sim.terminal.journal.entries()[-1]
        assert entry.state is TxnState.APPROVED
        assert sim.gateway.ledger.transactions()[-1].status is Status.APPROVED
        assert result.outcome.detail is not None and result.outcome.detail.cvm == "online_pin"
        written = everything_written(sim)
        printer = sim.world.printer
        assert printer is not None
        receipts = [receipt.text for receipt in printer.receipts]
    assert card.pin not in written
    assert card.pan not in written
    assert all("CARDHOLDER SIGNATURE" not in text for text in receipts)
    assert all(card.pin not in text for text in receipts)


def test_wrong_online_pin_is_declined_55_and_the_card_ends_with_an_aac(tmp_path: Path) -> None:
    wrong = "".join(str((int(d) + 1) % 10) for d in CREDIT.pin)
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 4560, insert(CREDIT), pin(wrong), remove)
        assert not result.approved
        assert "55" in result.outcome.reason
        apdus = [e.summary for e in sim.bus.of(ApduExchanged)]
        assert apdus[-1].startswith("GENERATE AC: 80AE00")  # second AC asks for an AAC
        assert sim.terminal.journal.entries()[-1].response_code == "55"
        written = everything_written(sim)
    assert wrong not in written


def test_three_wrong_online_pins_lock_the_card_for_the_day(tmp_path: Path) -> None:
    with simulation(tmp_path) as sim:
        codes = []
        for _ in range(4):
            digits = "000000" if len(codes) < 3 else CREDIT.pin
            run_sale(sim, 1000, insert(CREDIT), pin(digits), remove)
            codes.append(sim.terminal.journal.entries()[-1].response_code)
    assert codes == ["55", "55", "75", "75"]


def test_the_terminal_and_gateway_keys_must_agree(tmp_path: Path) -> None:
    config = TerminalConfig.from_mapping({"keys": {"pin_key": "0123456789ABCDEFFEDCBA9876543210"}})
    with Shop(config, tmp_path) as sim:
        result = run_sale(sim, 1000, insert(CREDIT), pin(CREDIT.pin), remove)
    assert not result.approved
    assert "63" in result.outcome.reason  # the host cannot decipher the block: not checked


def test_signature_cvm_prints_a_signature_line(tmp_path: Path) -> None:
    # Bypassing the online PIN (OK with no digits) falls to the next rule: signature.
    with simulation(tmp_path) as sim:
        result = run_sale(sim, 1000, insert(CREDIT), pin(""), remove)
        assert result.approved, result.outcome.reason
        (request,) = gateway_requests(sim)
        assert "52" not in request
        printer = sim.world.printer
        assert printer is not None
        merchant, customer = (receipt.text for receipt in printer.receipts)
    assert "CARDHOLDER SIGNATURE" in merchant
    assert "CARDHOLDER SIGNATURE" not in customer


def test_magstripe_pin_is_checked_by_the_host(tmp_path: Path) -> None:
    card = cards.load("magstripe_only")
    with simulation(tmp_path) as sim:
        ok = run_sale(sim, 990, swipe(card), pin(card.pin))
        bad = run_sale(sim, 990, swipe(card), pin("000000"))
        written = everything_written(sim)
    assert ok.approved and not bad.approved and "55" in bad.outcome.reason
    assert card.pin not in written
