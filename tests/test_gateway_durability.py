"""The gateway survives kill -9 mid-burst without losing or doubling a purchase.

``possim gateway serve`` runs as a real child process on a ledger file. Several
clients send a burst of magnetic-stripe 0200s over TCP (2-byte length header,
the real codec); when the k-th approval has reached its client (k from the
seed) the gateway is SIGKILLed. It is restarted on the same ledger, and then:

* every purchase a client saw approved is in the ledger exactly once, with the
  RRN and auth code the client received;
* resending every request of the burst gets an answer; the acknowledged ones
  get the same RRN and auth code again, the others are approved now;
* afterwards the ledger holds each request exactly once and no RRN twice.

The same for QR orders (micropay over the HTTP API, keyed by out_trade_no),
with a smaller burst.

No sleeps: the kill happens on a count of replies, the restarted gateway is
waited for through its listening line, and every socket has a timeout.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import socket
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import attrs
import pytest

from drivers.clock import RealClock
from simulator.errors import Iso8583Error
from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway.ledger import Ledger
from simulator.terminal.qr_link import SIGNATURE_HEADER, sign
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec

BURST = 1000
CLIENTS = 8
SOCKET_TIMEOUT = 20.0
PAN = "6214830027183655"
TRACK2 = f"{PAN}=30122011234567800000"
DE7 = "1125120000"
MID = "898310048990001"

CODEC = Iso8583Codec(Iso8583Spec.load())
FRAMING = Framing()

Key = tuple[str, str, str]


def purchase(client: int, number: int) -> dict[str, str]:
    stan = f"{number + 1:06d}"
    return {
        "t": "0200",
        "2": PAN,
        "3": "000000",
        "4": f"{(1 + number % 50) * 100:012d}",  # whole yuan: no magic amount
        "7": DE7,
        "11": stan,
        "12": "120000",
        "13": "1125",
        "22": "021",
        "25": "00",
        "35": TRACK2,
        "41": f"DUR{client:05d}",
        "42": MID,
        "49": "156",
    }


def key(request: dict[str, str]) -> Key:
    return (request["41"], request["11"], request["7"])


def burst() -> list[list[dict[str, str]]]:
    """BURST requests split over CLIENTS terminals (one TID each)."""
    share = BURST // CLIENTS
    return [[purchase(client, n) for n in range(share)] for client in range(CLIENTS)]


@attrs.frozen
class Answer:
    code: str
    rrn: str
    auth_code: str


class Acknowledgements:
    """Approvals received, counted; the k-th one triggers ``on_kth``."""

    def __init__(self, k: int, on_kth: Callable[[], object] | None) -> None:
        self.k = k
        self._on_kth = on_kth
        self._lock = threading.Lock()
        self.answers: dict[Key, Answer] = {}

    def record(self, request: dict[str, str], reply: dict[str, str]) -> None:
        answer = Answer(reply.get("39", ""), reply.get("37", ""), reply.get("38", ""))
        with self._lock:
            self.answers[key(request)] = answer
            approved = sum(a.code == "00" for a in self.answers.values())
            fire = approved == self.k
        if fire and self._on_kth is not None:
            self._on_kth()


def exchange_all(port: int, requests: Sequence[dict[str, str]], acks: Acknowledgements) -> None:
    """Send each request on one connection and wait for its answer; stop at the first
    connection failure (the gateway died): the rest stay unacknowledged."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=SOCKET_TIMEOUT)
    except OSError:
        return
    with sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for request in requests:
            try:
                sock.sendall(FRAMING.frame(CODEC.encode(request)))
                body = FRAMING.read_frame(sock)
            except (OSError, Iso8583Error):
                return
            if body is None:
                return
            reply = CODEC.decode(FRAMING.split(body)[1])
            assert reply["t"] == "0210"
            assert (reply["41"], reply["11"]) == (request["41"], request["11"])
            acks.record(request, reply)


def run_clients(port: int, batches: list[list[dict[str, str]]], acks: Acknowledgements) -> None:
    threads = [
        threading.Thread(target=exchange_all, args=(port, batch, acks), daemon=True)
        for batch in batches
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SOCKET_TIMEOUT * 3)
        assert not thread.is_alive(), "a client hung"


def ledger_rows(path: Path) -> list[tuple[Key, str | None, str | None, str]]:
    with Ledger(path, RealClock()) as ledger:
        return [
            (entry.key, entry.rrn, entry.auth_code, str(entry.status))
            for entry in ledger.transactions()
        ]


@pytest.mark.parametrize("seed", [8, 21])
def test_kill_9_mid_burst_loses_and_doubles_nothing(tmp_path: Path, seed: int) -> None:
    k = random.Random(seed).randrange(BURST // 5, BURST * 3 // 5)
    ledger = tmp_path / "gateway.sqlite"
    gateway = GatewayProcess(ledger, cwd=tmp_path)
    batches = burst()
    try:
        port = gateway.start()
        first = Acknowledgements(k, gateway.kill)
        run_clients(port, batches, first)
        assert gateway.port == 0, "the burst ended before the k-th approval: no kill happened"
        acknowledged = {key: a for key, a in first.answers.items() if a.code == "00"}
        assert k <= len(acknowledged) < BURST, "the kill came too late to test anything"
        assert all(a.code == "00" for a in first.answers.values())

        # Straight after the crash: every acknowledged purchase is on disk, once.
        rows = ledger_rows(ledger)
        stored = Counter(row[0] for row in rows)
        assert max(stored.values()) == 1
        by_key = {row[0]: row for row in rows}
        for request_key, answer in acknowledged.items():
            assert request_key in by_key, f"acknowledged {request_key} lost by the crash"
            _, rrn, auth_code, status = by_key[request_key]
            assert (rrn, auth_code, status) == (answer.rrn, answer.auth_code, "approved")

        # Restarted on the same ledger, every request is resent.
        port = gateway.start()
        second = Acknowledgements(BURST + 1, None)
        run_clients(port, batches, second)
        assert len(second.answers) == BURST, "the restarted gateway left requests unanswered"
        for request_key, answer in second.answers.items():
            assert answer.code == "00", (request_key, answer)
            if request_key in acknowledged:
                assert answer == acknowledged[request_key], "a retransmission got a new answer"
        assert gateway.stop() == 0
    finally:
        gateway.kill()

    rows = ledger_rows(ledger)
    keys = Counter(row[0] for row in rows)
    assert len(rows) == BURST and set(keys) == {key(r) for batch in batches for r in batch}
    assert max(keys.values()) == 1
    rrns = Counter(row[1] for row in rows)
    assert max(rrns.values()) == 1, "an RRN was handed out twice across the restart"
    by_key = {row[0]: row for row in rows}
    for request_key, answer in second.answers.items():
        _, rrn, auth_code, status = by_key[request_key]
        assert (rrn, auth_code, status) == (answer.rrn, answer.auth_code, "approved")


# -- QR orders: the same crash, on the HTTP API ---------------------------------------

QR_BURST = 200
QR_CLIENTS = 4
MERCHANT_KEY = "possim-test-merchant-key-0001"  # TEST key (firmware_fixtures/gateway)


def micropay(client: int, number: int) -> dict[str, object]:
    return {
        "merchant_id": MID,
        "terminal_id": f"DUR{client:05d}",
        "out_trade_no": f"dur-{client}-{number:04d}",
        "amount_fen": (1 + number % 50) * 100,  # whole yuan, below the password-free limit
        "auth_code": f"13{client:02d}{number:014d}",  # WeChat: 18 digits starting 10-15
    }


class QrAcknowledgements:
    def __init__(self, k: int, on_kth: Callable[[], object] | None) -> None:
        self.k = k
        self._on_kth = on_kth
        self._lock = threading.Lock()
        self.answers: dict[str, dict[str, object]] = {}

    def record(self, order: str, answer: dict[str, object]) -> None:
        with self._lock:
            self.answers[order] = answer
            fire = sum(a.get("result") == "SUCCESS" for a in self.answers.values()) == self.k
        if fire and self._on_kth is not None:
            self._on_kth()


def post_all(base_url: str, orders: Sequence[dict[str, object]], acks: QrAcknowledgements) -> None:
    """POST each micropay on one keep-alive connection; stop when the gateway dies."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "", parts.port, timeout=SOCKET_TIMEOUT
    )
    try:
        for order in orders:
            body = json.dumps(order).encode()
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(MERCHANT_KEY, body),
            }
            try:
                connection.request("POST", "/v1/micropay", body, headers)
                response = connection.getresponse()
                payload = response.read()
            except (OSError, http.client.HTTPException):
                return
            assert response.status == 200, payload
            acks.record(str(order["out_trade_no"]), json.loads(payload))
    finally:
        connection.close()


def run_qr_clients(
    base_url: str, batches: list[list[dict[str, object]]], acks: QrAcknowledgements
) -> None:
    threads = [
        threading.Thread(target=post_all, args=(base_url, batch, acks), daemon=True)
        for batch in batches
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(SOCKET_TIMEOUT * 3)
        assert not thread.is_alive(), "a QR client hung"


def qr_rows(path: Path) -> list[tuple[str, str | None, str]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute(
            "SELECT out_trade_no, transaction_id, trade_state FROM qr_transactions"
        ).fetchall()
    return [(str(order), transaction, str(state)) for order, transaction, state in rows]


@pytest.mark.parametrize("seed", [8])
def test_kill_9_mid_qr_burst_loses_and_doubles_no_order(tmp_path: Path, seed: int) -> None:
    k = random.Random(seed).randrange(QR_BURST // 5, QR_BURST * 3 // 5)
    ledger = tmp_path / "gateway.sqlite"
    gateway = GatewayProcess(ledger, cwd=tmp_path)
    share = QR_BURST // QR_CLIENTS
    batches = [[micropay(c, n) for n in range(share)] for c in range(QR_CLIENTS)]
    try:
        gateway.start()
        first = QrAcknowledgements(k, gateway.kill)
        run_qr_clients(gateway.qr_url, batches, first)
        assert gateway.port == 0, "the burst ended before the k-th payment: no kill happened"
        paid = {o: a for o, a in first.answers.items() if a.get("result") == "SUCCESS"}
        assert k <= len(paid) < QR_BURST
        stored = {order: (transaction, state) for order, transaction, state in qr_rows(ledger)}
        for order, answer in paid.items():
            assert stored.get(order) == (answer["transaction_id"], "SUCCESS"), order

        gateway.start()
        second = QrAcknowledgements(QR_BURST + 1, None)
        run_qr_clients(gateway.qr_url, batches, second)
        assert len(second.answers) == QR_BURST
        for order, answer in second.answers.items():
            assert answer.get("result") == "SUCCESS", (order, answer)
            if order in paid:
                assert answer["transaction_id"] == paid[order]["transaction_id"]
        assert gateway.stop() == 0
    finally:
        gateway.kill()
    rows = qr_rows(ledger)
    orders = Counter(order for order, _, _ in rows)
    assert len(rows) == QR_BURST and max(orders.values()) == 1
    assert len({transaction for _, transaction, _ in rows}) == QR_BURST
    for order, transaction, state in rows:
        assert (transaction, state) == (second.answers[order]["transaction_id"], "SUCCESS")
