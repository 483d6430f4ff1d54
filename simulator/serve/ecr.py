"""The ECR door: a PC till drives the served terminal over Newland's PC interface.

Newland publishes how a PC starts its smart POS's acquiring app (star-pos/APIDocument
``pos-invoke/pcInvokePOS.md``, "星POS收单应用调用（PC）"): a JSON request with
``msgTp payTp procTp procCd systraceNo amt orderNo batchBillNo`` and a JSON reply
with ``msgTp`` 0210, ``code`` (``-1`` failed, ``0`` succeeded), ``message`` and, on
success, the transaction's fields. The document fixes the JSON, not the transport,
so possim chooses one and documents it (docs/cashier_apps.md, "A PC till"):

* **framing**: one JSON object per line, UTF-8, ended by LF (CR LF accepted); at
  most :data:`MAX_LINE` bytes. One reply line per request line, when the payment
  ends. Over TCP (:class:`EcrTcpServer`) and over a pty (:class:`EcrPty`, a till on a
  USB-serial port opens its slave path).

The request becomes the vendor's Intent through the contract model
(:meth:`~simulator.terminal.contract.IntentContract.build_request`) and runs on the
terminal like an Intent from a cashier app; what is refused is refused with
``code`` -1 and a ``message`` naming the key and the rule, and the shop's log gets
an :class:`EcrRefused` line.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import threading
import tty
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from simulator.errors import SimulatorError, TerminalError
from simulator.events import EventPayload
from simulator.gateway.service_thread import is_loopback
from simulator.serve.door import SOURCE
from simulator.terminal.contract import (
    ContractViolation,
    PaymentOrder,
    PaymentOutcome,
    TransactionDetail,
)
from simulator.terminal.journal import TxnState
from simulator.wire.money import format_yuan

if TYPE_CHECKING:
    from simulator.shop import Shop

MAX_LINE = 4096  # bytes in one request line; Newland's requests are a few hundred
MAX_PAYMENT = 900.0  # real seconds a request may wait for its payment to end
DEFAULT_MAX_CONNECTIONS = 8
DEFAULT_IDLE_TIMEOUT = 600.0  # real seconds a till's connection may stay silent
_POLL = 0.05

# pcInvokePOS.md, 请求参数: procCd -> what possim's contract model calls the operation.
PROC_CODES = {
    "000000": "sale",  # 消费
    "200000": "void",  # 消费撤销
    "300000": "preauth",  # 预授权
    "330000": "preauth_completion",  # 预授权完成
    "400000": "preauth_void",  # 预授权撤销
    "440000": "preauth_completion_void",  # 预授权完成撤销
    "500000": "refund",  # 联机退货
    "660000": "scan_pay",  # 扫码支付
}
# procCd codes the document lists that possim's terminal does not run (yet).
UNSUPPORTED = {
    "680000": "QR refund",
    "700000": "QR re-query",
}
# A follow-up names its original (the document names no key for it: possim takes the
# voucher number from systraceNo, as 消费撤销 does, or the order number from orderNo):
# the operation it follows up, and its Chinese name for the refusals.
FOLLOW_UPS = {
    "preauth_completion": ("preauth", "预授权完成 (330000)"),
    "preauth_void": ("preauth", "预授权撤销 (400000)"),
    "preauth_completion_void": ("preauth_completion", "预授权完成撤销 (440000)"),
}
# payTp: "" any, 0 bank card, 1 scan, 11 WeChat Pay, 12 Alipay.
PAY_TYPES = {"": None, "0": "card", "1": "scan", "11": "wechat", "12": "alipay"}
# Which payTp agree with which procCd ("660000 与 1、11、12是一致的，000000与0是一致的").
_CARD_OPERATIONS = {"sale", "void", "refund", "preauth", *FOLLOW_UPS}
_QR_METHODS = {"scan", "wechat", "alipay"}
# 返回参数 payTp: 0 bank card, 1 WeChat, 2 Alipay (UnionPay QR: 3, as the Intent's).
REPLY_PAY_TYPES = {"": "0", "wechat": "1", "alipay": "2", "unionpay_qr": "3"}
_REQUEST_KEYS = (
    "msgTp",
    "payTp",
    "procTp",
    "procCd",
    "systraceNo",
    "amt",
    "orderNo",
    "batchBillNo",
)


class EcrRefusal(SimulatorError):
    """A PC request that breaks the interface: the key and the rule."""


@attrs.frozen
class EcrRefused(EventPayload):
    """The ECR door refused a till's request: the key and the rule it broke."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "ecr_refused"

    channel: str  # "tcp 127.0.0.1:40312", "pty /dev/pts/5"
    violation: str

    def summary(self) -> str:
        return f"ECR request on {self.channel} refused: {self.violation}"


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise EcrRefusal(f"{key}: every field is a String (pcInvokePOS.md), got {value!r}")
    return value


def _fen(amt: str) -> int:
    whole, dot, part = amt.partition(".")
    digits = amt.isascii() and whole.isdigit() and (not dot or part.isdigit())  # not "²"
    if not digits or len(whole) > 10 or len(part) > 2:
        raise EcrRefusal(f"amt={amt!r} must be yuan with at most two decimals, e.g. 100.01")
    return int(whole) * 100 + int(part.ljust(2, "0") or "0")


def parse_request(body: Any, now: str) -> PaymentOrder:
    """The payment a PC request asks for; EcrRefusal naming the key and the rule."""
    if not isinstance(body, Mapping):
        raise EcrRefusal("the request must be a JSON object")
    unknown = sorted(set(body) - set(_REQUEST_KEYS))
    if unknown:
        raise EcrRefusal(f"{unknown[0]}: not a request field ({', '.join(_REQUEST_KEYS)})")
    if _text(body, "msgTp") != "0200":
        raise EcrRefusal(f"msgTp={body.get('msgTp')!r} must be '0200'")
    proc_cd = _text(body, "procCd")
    if proc_cd in UNSUPPORTED:
        raise EcrRefusal(f"procCd={proc_cd!r} ({UNSUPPORTED[proc_cd]}) is not supported yet")
    if proc_cd not in PROC_CODES:
        raise EcrRefusal(f"procCd={proc_cd!r} is not one of {', '.join(PROC_CODES)}")
    operation = PROC_CODES[proc_cd]
    pay_tp = _text(body, "payTp")
    if pay_tp not in PAY_TYPES:
        raise EcrRefusal(f"payTp={pay_tp!r} is not one of '', 0, 1, 11, 12")
    method = PAY_TYPES[pay_tp] or ("scan" if operation == "scan_pay" else "card")
    if (operation in _CARD_OPERATIONS) != (method == "card"):
        raise EcrRefusal(f"payTp={pay_tp!r} contradicts procCd={proc_cd!r}")
    if method in _QR_METHODS - {"scan"} and operation == "scan_pay":
        operation = "sale"  # a dynamic QR the customer scans: the terminal shows it
    if _text(body, "procTp") not in ("", "00"):
        raise EcrRefusal(f"procTp={body.get('procTp')!r} must be '00'")
    order_no = _text(body, "orderNo")
    if order_no and not (order_no.isascii() and order_no.isalnum()):
        raise EcrRefusal(f"orderNo={order_no!r}: letters and digits only")
    amt = _text(body, "amt")
    trace = _text(body, "systraceNo")
    if operation == "void":
        if not trace:
            raise EcrRefusal("systraceNo: a void (procCd 200000) needs the sale's voucher number")
        return PaymentOrder(
            method, operation, _fen(amt) if amt else 0, order_no or now, now, orig_stan=trace
        )
    if operation in FOLLOW_UPS:
        if not (trace or order_no):
            title = FOLLOW_UPS[operation][1]
            raise EcrRefusal(
                f"systraceNo or orderNo: a {title} names its original by its voucher "
                "number or its order number"
            )
        # The amount: the original's when not given (a completion's may differ).
        fen = _fen(amt) if amt and operation != "preauth_completion_void" else 0
        return PaymentOrder(
            method, operation, fen, now, now, orig_order_no=order_no, orig_stan=trace
        )
    if not amt:
        raise EcrRefusal(f"amt: required for procCd {proc_cd}")
    fen = _fen(amt)
    if fen <= 0:
        raise EcrRefusal(f"amt={amt!r} must be above zero")
    return PaymentOrder(method, operation, fen, order_no or now, now, orig_stan=trace)


def _card_type(label: str) -> str:
    """cardType: 00 借记卡, 01 贷记卡, 02 准贷记卡, 03 预闪付, 04 其他."""
    lowered = label.lower()
    return "00" if "debit" in lowered else "01" if "credit" in lowered else "04"


def reply_for(outcome: PaymentOutcome, merchant_name: str, year: str) -> dict[str, str]:
    """The reply fields pcInvokePOS.md lists (返回参数), for an outcome."""
    if not outcome.approved or outcome.detail is None:
        return {"msgTp": "0210", "code": "-1", "message": outcome.reason or "交易失败"}
    detail: TransactionDetail = outcome.detail
    reply = {
        "msgTp": "0210",
        "code": "0",
        "message": "交易成功",
        "payTp": REPLY_PAY_TYPES.get(detail.channel, "0"),
        "timeStamp": f"{year}{detail.date}{detail.time}",
        "merName": merchant_name,
        "merId": detail.merchant_id,
        "termId": detail.terminal_id,
        "batchNo": detail.batch_no,
        "traceNo": detail.stan,
        "transDate": f"{year}{detail.date}",
        "transTime": detail.time,
        "transAmount": format_yuan(detail.amount_fen),
        "operator": "01",
    }
    if detail.channel:  # 扫码交易: the order number, no card fields
        reply["scanNo"] = detail.order_no
        return reply
    reply.update(
        referNo=detail.rrn,
        acqNo="",  # possim keeps no acquirer institution code
        iisNo=detail.card_label,
        expDate="",  # never returned: card data stays in the card
        authCode=detail.auth_code,
        cardNo=detail.masked_pan,
        cardType=_card_type(detail.card_label),
        oldTransNo=detail.orig_stan,
        oldReferNo=detail.orig_rrn,
        oldTransDate=detail.orig_date.replace("/", ""),
    )
    return reply


class EcrDoor:
    """Turns request lines into reply lines on one shop (one payment at a time)."""

    def __init__(self, shop: Shop, stopping: threading.Event) -> None:
        self._shop = shop
        self._stopping = stopping

    def exchange(self, line: bytes, channel: str) -> bytes:
        """The reply line for one request line (blocks while the payment runs)."""
        try:
            reply = self._answer(line, channel)
        except EcrRefusal as exc:
            return self.refuse(exc, channel)
        return _line(reply)

    def refuse(self, refusal: EcrRefusal, channel: str) -> bytes:
        """The reply line refusing a request (and the log's line saying why)."""
        self._shop.bus.publish(EcrRefused(channel, str(refusal)))
        return _line({"msgTp": "0210", "code": "-1", "message": str(refusal)})

    def _answer(self, line: bytes, channel: str) -> dict[str, str]:
        try:
            body = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise EcrRefusal(f"not a JSON line: {exc}") from None
        terminal = self._shop.terminal
        now = terminal.clock.now()
        order = parse_request(body, f"{now:%Y%m%d%H%M%S}")
        if order.operation == "void":
            order = self._void_of(order)
        elif order.operation in FOLLOW_UPS:
            order = self._follow_up_of(order)
        contract = terminal.acquiring_app.contract
        try:
            extras = contract.build_request(order)
            contract.parse_request(extras)
        except ContractViolation as exc:
            raise EcrRefusal(f"the {contract.name} acquiring app refused it: {exc}") from None
        try:
            handle = terminal.start_relay(extras)
        except TerminalError as exc:
            return {"msgTp": "0210", "code": "-1", "message": str(exc)}
        deadline = terminal.clock.monotonic() + MAX_PAYMENT
        while not handle.finished and terminal.clock.monotonic() < deadline:
            if self._stopping.wait(_POLL):
                with contextlib.suppress(TerminalError):
                    terminal.cancel()
        sale = handle.wait(0)
        if sale is None:
            return {"msgTp": "0210", "code": "-1", "message": "the payment did not end in time"}
        return reply_for(sale.outcome, terminal.config.merchant_name, f"{now:%Y}")

    def _void_of(self, order: PaymentOrder) -> PaymentOrder:
        """A void names the sale by its voucher number (systraceNo): the journal's sale."""
        journal = self._shop.terminal.journal
        sales = [
            e for e in journal.entries() if e.operation == "sale" and e.stan == order.orig_stan
        ]
        if not sales:
            raise EcrRefusal(
                f"systraceNo={order.orig_stan!r}: no card sale with that voucher number"
            )
        sale = sales[-1]
        amount = order.amount_fen or sale.amount_fen
        return attrs.evolve(
            order, amount_fen=amount, orig_order_no=sale.order_no, orig_rrn=sale.rrn
        )

    def _follow_up_of(self, order: PaymentOrder) -> PaymentOrder:
        """A pre-auth follow-up names its original by voucher number (systraceNo) or order
        number (orderNo): the journal's approved original gives the order number the
        acquiring app knows it by, its amount when none is given, and -- for a
        pre-auth's completion or void -- its auth code and date (MMDD), which the
        vendor's Intent may quote (the terminal checks them against the pre-auth)."""
        operation, title = FOLLOW_UPS[order.operation]
        key, value = (
            ("systraceNo", order.orig_stan) if order.orig_stan else ("orderNo", order.orig_order_no)
        )
        found = [
            e
            for e in self._shop.terminal.journal.entries(TxnState.APPROVED)
            if e.operation == operation
            and (e.stan == value if key == "systraceNo" else e.order_no == value)
        ]
        if not found:
            what = "pre-auth" if operation == "preauth" else "pre-auth completion"
            raise EcrRefusal(f"{key}={value!r}: no approved {what} for the {title}")
        original = found[-1]
        of_preauth = operation == "preauth"  # a completion or a pre-auth void
        return attrs.evolve(
            order,
            amount_fen=order.amount_fen or original.amount_fen,
            orig_order_no=original.order_no,
            orig_stan=original.stan,
            orig_auth_code=original.auth_code if of_preauth else "",
            orig_date=original.transmission[:4] if of_preauth else "",
        )


def _line(reply: Mapping[str, str]) -> bytes:
    return json.dumps(reply, ensure_ascii=False).encode() + b"\n"


def _read_line(receive: Callable[[], bytes], buffer: bytearray) -> bytes | None:
    """The next line (without its end); None at the end of input. Over MAX_LINE: EcrRefusal."""
    while True:
        end = buffer.find(b"\n")
        if end >= 0:
            line = bytes(buffer[:end]).rstrip(b"\r")
            del buffer[: end + 1]
            return line
        if len(buffer) > MAX_LINE:
            raise EcrRefusal(f"a request line is over {MAX_LINE} bytes")
        chunk = receive()
        if not chunk:
            return None
        buffer += chunk


class EcrTcpServer:
    """The ECR door on TCP (loopback unless told otherwise), a thread per till.

    At most ``max_connections`` tills at once (more are closed at once); a till
    silent for ``idle_timeout`` s is closed; a line over :data:`MAX_LINE` closes its
    connection after the refusal.
    """

    def __init__(
        self,
        door: EcrDoor,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        log: Callable[[str], None] = print,
    ) -> None:
        if not allow_remote and not is_loopback(host):
            raise SimulatorError(f"the ECR door listens on loopback only; {host!r} is not")
        self._door = door
        self._max = max_connections
        self._idle = idle_timeout
        self._log = log
        self._sock = socket.create_server((host, port))
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="possim-ecr-tcp", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, peer = self._sock.accept()
            except OSError:
                return  # closed by stop()
            with self._lock:
                if len(self._clients) >= self._max:
                    self._log(f"ECR door: {self._max} tills connected; {peer[0]} closed")
                    client.close()
                    continue
                self._clients.add(client)
            client.settimeout(self._idle)
            threading.Thread(
                target=self._serve, args=(client, f"tcp {peer[0]}:{peer[1]}"), daemon=True
            ).start()

    def _serve(self, client: socket.socket, channel: str) -> None:
        buffer = bytearray()
        try:
            while True:
                try:
                    line = _read_line(lambda: client.recv(MAX_LINE), buffer)
                except EcrRefusal as exc:
                    client.sendall(self._door.refuse(exc, channel))
                    return
                if line is None:
                    return
                if line.strip():
                    client.sendall(self._door.exchange(line, channel))
        except OSError:
            return  # the till left, or was idle too long
        finally:
            with self._lock:
                self._clients.discard(client)
            client.close()

    def stop(self) -> None:
        self._stopping.set()
        self._sock.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        self._thread.join(5.0)


class EcrPty:
    """The ECR door on a pseudo-terminal: a till opens :attr:`path` as its serial port.

    Raw mode, no echo; the slave end stays open here, so a till may close and reopen it.
    """

    def __init__(self, door: EcrDoor) -> None:
        self._door = door
        self._master, self._slave = os.openpty()
        tty.setraw(self._master)
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="possim-ecr-pty", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buffer = bytearray()
        channel = f"pty {self.path}"
        with selectors.DefaultSelector() as selector:
            selector.register(self._master, selectors.EVENT_READ)
            selector.register(self._wake_r, selectors.EVENT_READ)

            def receive() -> bytes:
                while True:
                    for key, _ in selector.select():
                        if key.fd == self._wake_r:
                            return b""
                    with contextlib.suppress(BlockingIOError):
                        data = os.read(self._master, MAX_LINE)
                        if data:
                            return data

            while not self._stopping:
                try:
                    line = _read_line(receive, buffer)
                except EcrRefusal as exc:
                    buffer.clear()
                    self._write(self._door.refuse(exc, channel))
                    continue
                if line is None:
                    return
                if line.strip():
                    self._write(self._door.exchange(line, channel))

    def _write(self, reply: bytes) -> None:
        view = memoryview(reply)
        while view:
            try:
                view = view[os.write(self._master, view) :]
            except OSError:
                return

    def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        os.write(self._wake_w, b"x")
        self._thread.join(5.0)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
