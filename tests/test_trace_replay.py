"""Record and replay of device traffic (drivers/traffic, docs/replay.md).

The replay tests run everywhere: pyscard, pcscd, ptys, serial ports and USB are
made unavailable while they run, so a pass proves the traffic came from the
trace. Recording the card needs pcscd + vpcd (system_package markers).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest

from drivers.card_reader import CardReader
from drivers.clock import RealClock
from drivers.errors import DeviceURLError
from drivers.printer import Cut, PrintDocument, Printer, TextLine
from drivers.registry import DeviceContext, registry
from drivers.traffic import replay_scheme
from drivers.traffic.hygiene import KEY_ENV
from drivers.traffic.recording import recording_session
from drivers.traffic.tape import Cursor, Tape
from drivers.traffic.trace import (
    Trace,
    TraceDivergence,
    TraceFormatError,
    TraceRecordingError,
    TraceWriter,
)
from drivers.wire.iso7816 import plaintext_pin_block, read_record
from simulator import cli
from simulator.devices import cards
from simulator.devices.card_image import CardImage
from simulator.pcscd import PrivatePcscd
from simulator.scenario.loader import load_scenario
from simulator.scenario.model import Scenario
from simulator.scenario.runner import ScenarioResult, run_scenario
from simulator.shop import Shop
from simulator.terminal.config import TerminalConfig

REPO = Path(__file__).resolve().parent.parent
TRACES = REPO / "firmware_fixtures" / "traces"
CARD_TRACE = TRACES / "card_purchase" / "card_reader.jsonl"
CARD_PRINTER_TRACE = TRACES / "card_purchase" / "printer.jsonl"
SCANNER_TRACE = TRACES / "qr_wechat" / "scanner.jsonl"
QR_PRINTER_TRACE = TRACES / "qr_wechat" / "printer.jsonl"
WECHAT_CODE = "134567890123456789"


@pytest.fixture(autouse=True)
def replay_scheme_registered() -> None:
    # Also a possim.devices entry point; registering works before a reinstall too.
    replay_scheme.register(registry)


@pytest.fixture
def no_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PC/SC stack, no ptys, no serial ports, no USB: a replay must not need them."""
    import serial
    import usb.core

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a replay opened a real device")

    monkeypatch.setitem(sys.modules, "smartcard", None)
    monkeypatch.setitem(sys.modules, "smartcard.scard", None)
    monkeypatch.setenv("PCSCLITE_CSOCK_NAME", "/nonexistent/pcscd.comm")
    monkeypatch.setattr(os, "openpty", refuse)
    monkeypatch.setattr(serial, "Serial", refuse)
    monkeypatch.setattr(serial, "serial_for_url", refuse)
    monkeypatch.setattr(usb.core, "find", refuse)


def scenario(name: str, terminal: str | Path | None = None) -> Scenario:
    """A library scenario, or (``traces/<folder>``) the copy its fixture traces were
    recorded from -- the library may change, a recording does not."""
    if name.startswith("traces/"):
        path = TRACES / name.removeprefix("traces/") / "scenario.yaml"
    else:
        path = REPO / "scenarios" / name
    loaded = load_scenario(path)
    return loaded if terminal is None else attrs.evolve(loaded, terminal=str(terminal))


def transcript(result: ScenarioResult) -> str:
    return (result.artifacts / "transcript.txt").read_text(encoding="utf-8")


def replay_terminal(tmp_path: Path, template: str, **traces: Path) -> Path:
    """A copy of firmware_fixtures/terminals/<template>.toml with some traces replaced."""
    text = (REPO / "firmware_fixtures" / "terminals" / f"{template}.toml").read_text("utf-8")
    folder = template.removeprefix("replay_")
    for kind, path in traces.items():
        old = f"replay://traces/{folder}/{kind}.jsonl"
        assert old in text
        text = text.replace(old, f"replay://{path}")
    path = tmp_path / f"{template}_edited.toml"
    path.write_text(text, encoding="utf-8")
    return path


def edited(tmp_path: Path, source: Path, edit: Callable[[list[dict[str, object]]], None]) -> Path:
    """``source`` with its messages changed by ``edit`` (a list of JSON objects)."""
    header, *lines = source.read_text(encoding="utf-8").splitlines()
    messages = [json.loads(line) for line in lines]
    edit(messages)
    path = tmp_path / f"edited_{source.name}"
    body = "\n".join([header, *(json.dumps(m) for m in messages)]) + "\n"
    path.write_text(body, encoding="utf-8")
    return path


def message(messages: list[dict[str, object]], n: int) -> dict[str, object]:
    return next(m for m in messages if m["n"] == n)


def open_replay(protocol: type[object], path: Path) -> Any:
    return registry.open(protocol, f"replay://{path}", DeviceContext(clock=RealClock()))


# -- replay without the device --------------------------------------------------------


@pytest.mark.usefixtures("no_devices")
def test_card_purchase_replays_through_the_pcsc_driver_without_a_reader(tmp_path: Path) -> None:
    replayed = run_scenario(scenario("traces/card_purchase"), tmp_path / "r")
    assert replayed.passed, replayed.failure_text
    assert "power on, ATR 3B888001504F5353494D555017" in transcript(replayed)
    # The recording went through pcscd+vpcd, which behaves event for event like the
    # in-process reader (test_pcsc_simulation.py): so must the replay.
    in_process = run_scenario(scenario("traces/card_purchase", "default"), tmp_path / "sim")
    assert transcript(replayed) == transcript(in_process)


@pytest.mark.usefixtures("no_devices")
def test_qr_scan_replays_through_the_serial_driver_without_a_scanner(tmp_path: Path) -> None:
    replayed = run_scenario(scenario("traces/qr_wechat"), tmp_path / "r")
    assert replayed.passed, replayed.failure_text
    in_process = run_scenario(scenario("traces/qr_wechat", "default"), tmp_path / "sim")
    assert transcript(replayed) == transcript(in_process)


def test_record_then_replay_a_qr_sale_over_ptys(tmp_path: Path) -> None:
    traces = tmp_path / "traces"
    with recording_session(traces):
        recorded = run_scenario(
            scenario("qr_wechat.yaml"),
            tmp_path / "rec",
            scanner_transport="pty",
            printer_transport="pty",
        )
    assert recorded.passed, recorded.failure_text
    assert sorted(p.name for p in traces.iterdir()) == ["printer.jsonl", "scanner.jsonl"]
    terminal = replay_terminal(
        tmp_path,
        "replay_qr_wechat",
        scanner=traces / "scanner.jsonl",
        printer=traces / "printer.jsonl",
    )
    replayed = run_scenario(scenario("qr_wechat.yaml", terminal), tmp_path / "replay")
    assert replayed.passed, replayed.failure_text
    assert transcript(replayed) == transcript(recorded)


@pytest.mark.system_package("pcscd")
@pytest.mark.system_package("vpcd-config")
@pytest.mark.system_package("pyscard")
def test_record_then_replay_a_card_purchase_over_pcscd(
    private_pcscd: PrivatePcscd, tmp_path: Path
) -> None:
    traces = tmp_path / "traces"
    with recording_session(traces):
        recorded = run_scenario(
            scenario("card_purchase.yaml"),
            tmp_path / "rec",
            card_transport="pcsc",
            printer_transport="usb",
        )
    assert recorded.passed, recorded.failure_text
    terminal = replay_terminal(
        tmp_path,
        "replay_card_purchase",
        card_reader=traces / "card_reader.jsonl",
        printer=traces / "printer.jsonl",
    )
    replayed = run_scenario(scenario("card_purchase.yaml", terminal), tmp_path / "replay")
    assert replayed.passed, replayed.failure_text
    assert transcript(replayed) == transcript(recorded)


def test_record_parameter_on_a_device_url(tmp_path: Path) -> None:
    path = tmp_path / "printer.jsonl"
    config = TerminalConfig.load("default")
    printer = f"sim://?profile=generic_58mm&transport=tcp&record={path}"
    config = attrs.evolve(config, devices=attrs.evolve(config.devices, printer=printer))
    with Shop(config, tmp_path / "run"):
        pass
    trace = Trace.load(path)
    assert trace.kind == "printer"
    assert trace.header["url"].startswith("tcp://127.0.0.1:")
    assert "record" not in trace.header["url"]
    assert [m.op for m in trace][:2] == ["write", "read"]  # the status check on opening


def test_record_parameter_needs_a_transport_to_tap(tmp_path: Path) -> None:
    config = TerminalConfig.load("default")
    printer = f"sim://?profile=generic_58mm&record={tmp_path / 'p.jsonl'}"
    config = attrs.evolve(config, devices=attrs.evolve(config.devices, printer=printer))
    with pytest.raises(TraceRecordingError, match="real transports"):
        Shop(config, tmp_path / "run")


# -- divergence -----------------------------------------------------------------------


def _change_afl(messages: list[dict[str, object]]) -> None:
    # GPO response: AFL 08 01 01 00 (SFI 1, record 1) -> 08 01 02 00 (records 1-2).
    gpo = message(messages, 13)
    assert gpo["hex"] == "770E82021800940808010100100102009000"
    gpo["hex"] = "770E82021800940808010200100102009000"


def _change_select(messages: list[dict[str, object]]) -> None:
    select = message(messages, 10)
    select["hex"] = str(select["hex"]).replace("A000000333010101", "A000000333010102")


def _drop_read_record(messages: list[dict[str, object]]) -> None:
    messages[:] = [m for m in messages if m["n"] not in (6, 7)]


@pytest.mark.usefixtures("no_devices")
@pytest.mark.parametrize(
    ("edit", "index", "expected", "actual"),
    [
        (_change_afl, 16, "READ RECORD SFI 2 record 1", "READ RECORD SFI 1 record 2"),
        (_change_select, 10, "A000000333010102", "A000000333010101"),
        (_drop_read_record, 8, "READ RECORD SFI 1 record 2", "READ RECORD SFI 1 record 1"),
    ],
    ids=["one-response-byte", "one-command", "dropped-exchange"],
)
def test_an_edited_card_trace_diverges_at_the_first_different_exchange(
    tmp_path: Path,
    edit: Callable[[list[dict[str, object]]], None],
    index: int,
    expected: str,
    actual: str,
) -> None:
    trace = edited(tmp_path, CARD_TRACE, edit)
    terminal = replay_terminal(tmp_path, "replay_card_purchase", card_reader=trace)
    result = run_scenario(scenario("traces/card_purchase", terminal), tmp_path / "run")
    assert not result.passed
    text = result.failure_text
    assert f"TraceDivergence: {trace}: traffic diverges from the trace at exchange {index}:" in text
    assert "internal error" not in text  # a replay mismatch is a failure, not a bug in possim
    expected_line = next(line for line in text.splitlines() if "expected:" in line)
    actual_line = next(line for line in text.splitlines() if "actual:" in line)
    assert f"#{index} transmit out" in expected_line and expected in expected_line
    assert f"#{index} transmit out" in actual_line and actual in actual_line


def test_a_replayed_reader_raises_trace_divergence_for_another_command() -> None:
    reader = open_replay(CardReader, CARD_TRACE)
    assert reader.wait_for_card(1.0) is not None
    assert reader.connect().hex().upper() == "3B888001504F5353494D555017"
    trace = Trace.load(CARD_TRACE)
    select = bytes.fromhex(trace.messages[4].hex)
    assert reader._transmit_raw(select) == bytes.fromhex(trace.messages[5].hex)
    with pytest.raises(TraceDivergence) as caught:
        reader._transmit_raw(read_record(1, 2))  # the trace has SFI 1 record 1 next
    assert caught.value.index == 6
    assert "READ RECORD SFI 1 record 1" in caught.value.expected
    assert "READ RECORD SFI 1 record 2" in caught.value.actual
    assert str(pickle.loads(pickle.dumps(caught.value))) == str(caught.value)
    reader.close()  # quiet: the divergence was reported


def test_a_replayed_reader_reports_missing_and_extra_exchanges(tmp_path: Path) -> None:
    trace = Trace.load(CARD_TRACE)
    reader = open_replay(CardReader, CARD_TRACE)
    assert reader.wait_for_card(1.0) is not None
    reader.connect()
    with pytest.raises(TraceDivergence) as missing:
        reader.close()  # 24 APDUs recorded after connect never happened
    assert missing.value.index == 4
    assert "SELECT 1PAY.SYS.DDF01" in missing.value.expected

    short = edited(tmp_path, CARD_TRACE, lambda ms: ms.__delitem__(slice(6, None)))
    reader = open_replay(CardReader, short)
    assert reader.wait_for_card(1.0) is not None
    reader.connect()
    reader._transmit_raw(bytes.fromhex(trace.messages[4].hex))
    with pytest.raises(TraceDivergence) as extra:
        reader._transmit_raw(bytes.fromhex(trace.messages[6].hex))
    assert extra.value.expected == "(end of trace)"
    assert extra.value.index == 6


def test_a_replayed_printer_raises_trace_divergence_for_another_job() -> None:
    printer = open_replay(Printer, CARD_PRINTER_TRACE)  # status check: #0-#3
    with pytest.raises(TraceDivergence) as caught:
        # Its status check (#4-#7) is as recorded; then the terminal checked the status
        # once more before the receipt (#8), where this job goes out instead.
        printer.print_document(PrintDocument("other", (TextLine("not the receipt"), Cut())))
    assert caught.value.index == 8
    assert "DLE EOT status 1" in caught.value.expected
    assert "#8 write out 1B40" in caught.value.actual and "GS V cut" in caught.value.actual
    printer.close()


def test_an_edited_status_reply_diverges_when_the_printer_opens(tmp_path: Path) -> None:
    def offline(messages: list[dict[str, object]]) -> None:
        assert message(messages, 1)["hex"] == "12"
        message(messages, 1)["hex"] = "1A"  # DLE EOT 1: offline

    trace = edited(tmp_path, CARD_PRINTER_TRACE, offline)
    with pytest.raises(TraceDivergence) as caught:
        open_replay(Printer, trace)
    # Offline makes the driver ask why (DLE EOT 2, after the paper sensor's DLE EOT 4)
    # where the recorded driver went on to the next status check.
    assert caught.value.index == 4
    assert "#4 write out 100401" in caught.value.expected
    assert "#4 write out 100402" in caught.value.actual


# -- the format ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", [CARD_TRACE, CARD_PRINTER_TRACE, SCANNER_TRACE, QR_PRINTER_TRACE])
def test_fixture_traces_round_trip(path: Path) -> None:
    trace = Trace.load(path)
    again = Trace.parse(trace.dumps(), path)
    assert again == trace
    assert trace.dumps() == path.read_text(encoding="utf-8")
    assert {"possim_version", "recorded_at", "url", "kind"} <= set(trace.header)


def test_written_messages_read_back(tmp_path: Path) -> None:
    writer = TraceWriter(tmp_path / "t.jsonl", {"kind": "printer", "url": "tcp://h:9100"})
    writer.add("write", "out", "1B40", "ESC @ init (2 bytes)", t=0.5)
    writer.add("read", "in", "12", "status 0x12", error=False)
    writer.close()
    trace = Trace.load(tmp_path / "t.jsonl")
    assert [(m.n, m.op, m.dir, m.data(), m.summary) for m in trace] == [
        (0, "write", "out", b"\x1b@", "ESC @ init (2 bytes)"),
        (1, "read", "in", b"\x12", "status 0x12"),
    ]
    assert trace.messages[0].extra == {"t": 0.5}
    assert trace.messages[1].extra == {"error": False}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty trace"),
        ('{"kind": "printer"}\n', ":1: not a possim trace"),
        ('{"possim_trace": 1, "kind": "printer"}\nnot json\n', ":2: not JSON"),
        ('{"possim_trace": 1, "kind": "printer"}\n{"op": "write", "dir": "up"}\n', ":2: field dir"),
    ],
)
def test_a_malformed_trace_names_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(TraceFormatError, match=problem) as caught:
        Trace.parse(text, "bad.jsonl")
    assert str(caught.value).startswith("bad.jsonl")


def test_replay_urls_are_checked() -> None:
    with pytest.raises(TraceFormatError, match="a card_reader trace cannot replay a printer"):
        open_replay(Printer, CARD_TRACE)
    with pytest.raises(TraceFormatError, match="no such trace file"):
        registry.open(Printer, "replay://traces/nope.jsonl", DeviceContext())
    with pytest.raises(DeviceURLError, match="takes no parameters"):
        registry.open(Printer, f"replay://{CARD_TRACE}?x=1", DeviceContext())


# -- hygiene ---------------------------------------------------------------------------


def _secrets(card: CardImage) -> list[str]:
    block = plaintext_pin_block(card.pin).hex().upper()
    track2 = card.track2.upper()
    return [card.pan, f"{card.pan}D", track2, track2.replace("=", "D"), block, card.pin]


@pytest.mark.parametrize("path", [CARD_TRACE, CARD_PRINTER_TRACE, SCANNER_TRACE, QR_PRINTER_TRACE])
def test_traces_hold_no_pin_pan_or_track2(path: Path) -> None:
    text = path.read_text(encoding="utf-8").upper()
    for secret in [*_secrets(cards.load("unionpay_debit")), WECHAT_CODE]:
        assert secret not in text
    if path == CARD_TRACE:
        assert "621483******3655" in text  # the PAN shows masked, first 6 / last 4
        verify = next(m for m in Trace.load(path) if m.summary.startswith("VERIFY"))
        assert verify.hex == "0020008008" + "*" * 16 and "digest" in verify.extra


@pytest.mark.usefixtures("no_devices")
def test_a_wrong_pin_block_diverges_without_showing_it(tmp_path: Path) -> None:
    def other_pin(messages: list[dict[str, object]]) -> None:
        verify = next(m for m in messages if str(m["summary"]).startswith("VERIFY"))
        verify["digest"] = "0" * 64

    trace = edited(tmp_path, CARD_TRACE, other_pin)
    terminal = replay_terminal(tmp_path, "replay_card_purchase", card_reader=trace)
    result = run_scenario(scenario("traces/card_purchase", terminal), tmp_path / "run")
    assert not result.passed
    text = result.failure_text
    assert "digest mismatch" in text and "VERIFY (plaintext PIN)" in text
    for secret in _secrets(cards.load("unionpay_debit")):
        assert secret not in text.upper()


def test_a_divergence_at_a_sealed_response_shows_it_masked(tmp_path: Path) -> None:
    trace = Trace.load(CARD_TRACE)
    sealed = next(m for m in trace if "sealed" in m.extra)
    dropped = edited(tmp_path, CARD_TRACE, lambda ms: ms.remove(message(ms, sealed.n - 1)))
    reader = open_replay(CardReader, dropped)
    assert reader.wait_for_card(1.0) is not None
    reader.connect()
    for number in range(4, sealed.n - 1, 2):
        reader._transmit_raw(bytes.fromhex(trace.messages[number].hex))
    with pytest.raises(TraceDivergence) as caught:
        reader._transmit_raw(bytes.fromhex(trace.messages[sealed.n - 1].hex))
    assert caught.value.index == sealed.n
    assert "621483******3655" in str(caught.value)
    for secret in _secrets(cards.load("unionpay_debit")):
        assert secret not in str(caught.value).upper()
    reader.close()


def test_sealing_with_a_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "11" * 32)
    tape = Tape(tmp_path / "t.jsonl", "card_reader", "pcsc://", RealClock(), {})
    tape.add_sealed("transmit", "in", b"\x5a\x01\x99\x90\x00", "5A01**9000", "sealed")
    tape.close()
    text = (tmp_path / "t.jsonl").read_text(encoding="utf-8")
    assert "11" * 32 not in text and f"env:{KEY_ENV}" in text
    assert Cursor(Trace.load(tmp_path / "t.jsonl")).payload(
        Trace.load(tmp_path / "t.jsonl").messages[0]
    ) == bytes.fromhex("5A01999000")
    monkeypatch.setenv(KEY_ENV, "22" * 32)
    with pytest.raises(TraceFormatError, match="not the key"):
        Cursor(Trace.load(tmp_path / "t.jsonl"))
    monkeypatch.delenv(KEY_ENV)
    with pytest.raises(TraceFormatError, match="set it to the key"):
        Cursor(Trace.load(tmp_path / "t.jsonl"))


def test_possim_trace_show_prints_a_redacted_trace(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["trace", "show", str(CARD_TRACE)]) == 0
    out = capsys.readouterr().out
    assert "SELECT 1PAY.SYS.DDF01" in out and "VERIFY (plaintext PIN)" in out
    assert cards.load("unionpay_debit").pan not in out


def test_trace_errors_are_one_line_for_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A trace error is not a SimulatorError (drivers import nothing of the simulator):
    # the commands still print it as the one line a user acts on, and go on.
    missing = replay_terminal(tmp_path, "replay_card_purchase", card_reader=tmp_path / "no.jsonl")
    text = (TRACES / "card_purchase" / "scenario.yaml").read_text(encoding="utf-8")
    path = tmp_path / "s.yaml"
    path.write_text(text.replace("terminal: replay_card_purchase", f"terminal: {missing}"), "utf-8")
    assert cli.main(["run", str(path), "--out", str(tmp_path / "out")]) != 0
    assert f"cannot run: {tmp_path / 'no.jsonl'}: no such trace file" in capsys.readouterr().out
    (tmp_path / "bad.jsonl").write_text("not json\n", encoding="utf-8")
    assert cli.main(["trace", "show", str(tmp_path / "bad.jsonl")]) == 2
    assert f"ERROR {tmp_path / 'bad.jsonl'}:1: not JSON" in capsys.readouterr().err
