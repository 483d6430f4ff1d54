"""The acquirer host: its decisions (AcquirerHost) and its TCP server.

Requests are built here with plain pyiso8583 and the ARQCs computed with
simulator.wire.cryptogram, as a card and a terminal would -- the host is
checked against the wire, not against its own helpers.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import iso8583
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.clock import Clock, RealClock
from drivers.wire import ber_tlv as tlv
from simulator.clock import VirtualClock
from simulator.errors import SimulatorError
from simulator.events import EventBus, Problem
from simulator.gateway.acquirer import AcquirerHost
from simulator.gateway.issuers import IssuerDirectory
from simulator.gateway.ledger import Ledger, Status
from simulator.gateway.magic import MagicAmounts
from simulator.gateway.problems import GatewayProblem
from simulator.gateway.server import GatewayServer, HostIsoMessage, NoReply
from simulator.wire import cryptogram
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec

PAN = "6214830027183655"
PSN = "01"
IMK_AC = bytes.fromhex("0123456789ABCDEFFEDCBA9876543210")
TRACK2 = f"{PAN}D30122011234567800000"
TID = "POS00001"
MID = "898440154110001"
DE7 = "0115103000"
SOCKET_TIMEOUT = 10.0

SPEC: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "firmware_fixtures/iso8583/possim_ascii.json").read_text(
        encoding="utf-8"
    )
)["fields"]


# -- a card and a terminal, by hand ----------------------------------------------


def card_tags(amount_fen: int, atc: int = 1) -> dict[str, bytes]:
    """What a terminal gets back from GENERATE AC (plus the terminal's own data)."""
    return {
        "9F02": bytes.fromhex(f"{amount_fen:012d}"),
        "9F03": bytes(6),
        "9F1A": bytes.fromhex("0156"),
        "95": bytes(5),
        "5F2A": bytes.fromhex("0156"),
        "9A": bytes.fromhex("260115"),
        "9C": b"\x00",
        "9F37": bytes.fromhex("1A2B3C4D"),
        "82": bytes.fromhex("7C00"),
        "9F36": atc.to_bytes(2, "big"),
        "9F10": bytes.fromhex("07010103A00000010A01000000000000"),
        "9F27": b"\x80",
    }


def icc_master_key() -> bytes:
    return cryptogram.derive_icc_master_key(IMK_AC, PAN, PSN)


def with_arqc(tags: dict[str, bytes], *, tamper: bool = False) -> dict[str, bytes]:
    arqc = cryptogram.method("emv_csk").generate_ac(icc_master_key(), tags)
    if tamper:
        arqc = bytes([arqc[0] ^ 0x01]) + arqc[1:]
    return {**tags, "9F26": arqc}


def purchase(
    amount_fen: int, stan: str, *, tamper: bool = False, extra_tags: Mapping[str, bytes] = {}
) -> dict[str, str]:
    tags = {**with_arqc(card_tags(amount_fen), tamper=tamper), **extra_tags}
    return {
        "t": "0200",
        "2": PAN,
        "3": "000000",
        "4": f"{amount_fen:012d}",
        "7": DE7,
        "11": stan,
        "12": "103000",
        "13": "0115",
        "22": "051",
        "23": f"0{PSN}",
        "35": TRACK2,
        "41": TID,
        "42": MID,
        "49": "156",
        "55": tlv.encode(tags).hex().upper(),
    }


def reversal(stan: str, original_stan: str) -> dict[str, str]:
    return {
        "t": "0400",
        "3": "000000",
        "11": stan,
        "41": TID,
        "42": MID,
        "90": f"0200{original_stan}{DE7}" + "0" * 22,
    }


def sign_on(stan: str = "000100") -> dict[str, str]:
    return {"t": "0800", "7": DE7, "11": stan, "41": TID, "70": "001"}


def encode(fields: dict[str, str]) -> bytes:
    raw, _ = iso8583.encode(dict(fields), SPEC)
    return bytes(raw)


def frame(fields: dict[str, str]) -> bytes:
    message = encode(fields)
    return struct.pack(">H", len(message)) + message


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def read_reply(sock: socket.socket) -> tuple[bytes, dict[str, str]]:
    (length,) = struct.unpack(">H", recv_exactly(sock, 2))
    raw = recv_exactly(sock, length)
    decoded, _ = iso8583.decode(raw, SPEC)
    return raw, dict(decoded)


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=SOCKET_TIMEOUT)
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def exchange(address: tuple[str, int], fields: dict[str, str]) -> dict[str, str]:
    with connect(address) as sock:
        sock.sendall(frame(fields))
        return read_reply(sock)[1]


def assert_closed_by_peer(sock: socket.socket) -> None:
    with contextlib.suppress(ConnectionResetError):
        assert sock.recv(1) == b""


# -- fixtures --------------------------------------------------------------------


def make_host(clock: Clock, ledger_path: str | Path = ":memory:", seed: int = 0) -> AcquirerHost:
    return AcquirerHost(
        Ledger(ledger_path, clock),
        IssuerDirectory.load(),
        MagicAmounts.load(),
        clock,
        random.Random(seed),
        Iso8583Codec(Iso8583Spec.load()),
    )


@pytest.fixture
def host() -> AcquirerHost:
    return make_host(RealClock())


class Gateway:
    def __init__(self, clock: Clock, tmp_path: Path, tpdu_length: int = 0) -> None:
        self.clock = clock
        self.bus = EventBus(clock)
        self.host = make_host(clock, tmp_path / "gateway.sqlite")
        codec = Iso8583Codec(Iso8583Spec.load())
        self.server = GatewayServer(
            self.host, codec, Framing(tpdu_length=tpdu_length), clock, self.bus, max_message=4096
        )
        self.address = self.server.start()

    @property
    def ledger(self) -> Ledger:
        return self.host.ledger

    def wait_for_event(self, predicate: Any, timeout: float = SOCKET_TIMEOUT) -> Any:
        found = threading.Event()
        match: list[Any] = []

        def check(event: Any) -> None:
            if not found.is_set() and predicate(event):
                match.append(event)
                found.set()

        unsubscribe = self.bus.subscribe(check)
        try:
            for event in self.bus.events:
                check(event)
            assert found.wait(timeout), "the gateway never published the awaited event"
        finally:
            unsubscribe()
        return match[0]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    running = Gateway(RealClock(), tmp_path)
    try:
        yield running
    finally:
        running.server.stop()
        running.ledger.close()


# -- AcquirerHost ------------------------------------------------------------------


def arpc_for(reply: Mapping[str, str], request: Mapping[str, str]) -> bytes:
    tags = tlv.decode_flat(bytes.fromhex(request["55"]))
    code = reply["39"].encode()
    return cryptogram.method("emv_csk").generate_arpc(icc_master_key(), tags, code) + code


def test_approved_purchase(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    reply = host.handle(request)
    assert reply is not None
    assert reply["t"] == "0210"
    assert reply["39"] == "00"
    for key in ("3", "4", "7", "11", "12", "13", "41", "42", "49"):
        assert reply[key] == request[key]
    assert "2" not in reply and "35" not in reply
    assert len(reply["37"]) == 12 and reply["37"].isdigit()
    assert len(reply["38"]) == 6
    issuer_data = tlv.decode_flat(bytes.fromhex(reply["55"]))
    assert issuer_data["91"] == arpc_for(reply, request)
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None
    assert entry.status is Status.APPROVED
    assert (entry.amount, entry.currency, entry.masked_pan) == (12345, "156", "621483******3655")
    assert (entry.rrn, entry.auth_code, entry.response_code) == (reply["37"], reply["38"], "00")
    assert entry.issuer == "possim Test Bank (UnionPay)"


def test_rrn_and_auth_codes_are_deterministic() -> None:
    replies = []
    for _ in range(2):
        clock = VirtualClock()
        fresh = make_host(clock, seed=42)
        replies.append([fresh.handle(purchase(100 + n, f"{n:06d}")) for n in range(1, 4)])
    assert replies[0] == replies[1]
    rrns = [r["37"] for r in replies[0] if r is not None]
    assert rrns == ["260115000001", "260115000002", "260115000003"]
    other_seed = make_host(VirtualClock(), seed=43).handle(purchase(101, "000001"))
    assert other_seed is not None and other_seed["38"] != replies[0][0]["38"]  # type: ignore[index]


def test_tampered_arqc_is_declined_82(host: AcquirerHost) -> None:
    reply = host.handle(purchase(12345, "000001", tamper=True))
    assert reply is not None
    assert reply["39"] == "82"
    assert "38" not in reply and "55" not in reply
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None
    assert entry.status is Status.DECLINED
    assert "ARQC" in entry.note


def test_wrong_psn_fails_the_cryptogram(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    request["23"] = "002"
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "82"


def test_missing_psn_means_00(host: AcquirerHost) -> None:
    # The card's keys are derived with PSN 01, so leaving DE23 out (PSN 00) fails...
    request = purchase(12345, "000001")
    del request["23"]
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "82"
    # ...while a card personalised with PSN 00 passes without DE23.
    tags = card_tags(500)
    mk00 = cryptogram.derive_icc_master_key(IMK_AC, PAN, "00")
    tags["9F26"] = cryptogram.method("emv_csk").generate_ac(mk00, tags)
    request = {**purchase(500, "000002"), "55": tlv.encode(tags).hex().upper()}
    del request["23"]
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "00"


@pytest.mark.parametrize(
    ("fen", "code"), [(5, "05"), (51, "51"), (54, "54"), (55, "55"), (91, "91"), (96, "96")]
)
def test_magic_amounts(host: AcquirerHost, fen: int, code: str) -> None:
    request = purchase(10000 + fen, "000001")
    reply = host.handle(request)
    assert reply is not None
    assert reply["39"] == code
    assert "38" not in reply
    # The ARQC verified, so the card still gets an ARPC over the decline code.
    assert tlv.decode_flat(bytes.fromhex(reply["55"]))["91"] == arpc_for(reply, request)
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None and entry.status is Status.DECLINED and not entry.charged


def test_magic_no_answer(host: AcquirerHost) -> None:
    assert host.handle(purchase(10068, "000001")) is None
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None
    assert entry.status is Status.UNANSWERED and not entry.charged
    assert entry.response is None and entry.rrn is None
    # A retransmission is not answered either, and not recorded twice.
    assert host.handle(purchase(10068, "000001")) is None
    assert len(host.ledger) == 1


def test_magic_amounts_come_after_the_cryptogram(host: AcquirerHost) -> None:
    reply = host.handle(purchase(10068, "000001", tamper=True))
    assert reply is not None and reply["39"] == "82"


def test_unknown_bin_is_14(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    request["2"] = "9999990000000001"
    del request["35"]
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "14"
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None and entry.status is Status.DECLINED


def test_track2_alone_identifies_the_card(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    del request["2"]
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "00"


@pytest.mark.parametrize(
    "mutation",
    [
        {"2": None, "35": None},
        {"3": None},
        {"4": None},
        {"4": "12345"},
        {"11": None},
        {"11": "12345A"},
        {"22": None},
        {"41": None},
        {"42": None},
        {"49": None},
        {"55": None},
        {"55": "9F26"},
        {"55": "ZZ"},
        {"2": "62148300271836"[:11]},
        {"35": "6214830000000000D3012"},
        {"7": "011510"},
        {"23": "1"},
    ],
    ids=lambda m: ",".join(f"{k}={v}" for k, v in m.items()),
)
def test_format_errors_are_30(host: AcquirerHost, mutation: dict[str, str | None]) -> None:
    request: dict[str, str] = purchase(12345, "000001")
    for key, value in mutation.items():
        if value is None:
            request.pop(key, None)
        else:
            request[key] = value
    reply = host.handle(request)
    assert reply is not None
    assert reply["t"] == "0210" and reply["39"] == "30"
    assert "38" not in reply
    assert len(host.ledger) == 0


def test_icc_data_lacking_cryptogram_inputs_is_30(host: AcquirerHost) -> None:
    tags = with_arqc(card_tags(12345))
    del tags["9F37"]
    request = {**purchase(12345, "000001"), "55": tlv.encode(tags).hex().upper()}
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "30"


def test_magstripe_needs_no_icc_data(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    del request["55"]
    request["22"] = "021"
    reply = host.handle(request)
    assert reply is not None and reply["39"] == "00" and "55" not in reply


def test_other_processing_codes_and_zero_amounts(host: AcquirerHost) -> None:
    # 200000 is a void (tests/test_card_void_refund.py); 310000 a balance inquiry.
    inquiry = {**purchase(12345, "000001"), "3": "310000"}
    reply = host.handle(inquiry)
    assert reply is not None and reply["39"] == "12"
    zero = purchase(0, "000002")
    reply = host.handle(zero)
    assert reply is not None and reply["39"] == "13"


def test_duplicate_purchase_is_answered_the_same_and_charged_once(host: AcquirerHost) -> None:
    request = purchase(12345, "000001")
    first = host.handle(request)
    second = host.handle(dict(request))
    assert first is not None and second == first
    assert len(host.ledger) == 1
    assert host.ledger.totals().net_amount() == 12345


def test_reused_stan_for_another_transaction_is_94(host: AcquirerHost) -> None:
    assert host.handle(purchase(12345, "000001")) is not None
    reply = host.handle(purchase(999, "000001"))
    assert reply is not None and reply["39"] == "94"
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None and entry.amount == 12345 and len(host.ledger) == 1


def test_reversal_undoes_an_approved_purchase(host: AcquirerHost) -> None:
    assert host.handle(purchase(12345, "000001")) is not None
    request = reversal("000002", "000001")
    reply = host.handle(request)
    assert reply is not None
    assert reply["t"] == "0410" and reply["39"] == "00"
    for key in ("11", "41", "42", "90"):
        assert reply[key] == request[key]
    entry = host.ledger.find(TID, "000001", DE7)
    assert entry is not None and entry.status is Status.REVERSED
    # Repeated (also as 0401, a repeat) is fine and changes nothing.
    assert host.handle(request) == reply
    repeat = host.handle({**request, "t": "0401"})
    assert repeat is not None and repeat["t"] == "0410" and repeat["39"] == "00"
    assert host.ledger.find(TID, "000001", DE7) == entry
    assert host.ledger.totals().net_amount() == 0


@pytest.mark.parametrize("amount", [10051, 10068])
def test_reversal_of_an_uncharged_purchase_is_acknowledged(host: AcquirerHost, amount: int) -> None:
    host.handle(purchase(amount, "000001"))
    before = host.ledger.find(TID, "000001", DE7)
    reply = host.handle(reversal("000002", "000001"))
    assert reply is not None and reply["39"] == "00"
    after = host.ledger.find(TID, "000001", DE7)
    assert before is not None and after is not None
    assert after.status is before.status


def test_reversal_of_an_unknown_purchase_is_acknowledged(host: AcquirerHost) -> None:
    reply = host.handle(reversal("000002", "000001"))
    assert reply is not None and reply["39"] == "00"
    assert len(host.ledger) == 0


def test_reversal_without_original_data_is_30(host: AcquirerHost) -> None:
    request = reversal("000002", "000001")
    del request["90"]
    reply = host.handle(request)
    assert reply is not None and reply["t"] == "0410" and reply["39"] == "30"


@pytest.mark.parametrize(
    ("code", "rc"), [("001", "00"), ("301", "00"), ("002", "00"), ("999", "12")]
)
def test_network_management(host: AcquirerHost, code: str, rc: str) -> None:
    request = {**sign_on(), "70": code}
    reply = host.handle(request)
    assert reply is not None
    assert reply["t"] == "0810" and reply["39"] == rc
    assert (reply["7"], reply["11"], reply["70"]) == (request["7"], request["11"], code)


@pytest.mark.parametrize(
    ("mti", "answer"),
    [
        # 0100 is the pre-authorisation (tests/test_preauth_host.py)
        ("0220", "0230"),
        ("0520", "0530"),  # 0500 is the batch close (tests/test_settlement.py)
        ("0600", "0610"),
        ("0210", None),
        ("0110", None),
        ("0810", None),
        ("0430", None),
        ("ABCD", None),
    ],
)
def test_other_message_types(host: AcquirerHost, mti: str, answer: str | None) -> None:
    reply = host.handle({"t": mti, "11": "000001", "41": TID})
    if answer is None:
        assert reply is None
    else:
        assert reply is not None
        assert reply["t"] == answer and reply["39"] == "12" and reply["11"] == "000001"


# -- hypothesis: junk never escapes as anything but a typed error --------------------

FIELD_KEYS = st.sampled_from(
    [
        "t",
        "2",
        "3",
        "4",
        "7",
        "11",
        "12",
        "13",
        "22",
        "23",
        "35",
        "41",
        "42",
        "49",
        "55",
        "70",
        "90",
    ]
)
JUNK_HOST = make_host(RealClock())
JUNK_CODEC = Iso8583Codec(Iso8583Spec.load())


def check_host_answers(fields: dict[str, str]) -> None:
    """The host decides without raising, and whatever it answers encodes."""
    reply = JUNK_HOST.handle(fields)
    if reply is not None:
        assert JUNK_CODEC.decode(JUNK_CODEC.encode(reply))["39"] == reply["39"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_the_typed_error(junk: bytes) -> None:
    try:
        fields = JUNK_CODEC.decode(junk)
    except SimulatorError:
        return
    check_host_answers(fields)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(min_value=0, max_value=10**6),
    st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
    st.integers(min_value=0),
)
def test_mutated_purchases_never_crash_the_host(
    amount: int, flips: list[tuple[int, int]], cut: int
) -> None:
    raw = bytearray(encode(purchase(amount, f"{amount % 10**6:06d}")))
    for position, value in flips:
        raw[position % len(raw)] = value
    raw = raw[: len(raw) - cut % 8]
    try:
        fields = JUNK_CODEC.decode(bytes(raw))
    except SimulatorError:
        return
    check_host_answers(fields)


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries({"t": st.sampled_from(["0200", "0400", "0800", "0100", "0210"])}),
    st.dictionaries(FIELD_KEYS, st.text(max_size=40), max_size=12),
)
def test_random_field_dicts_never_crash_the_host(
    base: dict[str, str], fields: dict[str, str]
) -> None:
    request = {**purchase(12345, "000001"), **base, **fields}
    check_host_answers(request)


# -- the TCP server ----------------------------------------------------------------


def test_raw_purchase_over_tcp(gateway: Gateway) -> None:
    request = purchase(12345, "000321")
    reply = exchange(gateway.address, request)
    assert reply["t"] == "0210"
    assert reply["11"] == "000321"
    assert reply["39"] == "00"
    assert len(reply["37"]) == 12
    assert tlv.decode_flat(bytes.fromhex(reply["55"]))["91"] == arpc_for(reply, request)


def test_tampered_arqc_over_tcp(gateway: Gateway) -> None:
    reply = exchange(gateway.address, purchase(12345, "000001", tamper=True))
    assert reply["39"] == "82"


@pytest.mark.parametrize(
    ("fen", "code"), [(5, "05"), (51, "51"), (54, "54"), (55, "55"), (91, "91"), (96, "96")]
)
def test_magic_amounts_over_tcp(gateway: Gateway, fen: int, code: str) -> None:
    assert exchange(gateway.address, purchase(20000 + fen, "000001"))["39"] == code


def test_no_answer_over_tcp_then_the_gateway_still_serves(gateway: Gateway) -> None:
    with connect(gateway.address) as sock:
        sock.sendall(frame(purchase(10068, "000001")))
        sock.settimeout(0.3)  # the one read that must time out
        with pytest.raises(socket.timeout):
            sock.recv(1)
    entry = gateway.ledger.find(TID, "000001", DE7)
    assert entry is not None and entry.status is Status.UNANSWERED
    assert exchange(gateway.address, purchase(12345, "000002"))["39"] == "00"


def test_many_messages_on_one_connection_and_tpdu_echo(tmp_path: Path) -> None:
    running = Gateway(RealClock(), tmp_path, tpdu_length=5)
    try:
        tpdu = bytes.fromhex("6000030000")
        with connect(running.address) as sock:
            for stan in ("000001", "000002", "000003"):
                message = encode(purchase(100, stan))
                sock.sendall(struct.pack(">H", len(message) + 5) + tpdu + message)
                (length,) = struct.unpack(">H", recv_exactly(sock, 2))
                body = recv_exactly(sock, length)
                assert body[:5] == tpdu
                reply, _ = iso8583.decode(body[5:], SPEC)
                assert reply["11"] == stan and reply["39"] == "00"
    finally:
        running.server.stop()
        running.ledger.close()


def test_duplicate_purchase_over_tcp(gateway: Gateway) -> None:
    request = purchase(12345, "000001")
    with connect(gateway.address) as sock:
        sock.sendall(frame(request))
        first, _ = read_reply(sock)
    with connect(gateway.address) as sock:
        sock.sendall(frame(request))
        second, _ = read_reply(sock)
    assert first == second
    assert len(gateway.ledger) == 1


def test_reversal_over_tcp(gateway: Gateway) -> None:
    assert exchange(gateway.address, purchase(12345, "000001"))["39"] == "00"
    for _ in range(2):
        reply = exchange(gateway.address, reversal("000002", "000001"))
        assert reply["t"] == "0410" and reply["39"] == "00"
        entry = gateway.ledger.find(TID, "000001", DE7)
        assert entry is not None and entry.status is Status.REVERSED


GARBAGE = {
    "random bytes": bytes(random.Random(7).getrandbits(8) for _ in range(300)),
    "huge length header": b"\xff\xff" + b"0200" + b"x" * 64,
    "valid header, junk body": struct.pack(">H", 20) + b"0200ZZZZZZZZZZZZZZZZ",
    "empty frame": b"\x00\x00",
    "short frame then close": struct.pack(">H", 500) + b"0200",
}


@pytest.mark.parametrize("junk", list(GARBAGE.values()), ids=list(GARBAGE))
def test_garbage_closes_that_connection_only(gateway: Gateway, junk: bytes) -> None:
    with connect(gateway.address) as bystander:
        bystander.sendall(frame(sign_on("000001")))
        assert read_reply(bystander)[1]["39"] == "00"
        with connect(gateway.address) as sock:
            sock.sendall(junk)
            if junk.startswith(struct.pack(">H", 500)):
                sock.shutdown(socket.SHUT_WR)  # the peer gives up mid-frame
            assert_closed_by_peer(sock)
        error = gateway.wait_for_event(lambda e: isinstance(e.payload, Problem))
        assert "connection closed" in error.summary
        # The connection that was open all along still works, and so do new ones.
        bystander.sendall(frame(sign_on("000002")))
        assert read_reply(bystander)[1]["11"] == "000002"
    assert exchange(gateway.address, purchase(12345, "000009"))["39"] == "00"


def test_concurrent_terminals(gateway: Gateway) -> None:
    count = 64
    barrier = threading.Barrier(count)

    def terminal(n: int) -> dict[str, str]:
        request = {**purchase(1000 + 100 * n, f"{n:06d}"), "41": f"POS{n:05d}"}
        with connect(gateway.address) as sock:
            barrier.wait(timeout=SOCKET_TIMEOUT)
            sock.sendall(frame(request))
            return read_reply(sock)[1]

    with ThreadPoolExecutor(max_workers=count) as pool:
        replies = list(pool.map(terminal, range(count)))
    assert [r["11"] for r in replies] == [f"{n:06d}" for n in range(count)]
    assert all(r["39"] == "00" for r in replies)
    assert len(gateway.ledger) == count
    assert len({r["37"] for r in replies}) == count


def test_events_describe_messages_without_card_data(gateway: Gateway) -> None:
    extra = {"5A": bytes.fromhex(PAN), "57": bytes.fromhex(TRACK2 + "F")}
    request = purchase(12345, "000001", extra_tags=extra)
    assert exchange(gateway.address, request)["39"] == "00"
    with connect(gateway.address) as sock:
        sock.sendall(frame(purchase(10068, "000002")))  # no reply, but its events come
        gateway.wait_for_event(lambda e: isinstance(e.payload, NoReply))
    events = gateway.bus.events
    messages = gateway.bus.of(HostIsoMessage)
    incoming = [e for e in messages if e.payload.direction == "in"]
    outgoing = [e for e in messages if e.payload.direction == "out"]
    assert [e.payload.mti for e in incoming] == ["0200", "0200"]
    assert [e.payload.mti for e in outgoing] == ["0210"]
    assert "STAN 000001" in incoming[0].summary and "RC 00" in outgoing[0].summary
    assert incoming[0].payload.value("2") == "621483******3655"
    icc = incoming[0].payload.value("55") or ""
    assert "9F2608" in icc and "621483******3655" in icc  # cryptogram shown, PAN masked
    dump = json.dumps([e.to_json() for e in events])
    assert PAN not in dump
    assert PAN[6:12] not in dump  # not even the hidden middle digits, in any field
    assert "30122011234567800000" not in dump


def test_an_outsider_cannot_bind_a_remote_address(tmp_path: Path) -> None:
    clock = RealClock()
    host = make_host(clock)
    codec = Iso8583Codec(Iso8583Spec.load())
    with pytest.raises(SimulatorError, match="loopback"):
        GatewayServer(host, codec, Framing(), clock, EventBus(clock), host="0.0.0.0")


def test_stop_is_clean_with_open_connections(tmp_path: Path) -> None:
    running = Gateway(RealClock(), tmp_path)
    with connect(running.address) as idle, connect(running.address) as half:
        half.sendall(b"\x00\x50" + b"0200")  # mid-frame forever
        idle.sendall(frame(sign_on()))
        read_reply(idle)
        running.server.stop()
        assert_closed_by_peer(idle)
        assert_closed_by_peer(half)
    with pytest.raises(OSError):
        connect(running.address).close()
    running.ledger.close()


def test_a_gateway_bug_on_one_connection_is_reported_and_the_others_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    running = Gateway(RealClock(), tmp_path)

    def broken(kind: str) -> None:
        raise TypeError(f"broken fault lookup for {kind}")

    with monkeypatch.context() as patch:
        patch.setattr(running.server.faults, "take_for", broken)
        with connect(running.address) as victim:
            victim.sendall(frame(sign_on()))
            assert_closed_by_peer(victim)
    errors = [e.summary for e in running.bus.of(GatewayProblem)]
    assert any("internal error: TypeError: broken fault lookup for network" in e for e in errors)
    with connect(running.address) as next_one:
        next_one.sendall(frame(sign_on("000101")))
        assert read_reply(next_one)[1]["39"] == "00"
    running.server.stop()
    running.ledger.close()


# -- the virtual clock contract ------------------------------------------------------


class RecordingClock(VirtualClock):
    """A virtual clock noting who called work_done and what the bus showed then."""

    def __init__(self) -> None:
        super().__init__(stall_timeout=5.0)
        self.bus: EventBus | None = None
        self.server_calls: list[str] = []
        self.server_call = threading.Condition()

    def work_done(self) -> None:
        if threading.current_thread().name == "possim-gateway":
            assert self.bus is not None
            last = self.bus.events[-1] if len(self.bus) else None
            with self.server_call:
                self.server_calls.append(
                    "nothing" if last is None else f"{last.kind}: {last.summary}"
                )
                self.server_call.notify_all()
        super().work_done()

    def wait_for_server_calls(self, count: int) -> None:
        with self.server_call:
            assert self.server_call.wait_for(
                lambda: len(self.server_calls) >= count, SOCKET_TIMEOUT
            ), f"the server made {len(self.server_calls)} work_done call(s), expected {count}"


@pytest.fixture
def virtual_gateway(tmp_path: Path) -> Iterator[tuple[Gateway, RecordingClock]]:
    clock = RecordingClock()
    running = Gateway(clock, tmp_path)
    clock.bus = running.bus
    try:
        yield running, clock
    finally:
        running.server.stop()
        running.ledger.close()


def test_no_answer_means_exactly_one_work_done(
    virtual_gateway: tuple[Gateway, RecordingClock],
) -> None:
    running, clock = virtual_gateway
    with connect(running.address) as sock:
        # answered: the terminal consumes the reply and reports it itself
        clock.work_begun()
        sock.sendall(frame(sign_on("000001")))
        read_reply(sock)
        clock.work_done()
        # not answered: the server reports it, once, after the ledger and the events
        clock.work_begun()
        sock.sendall(frame(purchase(10068, "000002")))
        clock.wait_for_server_calls(1)
        entry = running.ledger.find(TID, "000002", DE7)
        assert entry is not None and entry.status is Status.UNANSWERED
        # answered again, then a second silence on the same connection
        clock.work_begun()
        sock.sendall(frame(purchase(12345, "000003")))
        assert read_reply(sock)[1]["39"] == "00"
        clock.work_done()
        clock.work_begun()
        sock.sendall(frame(purchase(20068, "000004")))
        clock.wait_for_server_calls(2)
    # Frames on one connection are served in order, so a stray call for an
    # answered frame would sit between these two.
    assert len(clock.server_calls) == 2
    assert all(call.startswith("no_reply: 0200 STAN") for call in clock.server_calls)
    assert "STAN 000002" in clock.server_calls[0] and "STAN 000004" in clock.server_calls[1]


def test_garbage_means_exactly_one_work_done(
    virtual_gateway: tuple[Gateway, RecordingClock],
) -> None:
    running, clock = virtual_gateway
    with connect(running.address) as sock:
        clock.work_begun()
        sock.sendall(struct.pack(">H", 12) + b"0200ZZZZZZZZ")
        assert_closed_by_peer(sock)
    clock.wait_for_server_calls(1)
    assert clock.server_calls == [clock.server_calls[0]]
    assert clock.server_calls[0].startswith("error:")
    # and the host still serves, without another call
    assert exchange(running.address, sign_on())["39"] == "00"
    assert len(clock.server_calls) == 1


def test_a_terminal_timeout_on_virtual_time(
    virtual_gateway: tuple[Gateway, RecordingClock],
) -> None:
    """A 30 s host timeout passes in virtual time only because the server hands the
    silence back to the clock (without it the wait would stall)."""
    running, clock = virtual_gateway
    with connect(running.address) as sock, clock.actor():
        start = clock.monotonic()
        clock.work_begun()
        sock.sendall(frame(purchase(10068, "000001")))
        assert clock.wait_until(lambda: False, 30.0) is False
        assert clock.monotonic() - start == pytest.approx(30.0)
