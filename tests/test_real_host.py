"""Foreign ISO 8583 hosts: framing options, the X9.19 MAC, the terminal end to end
against a host configured like a real one, and ``possim fleet``."""

from __future__ import annotations

import json
import pickle
import random
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sim_helpers import WIND_DOWN

from drivers.clock import RealClock
from drivers.params import reference_table
from simulator import cli
from simulator.clock import VirtualClock
from simulator.devices import cards
from simulator.devices.world import SimulatedWorld
from simulator.errors import ConfigError, Iso8583Error
from simulator.events import EventBus
from simulator.fleet.plan import terminal_ids
from simulator.fleet.report import percentile
from simulator.gateway.builtin import BuiltinGateway
from simulator.gateway.ledger import Ledger
from simulator.gateway.server import HostIsoMessage
from simulator.terminal.config import ENDPOINT_PARAMS, HostEndpoint, TerminalConfig
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.terminal import Terminal
from simulator.wire.iso8583 import ASCII_HEADER, Framing, Iso8583Codec, Iso8583Spec, swapped_tpdu
from simulator.wire.mac import MacError, MessageMac, parse_mac_key, retail_mac

REPO = Path(__file__).resolve().parent.parent

MAC_KEY_HEX = "0123456789ABCDEFFEDCBA9876543210"  # a TEST key (the X9.19 vector's)
MAC_KEY = bytes.fromhex(MAC_KEY_HEX)
TPDU = bytes.fromhex("6000030000")
CODEC = Iso8583Codec(Iso8583Spec.load())
SOCKET_TIMEOUT = 10.0

# ANSI X9.19 known answers: Botan's x919_mac.vec (src/tests/data/mac), double-length keys.
X919_VECTORS = [
    (
        "0123456789ABCDEFFEDCBA9876543210",
        "31311C3931383237333634351C1C35383134333237361C1C3B31323334353637383930313233"
        "3435363D3939313231303030303F1C30303031323530301C393738363533343132343837363932331C",
        "C209CCB78EE1B606",
    ),
    (
        "4061610D85685DB0F4D9F1C8FE15A123",
        "33303030303230313935435553543031202020205520202020202020202020202020202020202020"
        "54303253454154504152594742324C54535435534F41413139393530323237313333393434303030"
        "3020202020202020202020202020333030303031304139354558413030303030333144",
        "DBE9EB0FA03838D2",
    ),
]


def magstripe_purchase(stan: str = "000001", tid: str = "POS00001") -> dict[str, str]:
    return {
        "t": "0200",
        "2": "6214830027183655",
        "3": "000000",
        "4": "000000001200",
        "7": "1125103000",
        "11": stan,
        "12": "103000",
        "13": "1125",
        "22": "021",
        "35": "6214830027183655=30122011234567800000",
        "41": tid,
        "42": "898440154110001",
        "49": "156",
    }


# -- codec errors --------------------------------------------------------------------


def test_codec_errors_name_the_field_at_fault() -> None:
    # pyiso8583's EncodeError/DecodeError carry the field; so does Iso8583Error, and it
    # survives pickling (a fleet worker reports it to its parent).
    codec = Iso8583Codec(Iso8583Spec.load())
    with pytest.raises(Iso8583Error) as encoding:
        codec.encode({"t": "0200", "11": "1234567"})  # DE11 (STAN) is 6 digits
    assert encoding.value.field == "11" and "field 11" in str(encoding.value)
    raw = codec.encode({"t": "0200", "4": "000000001234", "11": "000001"})
    with pytest.raises(Iso8583Error) as decoding:
        codec.decode(raw[:-3])  # cut inside DE11
    assert decoding.value.field == "11"
    copy = pickle.loads(pickle.dumps(decoding.value))
    assert (type(copy), str(copy), copy.field) == (Iso8583Error, str(decoding.value), "11")
    with pytest.raises(Iso8583Error) as framing:
        swapped_tpdu(b"\x60\x00")
    assert framing.value.field is None


# -- framing -------------------------------------------------------------------------


def test_tpdu_swap_exchanges_destination_and_source() -> None:
    assert swapped_tpdu(bytes.fromhex("6000030012")) == bytes.fromhex("6000120003")
    with pytest.raises(Iso8583Error):
        swapped_tpdu(b"\x60\x00")


def test_ascii_length_header_frames_and_reads_back() -> None:
    framing = Framing(5, ASCII_HEADER)
    frame = framing.frame(b"0800hello", TPDU)
    assert frame[:4] == b"0014" and frame[4:9] == TPDU
    left, right = socket.socketpair()
    with left, right:
        left.sendall(frame)
        body = framing.read_frame(right)
    assert body is not None and framing.split(body) == (TPDU, b"0800hello")
    assert framing.body_length(b"0123") == 123
    with pytest.raises(Iso8583Error, match="4 ASCII digits"):
        framing.body_length(b"12a4")
    with pytest.raises(Iso8583Error, match="does not fit"):
        framing.frame(bytes(9996), TPDU)
    with pytest.raises(Iso8583Error, match="length header"):
        Framing(0, "bcd")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("iso8583://127.0.0.1:5800?header=3", "header='3'; expected one of 2, 4, binary, ascii"),
        ("iso8583://127.0.0.1:5800?mac=cbc", "mac='cbc'; expected one of x919"),
        ("iso8583://127.0.0.1:5800?mac_key=00", "unknown parameter 'mac_key'.*known: header"),
        ("iso8583://127.0.0.1:5800?tpdu=6Z", "tpdu='6Z': expected hex digits"),
    ],
)
def test_bad_host_urls_are_refused(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        HostEndpoint.parse(url)


def test_docs_real_hosts_md_lists_the_declared_parameters() -> None:
    """The table a person reads is the declarations the parser uses (no second copy)."""
    page = (REPO / "docs" / "real_hosts.md").read_text(encoding="utf-8")
    assert reference_table(ENDPOINT_PARAMS) in page


def test_a_host_url_with_every_option() -> None:
    endpoint = HostEndpoint.parse("iso8583://10.0.0.5:6000?tpdu=6000030000&header=4&mac=x919")
    assert (endpoint.host, endpoint.port, endpoint.tpdu, endpoint.mac) == (
        "10.0.0.5",
        6000,
        TPDU,
        "x919",
    )
    assert endpoint.framing() == Framing(5, ASCII_HEADER)


def test_a_mac_host_needs_a_mac_key_and_keys_stay_out_of_reprs() -> None:
    gateway = {"card": "iso8583://127.0.0.1:5800?mac=x919"}
    with pytest.raises(ConfigError, match=r"keys\.mac_key"):
        TerminalConfig.from_mapping({"gateway": gateway})
    config = TerminalConfig.from_mapping({"gateway": gateway, "keys": {"mac_key": MAC_KEY_HEX}})
    assert config.keys.mac_key_bytes == MAC_KEY
    assert MAC_KEY_HEX not in repr(config)
    assert MAC_KEY_HEX.lower() not in repr(MessageMac(CODEC, MAC_KEY)).lower()
    with pytest.raises(ConfigError, match="equal halves"):
        TerminalConfig.from_mapping({"keys": {"mac_key": "11" * 8 * 2}})


# -- MAC -------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "data", "mac"), X919_VECTORS)
def test_retail_mac_known_answers(key: str, data: str, mac: str) -> None:
    assert retail_mac(bytes.fromhex(key), bytes.fromhex(data)).hex().upper() == mac


def test_message_mac_covers_the_message_up_to_de64() -> None:
    message_mac = MessageMac(CODEC, MAC_KEY)
    raw = message_mac.encode(magstripe_purchase())
    fields = CODEC.decode(raw)
    assert fields["64"] == retail_mac(MAC_KEY, raw[:-8]).hex().upper()
    message_mac.verify(raw, fields)
    # Any changed byte before the MAC breaks it; so does another key.
    tampered = raw.replace(b"000000001200", b"000000001300")
    with pytest.raises(MacError, match="does not verify"):
        message_mac.verify(tampered, CODEC.decode(tampered))
    with pytest.raises(MacError, match="does not verify"):
        MessageMac(CODEC, bytes(reversed(MAC_KEY))).verify(raw, fields)
    with pytest.raises(MacError, match="no MAC"):
        message_mac.verify(CODEC.encode(magstripe_purchase()), magstripe_purchase())


@settings(max_examples=60, deadline=None)
@given(stan=st.integers(0, 999_999), amount=st.integers(1, 10**9), flip=st.data())
def test_any_changed_byte_before_the_mac_is_caught(stan: int, amount: int, flip: Any) -> None:
    message_mac = MessageMac(CODEC, MAC_KEY)
    request = {**magstripe_purchase(f"{stan:06d}"), "4": f"{amount:012d}"}
    raw = message_mac.encode(request)
    message_mac.verify(raw, CODEC.decode(raw))
    index = flip.draw(st.integers(0, len(raw) - 9), label="byte")
    bit = flip.draw(st.integers(0, 7), label="bit")
    tampered = raw[:index] + bytes([raw[index] ^ (1 << bit)]) + raw[index + 1 :]
    try:
        fields = CODEC.decode(tampered)
    except Iso8583Error:
        return  # no longer a message at all: nothing to verify
    with pytest.raises(MacError):
        message_mac.verify(tampered, fields)


def test_a_message_with_a_secondary_bitmap_carries_its_mac_in_de128() -> None:
    message_mac = MessageMac(CODEC, MAC_KEY)
    request = {**magstripe_purchase(), "t": "0400", "90": "0200000001" + "0" * 32}
    raw = message_mac.encode(request)
    fields = CODEC.decode(raw)
    assert "128" in fields and "64" not in fields
    message_mac.verify(raw, fields)


def test_mac_keys_are_checked_without_being_repeated() -> None:
    with pytest.raises(MacError) as error:
        parse_mac_key("0123456789ABCDEF")
    assert "0123456789ABCDEF" not in str(error.value)
    with pytest.raises(MacError, match="hex"):
        parse_mac_key("zz" * 16)


# -- the built-in gateway as a foreign host ------------------------------------------


@attrs.define
class ForeignHost:
    gateway: BuiltinGateway
    bus: EventBus
    port: int

    def exchange(self, raw_message: bytes, framing: Framing, tpdu: bytes) -> tuple[bytes, bytes]:
        """Send one message; the reply's (TPDU, message)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=SOCKET_TIMEOUT) as sock:
            sock.sendall(framing.frame(raw_message, tpdu))
            body = framing.read_frame(sock)
        assert body is not None
        return framing.split(body)


@pytest.fixture
def foreign_host(tmp_path: Path) -> Iterator[ForeignHost]:
    """The built-in gateway with a 4-digit ASCII header, a swapped TPDU and X9.19 MACs."""
    clock = RealClock()
    bus = EventBus(clock)
    gateway = BuiltinGateway(
        tmp_path / "ledger.sqlite",
        clock=clock,
        bus=bus,
        rng=random.Random(1),
        tpdu_length=5,
        length_header=ASCII_HEADER,
        tpdu_swap=True,
        mac_key=MAC_KEY,
    )
    _, port = gateway.start()
    try:
        yield ForeignHost(gateway, bus, port)
    finally:
        gateway.stop()


def test_the_foreign_host_answers_with_a_swapped_tpdu_and_a_good_mac(
    foreign_host: ForeignHost,
) -> None:
    message_mac = MessageMac(CODEC, MAC_KEY)
    tpdu, reply_raw = foreign_host.exchange(
        message_mac.encode(magstripe_purchase()), Framing(5, ASCII_HEADER), TPDU
    )
    assert tpdu == bytes.fromhex("6000000003")
    reply = CODEC.decode(reply_raw)
    message_mac.verify(reply_raw, reply)
    assert (reply["t"], reply["39"]) == ("0210", "00")
    assert len(foreign_host.gateway.ledger) == 1


@pytest.mark.parametrize("how", ["wrong key", "no MAC"])
def test_a_bad_mac_is_refused_with_a0_and_never_charged(
    foreign_host: ForeignHost, how: str
) -> None:
    request = magstripe_purchase()
    if how == "wrong key":
        raw = MessageMac(CODEC, bytes(reversed(MAC_KEY))).encode(request)
    else:
        raw = CODEC.encode(request)
    _, reply_raw = foreign_host.exchange(raw, Framing(5, ASCII_HEADER), TPDU)
    reply = CODEC.decode(reply_raw)
    assert (reply["t"], reply["39"], reply["11"]) == ("0210", "A0", "000001")
    assert "64" not in reply  # unsigned: the host shares no key with this sender
    MessageMac(CODEC, MAC_KEY).verify_reply(reply_raw, reply)
    with pytest.raises(MacError, match="no MAC"):
        MessageMac(CODEC, MAC_KEY).verify_reply(reply_raw, {**reply, "39": "00"})
    assert len(foreign_host.gateway.ledger) == 0
    notes = [e.payload.note or "" for e in foreign_host.bus.of(HostIsoMessage)]
    assert any("refused (A0)" in note for note in notes)


def test_an_untraced_host_answers_without_message_events(tmp_path: Path) -> None:
    clock = RealClock()
    bus = EventBus(clock)
    gateway = BuiltinGateway(
        tmp_path / "ledger.sqlite", clock=clock, bus=bus, rng=random.Random(1), trace=False
    )
    _, port = gateway.start()
    try:
        host = ForeignHost(gateway, bus, port)
        _, reply_raw = host.exchange(CODEC.encode(magstripe_purchase()), Framing(), b"")
    finally:
        gateway.stop()
    assert CODEC.decode(reply_raw)["39"] == "00"
    assert not bus.of(HostIsoMessage) and not bus.of(LinkIsoMessage)


def test_mac_key_never_reaches_events(foreign_host: ForeignHost) -> None:
    message_mac = MessageMac(CODEC, MAC_KEY)
    foreign_host.exchange(message_mac.encode(magstripe_purchase()), Framing(5, ASCII_HEADER), TPDU)
    text = json.dumps([event.to_json() for event in foreign_host.bus.events])
    assert "iso8583" in text
    assert MAC_KEY_HEX not in text.upper()
    assert MAC_KEY_HEX[:16] not in text.upper() and MAC_KEY_HEX[16:] not in text.upper()


# -- a terminal configured for a foreign host, end to end ------------------------------


def foreign_config(port: int, mac_key: str) -> TerminalConfig:
    return TerminalConfig.from_mapping(
        {
            "gateway": {"card": f"iso8583://127.0.0.1:{port}?tpdu=6000030000&header=4&mac=x919"},
            "keys": {"mac_key": mac_key},
        }
    )


def card_sale(
    tmp_path: Path, terminal_mac_key: str, amount_fen: int = 12_300
) -> tuple[bool, str, BuiltinGateway, str]:
    """A chip purchase by a terminal whose [gateway] card names a foreign-style host."""
    clock = VirtualClock()
    bus = EventBus(clock)
    world = SimulatedWorld(clock)
    gateway = BuiltinGateway(
        tmp_path / "ledger.sqlite",
        clock=clock,
        bus=bus,
        rng=random.Random(1),
        tpdu_length=5,
        length_header=ASCII_HEADER,
        tpdu_swap=True,
        mac_key=MAC_KEY,
    )
    _, port = gateway.start()
    config = foreign_config(port, terminal_mac_key)
    card = cards.load("unionpay_debit")
    try:
        terminal = Terminal(
            config,
            clock=clock,
            bus=bus,
            rng=random.Random(0),
            workdir=tmp_path,
            host=config.host_endpoint(),
            simulation=world,
        )
        try:
            with clock.actor():
                sale = terminal.start_sale(amount_fen)
                clock.settle()
                assert world.card_slot is not None and world.pin_pad is not None
                world.card_slot.insert(world.card(card))
                clock.settle()
                if world.pin_pad.awaiting_pin:
                    world.pin_pad.type_pin(card.pin)
                    clock.settle()
                world.card_slot.remove()
                result = sale.wait(WIND_DOWN)
            assert result is not None
        finally:
            terminal.close()
    finally:
        gateway.stop()
    transcript = json.dumps([event.to_json() for event in bus.events])
    return result.approved, result.outcome.reason or "", gateway, transcript


def test_a_terminal_buys_from_a_foreign_host_configuration(tmp_path: Path) -> None:
    approved, reason, gateway, transcript = card_sale(tmp_path, MAC_KEY_HEX)
    assert approved, reason
    with Ledger(gateway.ledger.path, RealClock()) as ledger:
        assert [entry.status.value for entry in ledger.transactions()] == ["approved"]
    assert MAC_KEY_HEX not in transcript.upper()


def test_an_unanswered_purchase_is_reversed_with_a_de128_mac(tmp_path: Path) -> None:
    # .68: the host stays silent; the terminal times out and sends a 0400 with DE90,
    # so a secondary bitmap and the MAC in DE128 -- which the host verifies.
    approved, reason, gateway, transcript = card_sale(tmp_path, MAC_KEY_HEX, 12_368)
    assert not approved and "reversed" in reason
    with Ledger(gateway.ledger.path, RealClock()) as ledger:
        assert [entry.status.value for entry in ledger.transactions()] == ["unanswered"]
    events = json.loads(transcript)
    gateway_events = [e for e in events if e["source"] == "gateway" and e["kind"] == "iso8583"]
    reversal = next(e for e in gateway_events if e["detail"]["mti"] == "0400")
    assert reversal["detail"]["fields"]["128"]["value"] != ""  # present, and redacted
    assert "64" not in reversal["detail"]["fields"]
    answer = next(e for e in gateway_events if e["detail"]["mti"] == "0410")
    assert answer["detail"]["fields"]["39"]["value"] == "00"
    refusals = [e for e in events if "refused (A0)" in str(e["detail"].get("note", ""))]
    assert refusals == []


def test_a_terminal_with_the_wrong_mac_key_is_refused(tmp_path: Path) -> None:
    approved, reason, gateway, _ = card_sale(tmp_path, "FEDCBA98765432100123456789ABCDEF")
    assert not approved
    assert "A0" in reason
    with Ledger(gateway.ledger.path, RealClock()) as ledger:
        assert len(ledger) == 0


# -- possim fleet ----------------------------------------------------------------------


def test_terminal_ids_are_distinct_and_eight_characters() -> None:
    ids = terminal_ids(120, "FLT")
    assert len(set(ids)) == 120 and {len(tid) for tid in ids} == {8}
    assert ids[0] == "FLT00001"


def test_percentile_is_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert (percentile(samples, 0.5), percentile(samples, 0.99)) == (50.0, 99.0)
    assert percentile([3.0], 0.99) == 3.0


def test_fleet_command_against_a_foreign_host(
    foreign_host: ForeignHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "mac.key"
    key_file.write_text(MAC_KEY_HEX + "\n", encoding="ascii")
    url = f"iso8583://127.0.0.1:{foreign_host.port}?tpdu=6000030000&header=4&mac=x919"
    code = cli.main(
        [
            "fleet",
            "--host",
            url,
            "--terminals",
            "6",
            "--transactions",
            "3",
            "--mac-key-file",
            str(key_file),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "planned: 18, sent: 18, answered: 18, approved: 18, lost: 0, mismatched: 0" in out
    assert "response codes: 00 x18" in out
    assert MAC_KEY_HEX not in out and "6214830027183655" not in out
    entries = foreign_host.gateway.ledger.transactions()
    assert len(entries) == 18
    assert {entry.tid for entry in entries} == set(terminal_ids(6))


def test_fleet_with_the_wrong_key_reports_refusals(
    foreign_host: ForeignHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "mac.key"
    key_file.write_text("FEDCBA98765432100123456789ABCDEF", encoding="ascii")
    url = f"iso8583://127.0.0.1:{foreign_host.port}?tpdu=6000030000&header=4&mac=x919"
    args = ["fleet", "--host", url, "--terminals", "2", "--transactions", "1"]
    code = cli.main([*args, "--mac-key-file", str(key_file)])
    out = capsys.readouterr().out
    assert code == 0, out  # every request answered: refusals are answers
    assert "approved: 0, lost: 0" in out and "response codes: A0 x2" in out
    assert len(foreign_host.gateway.ledger) == 0


def test_fleet_against_nothing_loses_everything(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connections are refused
        code = cli.main(
            [
                *("fleet", "--host", f"iso8583://127.0.0.1:{port}"),
                *("--terminals", "3", "--transactions", "2", "--timeout", "5"),
            ]
        )
    out = capsys.readouterr().out
    assert code == 1
    assert "planned: 6, sent: 6, answered: 0" in out and "lost: 6" in out


def test_fleet_options_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["fleet", "--host", "iso8583://127.0.0.1:1?mac=x919"])
    assert code == 2
    assert "--mac-key-file" in capsys.readouterr().err


def test_gateway_serve_refuses_a_bad_mac_key_file_without_echoing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "tak.hex"
    key_file.write_text("0123456789ABCDEF0123456789ABCDEF", encoding="ascii")  # equal halves
    ledger = tmp_path / "ledger.sqlite"
    args = ["gateway", "serve", "--iso8583-port", "0", "--qr-port", "0", "--ledger", str(ledger)]
    assert cli.main([*args, "--mac-key-file", str(key_file)]) == 2
    err = capsys.readouterr().err
    assert "equal halves" in err and "0123456789ABCDEF" not in err
    assert cli.main([*args, "--mac-key-file", str(tmp_path / "missing")]) == 2
    assert "cannot read --mac-key-file" in capsys.readouterr().err
