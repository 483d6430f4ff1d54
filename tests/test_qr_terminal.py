"""The terminal's QR side: the notify receiver and the QR link's signing."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from drivers.clock import RealClock
from drivers.wire.masking import mask_code
from simulator.devices.printer.render.png import render_png
from simulator.errors import ConfigError
from simulator.events import EventBus
from simulator.scenario.loader import load_scenario
from simulator.scenario.runner import run_scenario
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig
from simulator.terminal.display import ScreenId
from simulator.terminal.journal import QrState
from simulator.terminal.notify_receiver import NotifyReceiver
from simulator.terminal.qr_link import (
    SIGNATURE_HEADER,
    QrGatewayUnreachable,
    QrLink,
    redact,
    sign,
)

KEY = "possim-test-merchant-key-0001"
LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"


def _post(url: str, body: bytes, signature: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={SIGNATURE_HEADER: signature}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def receiver() -> Iterator[NotifyReceiver]:
    clock = RealClock()
    made = NotifyReceiver(api_key=KEY, clock=clock, bus=EventBus(clock))
    yield made
    made.close()


def _notify(order: str = "202601151030000001") -> bytes:
    return json.dumps(
        {"event": "TRANSACTION.SUCCESS", "out_trade_no": order, "amount_fen": 1234}
    ).encode()


def test_a_signed_notify_is_kept_once_and_duplicates_are_ignored(receiver: NotifyReceiver) -> None:
    receiver.expect("202601151030000001")
    body = _notify()
    assert _post(receiver.url, body, sign(KEY, body)) == (200, {"code": "SUCCESS"})
    assert _post(receiver.url, body, sign(KEY, body)) == (200, {"code": "SUCCESS"})
    assert receiver.paid("202601151030000001") == json.loads(body)
    assert receiver.duplicates == 1


def test_a_forged_notify_is_rejected_with_401_and_changes_nothing(
    receiver: NotifyReceiver,
) -> None:
    receiver.expect("202601151030000001")
    status, _ = _post(receiver.url, _notify(), "00" * 32)
    assert status == 401
    assert receiver.paid("202601151030000001") is None
    assert receiver.rejected == 1


def test_payment_codes_are_masked_in_events() -> None:
    assert mask_code("134567890123456789") == "**************6789"
    shown = redact({"auth_code": "134567890123456789", "amount_fen": 1})
    assert shown == {"auth_code": "**************6789", "amount_fen": 1}


def test_an_unreachable_gateway_is_a_typed_error() -> None:
    clock = RealClock()
    link = QrLink(
        "http://127.0.0.1:9",
        merchant_id="898310048990001",
        terminal_id="POSSIM01",
        api_key=KEY,
        bus=EventBus(clock),
        timeout=2,
    )
    with pytest.raises(QrGatewayUnreachable):
        link.query("x")


# -- against the built-in gateway (a whole simulation) -------------------------------


def _crc16_ccitt(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, as EMVCo's ID 63 uses: written here, not imported."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def _tags(payload: str) -> dict[str, str]:
    """An independent EMVCo TLV reader: 2-digit ID, 2-digit length, value."""
    tags, position = {}, 0
    while position < len(payload):
        tag, length = payload[position : position + 2], int(payload[position + 2 : position + 4])
        tags[tag] = payload[position + 4 : position + 4 + length]
        assert len(tags[tag]) == length, f"tag {tag} runs past the end"
        position += 4 + length
    return tags


def _simulation(tmp_path: Path) -> Shop:
    sim = Shop(TerminalConfig.load(), tmp_path)
    if sim.terminal.qr_link is None:
        sim.close()
        pytest.skip("the built-in gateway serves no QR API yet")
    return sim


@pytest.mark.system_package("libzbar0")
def test_the_printed_dynamic_qr_scans_back_to_a_valid_emvco_payload(tmp_path: Path) -> None:
    from pyzbar.pyzbar import decode as zbar_decode

    with _simulation(tmp_path) as sim, sim.clock.actor():
        sale = sim.terminal.start_sale(1234, "wechat")
        assert sim.clock.wait_until(lambda: sim.terminal.display.screen.id is ScreenId.SHOW_QR, 60)
        sim.clock.settle()
        printer = sim.world.printer
        assert printer is not None
        slip = printer.receipts[0]
        image = render_png(slip, printer.profile)
        padded = Image.new("L", (image.width + 80, image.height + 80), 255)
        padded.paste(image.convert("L"), (40, 40))
        (symbol,) = [s for s in zbar_decode(padded) if s.type == "QRCODE"]
        payload = symbol.data.decode("utf-8")
        assert payload == sim.terminal.display.screen.lines[-1]
        assert payload[-8:-4] == "6304"
        assert int(payload[-4:], 16) == _crc16_ccitt(payload[:-4].encode("utf-8"))
        tags = _tags(payload)
        assert tags["00"] == "01" and tags["01"] == "12"
        assert tags["53"] == "156" and tags["54"] == "12.34" and tags["58"] == "CN"
        assert any("26" <= tag <= "51" for tag in tags)
        link = sim.terminal.qr_link
        assert link is not None
        link.sim("customer/pay_qr", {"qr_payload": payload, "wallet": "wechat"})
        result = sale.wait(600)
        assert result is not None and result.approved


def test_a_30_second_userpaying_poll_takes_well_under_a_second(tmp_path: Path) -> None:
    with _simulation(tmp_path) as sim, sim.clock.actor():
        started_at = sim.clock.monotonic()
        sale = sim.terminal.start_sale(120000, "scan")
        sim.clock.settle()
        assert sim.world.scanner is not None
        real = time.perf_counter()
        sim.world.scanner.scan("134567890123456789")
        result = sale.wait(600)
        elapsed = time.perf_counter() - real
        assert result is not None and not result.approved, result
        assert "reversed" in result.outcome.reason
        assert sim.clock.monotonic() - started_at >= 30
        assert elapsed < 1.0
        (sale_row,) = sim.terminal.journal.qr_entries()
        assert sale_row.state is QrState.REVOKED


def test_the_qr_gateway_and_merchant_key_come_from_the_config() -> None:
    shipped = TerminalConfig.load()
    assert shipped.qr_gateway == "builtin"
    assert shipped.keys.merchant_api_key == KEY
    assert KEY not in repr(shipped)
    custom = TerminalConfig.from_mapping({"gateway": {"qr": "http://127.0.0.1:8080"}})
    assert custom.qr_gateway == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError, match=r"gateway\.qr"):
        TerminalConfig.from_mapping({"gateway": {"qr": "ftp://x"}})


# Every library scenario that scans a code (the _pty one already runs on a pty).
SCANNING = sorted(
    path
    for path in LIBRARY.glob("qr_*.yaml")
    if "scan_code" in path.read_text(encoding="utf-8") and not path.stem.endswith("_pty")
)


@pytest.mark.parametrize("path", SCANNING, ids=[path.stem for path in SCANNING])
def test_the_pty_scanner_gives_the_same_transcript_as_the_in_process_one(
    path: Path, tmp_path: Path
) -> None:
    scenario = load_scenario(path)
    in_process = run_scenario(scenario, tmp_path / "sim")
    pty = run_scenario(scenario, tmp_path / "pty", scanner_transport="pty")
    assert in_process.passed, in_process.failure_text
    assert pty.passed, pty.failure_text
    assert (in_process.artifacts / "transcript.txt").read_text() == (
        pty.artifacts / "transcript.txt"
    ).read_text()
