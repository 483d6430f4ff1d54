"""Hostile clients for the gateway's two ports: random and crafted input, slow
and idle connections (docs/reliability.md).

For the hostile-input test and the soak benchmark (``possim bench hostile``):
:meth:`HostileClients.run` sends, from a few threads, for a given time, one
attack after another on a fresh connection each -- random bytes, mutated and
oversized ISO 8583 frames, frames never read back, HTTP that does not parse,
JSON nested thousands deep, bodies over the limit, a gzip bomb, wrong
signatures -- while holding idle connections and connections that stop in
the middle of a frame or request. Afterwards the gateway must still answer a
normal purchase and a normal QR payment, and its memory must not have grown
past a bound. Seeded: the same seed sends the same attacks (their interleaving
across threads follows the scheduler).
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable

import attrs
import iso8583

from simulator.gateway.qr.channels import Merchants
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign
from simulator.wire.iso8583 import Iso8583Spec

Address = tuple[str, int]
_READ_FOR = 0.5  # seconds an attack waits for the gateway's answer before hanging up
_SPEC = dict(Iso8583Spec.load().fields)
_A_PURCHASE: dict[str, str] = {
    "t": "0200",
    "2": "6214830027183655",
    "3": "000000",
    "4": "000000001200",
    "7": "0115103000",
    "11": "000001",
    "22": "021",
    "41": "POS00001",
    "42": "898440154110001",
    "49": "156",
}
_FIELDS = ("2", "3", "4", "7", "11", "12", "13", "22", "23", "35", "41", "42", "49", "52", "55")
_MERCHANT = "898310048990001"  # a known merchant, so signed attacks reach the handlers


@attrs.define
class HostileReport:
    attacks: Counter[str] = attrs.field(factory=Counter)
    held: int = 0  # idle and stalled connections open at the end
    bytes_sent: int = 0
    server_errors: Counter[str] = attrs.field(factory=Counter)  # HTTP 5xx answers, by attack


class HostileClients:
    def __init__(
        self,
        iso8583: Address,
        qr: Address,
        *,
        seed: int = 0,
        threads: int = 4,
        idle: int = 600,
        stalled: int = 60,
    ) -> None:
        self._iso = iso8583
        self._qr = qr
        self._seed = seed
        self._threads = threads
        self._idle = idle  # connections that send nothing, held open
        self._stalled = stalled  # connections stopped inside a frame or request, held open
        self._held: list[socket.socket] = []
        self._lock = threading.Lock()
        self.report = HostileReport()

    def run(self, seconds: float) -> HostileReport:
        """Attack both ports for ``seconds``; the held connections stay open."""
        deadline = time.monotonic() + seconds
        rng = random.Random(self._seed)
        for n in range(self._idle):
            self._hold(self._iso if n % 3 else self._qr, b"")
        workers = [
            threading.Thread(
                target=self._attack_until,
                args=(deadline, random.Random(rng.getrandbits(64))),
                name=f"possim-hostile-{n}",
                daemon=True,
            )
            for n in range(self._threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        with self._lock:
            self.report.held = len(self._held)
        return self.report

    def close(self) -> None:
        with self._lock:
            held, self._held = self._held, []
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()

    # -- the attacks -----------------------------------------------------------------

    def _attack_until(self, deadline: float, rng: random.Random) -> None:
        attacks = _ISO_ATTACKS + _QR_ATTACKS
        while time.monotonic() < deadline:
            name, make, port = rng.choice(attacks)
            address = self._qr if port == "qr" else self._iso
            data = make(rng)
            if name.startswith("stall"):
                with self._lock:
                    room = len(self._held) < self._idle + self._stalled
                if not room:
                    continue
                self._hold(address, data)
            else:
                answer = self._hit(
                    address, data, read="never read" not in name, half_close=port == "iso"
                )
                if port == "qr" and _status(answer) >= 500:
                    with self._lock:
                        self.report.server_errors[name] += 1
            self._count(name, len(data))

    def _count(self, name: str, size: int) -> None:
        with self._lock:
            self.report.attacks[name] += 1
            self.report.bytes_sent += size

    def _hit(self, address: Address, data: bytes, *, read: bool, half_close: bool) -> bytes:
        """Send ``data`` on a new connection, read the answer, hang up; the answer's
        first bytes. ``half_close``: say that was all (the ISO 8583 host answers
        and then closes; aiohttp would close at once, unanswered)."""
        answer = b""
        with contextlib.suppress(OSError), socket.create_connection(address, _READ_FOR) as sock:
            sock.sendall(data)
            if read:
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
                while chunk := sock.recv(65536):
                    answer = answer or chunk
        return answer

    def _hold(self, address: Address, data: bytes) -> None:
        try:
            sock = socket.create_connection(address, timeout=_READ_FOR)
            if data:
                sock.sendall(data)
        except OSError:
            return  # refused: the gateway is at its limit, as it may be
        with self._lock:
            self._held.append(sock)


def _status(answer: bytes) -> int:
    """An HTTP answer's status code (0 if ``answer`` is not one)."""
    parts = answer.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        return 0
    return int(parts[1])


# -- ISO 8583 ------------------------------------------------------------------------


def _frame(message: bytes) -> bytes:
    return struct.pack(">H", len(message) & 0xFFFF) + message


def _encoded(fields: dict[str, str]) -> bytes:
    raw, _ = iso8583.encode(dict(fields), _SPEC)
    return bytes(raw)


def _random_bytes(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(1, 4096))


def _mutated_purchase(rng: random.Random) -> bytes:
    message = bytearray(_encoded({**_A_PURCHASE, "11": f"{rng.randint(0, 999999):06d}"}))
    for _ in range(rng.randint(1, 8)):
        message[rng.randrange(len(message))] = rng.randrange(256)
    return _frame(bytes(message[: rng.randint(1, len(message))]))


def _random_fields(rng: random.Random) -> bytes:
    """A frame that decodes: a purchase with random values where the spec allows them."""
    fields = dict(_A_PURCHASE)
    for key in rng.sample(_FIELDS, rng.randint(1, 5)):
        spec = _SPEC[key]
        length = rng.randint(0, int(spec["max_len"]))
        if spec.get("data_enc") == "b":
            fields[key] = rng.randbytes(length).hex().upper()
        else:
            fields[key] = "".join(rng.choice("0123456789ABCDEFZ=^ ") for _ in range(length))
    try:
        return _frame(_encoded(fields))
    except iso8583.EncodeError:
        return _frame(_encoded(_A_PURCHASE))


def _huge_length(rng: random.Random) -> bytes:
    return struct.pack(">H", rng.randint(8193, 0xFFFF)) + rng.randbytes(rng.randint(0, 512))


def _frames_never_read(rng: random.Random) -> bytes:
    sign_on = _frame(_encoded({"t": "0800", "7": "0115103000", "11": "000001", "70": "301"}))
    return sign_on * rng.randint(50, 500)


def _stall_in_frame(rng: random.Random) -> bytes:
    message = _encoded(_A_PURCHASE)
    return _frame(message)[: rng.randint(1, len(message))]


_ISO_ATTACKS: list[tuple[str, Callable[[random.Random], bytes], str]] = [
    ("iso random bytes", _random_bytes, "iso"),
    ("iso mutated purchase", _mutated_purchase, "iso"),
    ("iso random fields", _random_fields, "iso"),
    ("iso huge length", _huge_length, "iso"),
    ("iso empty frame", lambda rng: b"\x00\x00" * rng.randint(1, 4), "iso"),
    ("iso frames never read", _frames_never_read, "iso"),
    ("stall iso frame", _stall_in_frame, "iso"),
]


# -- the QR API --------------------------------------------------------------------------


def _post(path: str, body: bytes, *headers: str, signed: bool = True) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: possim",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *headers,
    ]
    if signed:
        lines.append(f"{SIGNATURE_HEADER}: {sign(_merchant_key(), body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@functools.cache
def _merchant_key() -> str:
    merchant = Merchants.load().get(_MERCHANT)
    return "" if merchant is None else merchant.api_key


def _micropay(**fields: object) -> bytes:
    body = {
        "merchant_id": _MERCHANT,
        "terminal_id": "T1",
        "out_trade_no": "H1",
        "amount_fen": 1,
        "auth_code": "x",
    }
    return json.dumps({**body, **fields}).encode()


def _deep_json(rng: random.Random) -> bytes:
    depth = rng.randint(9, 16000)
    return _post("/v1/micropay", b"[" * depth + b"]" * rng.randint(0, depth))


def _random_json(rng: random.Random) -> bytes:
    def value(depth: int) -> object:
        kind = rng.randrange(7 if depth < 4 else 4)
        if kind == 0:
            return rng.randint(-(10**20), 10**20)
        if kind == 1:
            return "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(0, 40)))
        if kind == 2:
            return rng.choice([None, True, False, 1.5e308, -0.0])
        if kind == 3:
            return rng.choice(["wechat", "alipay", "134567890123456789", "http://127.0.0.1:9/n"])
        if kind in (4, 5):
            keys = ["merchant_id", "out_trade_no", "amount_fen", "auth_code", "notify_url", "x"]
            return {rng.choice(keys): value(depth + 1) for _ in range(rng.randint(0, 6))}
        return [value(depth + 1) for _ in range(rng.randint(0, 6))]

    path = rng.choice(["/v1/micropay", "/v1/precreate", "/v1/close", "/v1/orders/H1/refund",
                       "/v1/orders/H1/reverse", "/v1/sim/customer/pay_qr"])  # fmt: skip
    body = json.dumps(value(0), ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    return _post(path, body, signed=rng.random() < 0.5)


def _surrogates(rng: random.Random) -> bytes:
    field = rng.choice(["description", "notify_url", "out_trade_no", "auth_code"])
    return _post("/v1/micropay", _micropay(**{field: "\ud800" * rng.randint(1, 100)}))


def _oversized(rng: random.Random) -> bytes:
    body = b'{"d": "' + b"a" * rng.randint(16 * 1024, 256 * 1024) + b'"}'
    return _post("/v1/micropay", body)


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b" " * 50_000_000)  # 50 MB of spaces in ~50 KB


def _gzip_bomb(rng: random.Random) -> bytes:
    return _post("/v1/micropay", _bomb()[: rng.randint(16_000, 60_000)], "Content-Encoding: gzip")


def _malformed_http(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: y\r\n" % n for n in range(200)) + b"\r\n",
            b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n",
            b"POST /v1/micropay HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"POST /v1/micropay HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
            b"GET /v1/orders/\xff\xfe HTTP/1.1\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET /v1/orders/%ED%A0%80?merchant_id=%ED%A0%80 HTTP/1.1\r\n\r\n",
        ]
    )


def _random_get(rng: random.Random) -> bytes:
    path = "".join(rng.choice("/v1orders%ED?&=merchant_id0123") for _ in range(rng.randint(1, 80)))
    return f"GET /{path} HTTP/1.1\r\nHost: possim\r\nConnection: close\r\n\r\n".encode()


def _stall_in_request(rng: random.Random) -> bytes:
    whole = _post("/v1/micropay", _micropay())
    return whole[: rng.randint(1, len(whole) - 1)]


_QR_ATTACKS: list[tuple[str, Callable[[random.Random], bytes], str]] = [
    ("qr random bytes", _random_bytes, "qr"),
    ("qr deep json", _deep_json, "qr"),
    ("qr random json", _random_json, "qr"),
    ("qr lone surrogates", _surrogates, "qr"),
    ("qr oversized body", _oversized, "qr"),
    ("qr gzip bomb", _gzip_bomb, "qr"),
    ("qr malformed http", _malformed_http, "qr"),
    ("qr random get", _random_get, "qr"),
    ("stall qr request", _stall_in_request, "qr"),
]
