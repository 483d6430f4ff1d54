"""A terminal's QR payments against the aggregator's QR API (docs/qr_api.md).

Each call goes through the terminal's own :class:`~simulator.terminal.qr_link.QrLink`
(signed JSON over HTTP, ``urllib``: cooperative under Locust's gevent), timed
and reported as an :class:`~.terminal.Exchange`:

* :func:`micropay` -- the cashier scans the customer's payment code (WeChat,
  Alipay or UnionPay by the code's prefix); small amounts are paid at once;
* :func:`micropay_userpaying` -- an amount above the channel's password-free
  limit: ``USERPAYING``, the cashier polls, the simulated customer confirms on
  their phone (``/v1/sim/customer/confirm``), the next poll is ``SUCCESS``;
* :func:`dynamic_qr` -- the terminal shows a dynamic QR (``/v1/precreate``),
  the simulated customer's wallet pays it (``/v1/sim/customer/pay_qr``), the
  cashier polls until paid;
* :func:`qr_refund` -- refunds (all or half of) an order this terminal was paid.

The simulated customers (``/v1/sim/...``) exist on possim's gateway started
with ``--sim-customers``; against a real aggregator only :func:`micropay` and
:func:`qr_refund` apply (docs/load.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from simulator.loadtest.terminal import Exchange, LoadTerminal
from simulator.terminal.qr_link import QrLink, QrLinkError

QR = "QR"
QR_SIM = "QR sim"  # the simulated customer's calls, reported apart from the cashier's
PASSWORD_FREE_LIMIT_FEN = 100_000  # WeChat and UnionPay: strictly above 1000.00 needs a password
CHANNELS = ("wechat", "alipay", "unionpay_qr")
MAX_POLLS = 5  # a cashier's queries before giving up (the customer already answered)


def payment_code(terminal: LoadTerminal, channel: str) -> str:
    """A customer's payment code for ``channel``, by its documented prefix and length."""
    rng = terminal.rng
    prefix, length = {"wechat": ("13", 18), "alipay": ("28", 18), "unionpay_qr": ("62", 19)}[
        channel
    ]
    return prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix)))


def micropay(terminal: LoadTerminal, link: QrLink) -> None:
    """A scanned payment code below the password-free limit: paid at once."""
    channel = terminal.rng.choice(CHANNELS)
    amount = terminal.amount(1, 500)
    order = terminal.next_order("M")
    answer = _call(
        terminal,
        QR,
        "QR micropay",
        lambda: link.micropay(order, amount, payment_code(terminal, channel), "possim load"),
        _result_is("SUCCESS"),
        {"qr_order": order, "amount": str(amount)},
    )
    if answer is not None and answer.get("result") == "SUCCESS":
        terminal.paid_orders.append((order, amount))


def micropay_userpaying(terminal: LoadTerminal, link: QrLink) -> None:
    """Above the limit: USERPAYING, poll, the customer confirms, poll until SUCCESS."""
    amount = PASSWORD_FREE_LIMIT_FEN + terminal.amount(1, 500)
    order = terminal.next_order("U")
    answer = _call(
        terminal,
        QR,
        "QR micropay USERPAYING",
        lambda: link.micropay(order, amount, payment_code(terminal, "wechat"), "possim load"),
        _result_is("USERPAYING"),
        {"qr_order": order, "amount": str(amount), "pending": "1"},
    )
    if answer is None or answer.get("result") != "USERPAYING":
        return
    _call(terminal, QR, "QR query", lambda: link.query(order), _state_is("USERPAYING"))
    confirm = {"out_trade_no": order, "merchant_id": link.merchant_id}
    _call(
        terminal,
        QR_SIM,
        "customer confirms",
        lambda: link.sim("customer/confirm", confirm),
        _result_is("SUCCESS"),
    )
    _poll_paid(terminal, link, order, amount)


def dynamic_qr(terminal: LoadTerminal, link: QrLink, notify_url: str) -> None:
    """The terminal shows a dynamic QR; the customer's wallet pays it; the cashier polls."""
    channel = terminal.rng.choice(CHANNELS)
    amount = terminal.amount(1, 500)
    order = terminal.next_order("D")
    answer = _call(
        terminal,
        QR,
        "QR precreate",
        lambda: link.precreate(order, amount, channel, notify_url),
        _result_is("SUCCESS"),
        {"qr_order": order, "amount": str(amount), "pending": "1"},
    )
    if answer is None or answer.get("result") != "SUCCESS":
        return
    pay = {"qr_payload": str(answer.get("qr_payload", "")), "wallet": channel}
    _call(
        terminal,
        QR_SIM,
        "customer pays dynamic QR",
        lambda: link.sim("customer/pay_qr", pay),
        _result_is("SUCCESS"),
    )
    _poll_paid(terminal, link, order, amount)


def qr_refund(terminal: LoadTerminal, link: QrLink) -> None:
    """Refund all or half of an order this terminal was paid (none yet: a micropay)."""
    if not terminal.paid_orders:
        micropay(terminal, link)
        return
    order, paid = terminal.paid_orders.pop(terminal.rng.randrange(len(terminal.paid_orders)))
    refund_fen = paid if terminal.rng.random() < 0.5 else max(1, paid // 2)
    refund_no = f"R{order[1:]}"
    _call(
        terminal,
        QR,
        "QR refund",
        lambda: link.refund(order, refund_no, refund_fen),
        _result_is("SUCCESS"),
        {"qr_order": order, "qr_refund": refund_no, "refund": str(refund_fen)},
    )


def _poll_paid(terminal: LoadTerminal, link: QrLink, order: str, amount: int) -> None:
    """Query until paid; the last query allowed must find it paid (else a failure)."""
    for attempt in range(1, MAX_POLLS + 1):
        waiting = _state_in("SUCCESS", "USERPAYING", "NOTPAY")
        answer = _call(
            terminal,
            QR,
            "QR query",
            lambda: link.query(order),
            waiting if attempt < MAX_POLLS else _state_is("SUCCESS"),
            {"qr_order": order},
        )
        if answer is None:
            return
        if answer.get("trade_state") == "SUCCESS":
            terminal.paid_orders.append((order, amount))
            return


Check = Callable[[dict[str, Any]], str]


def _result_is(expected: str) -> Check:
    def check(answer: dict[str, Any]) -> str:
        result = answer.get("result")
        if result == expected:
            return ""
        return f"{result} {answer.get('error_code', '')}".strip()

    return check


def _state_is(expected: str) -> Check:
    return _state_in(expected)


def _state_in(*expected: str) -> Check:
    def check(answer: dict[str, Any]) -> str:
        state = answer.get("trade_state")
        return "" if state in expected else f"trade_state {state}"

    return check


def _call(
    terminal: LoadTerminal,
    kind: str,
    name: str,
    call: Callable[[], dict[str, Any]],
    check: Check,
    record: dict[str, str] | None = None,
) -> dict[str, Any] | None:
    started = time.perf_counter()
    try:
        answer = call()
    except QrLinkError as exc:
        seconds = time.perf_counter() - started
        terminal.report(Exchange(kind, name, seconds, str(exc), 0, dict(record or {})))
        return None
    seconds = time.perf_counter() - started
    error = check(answer)
    shown = dict(record or {})
    if record is not None:
        shown["result"] = str(answer.get("result") or answer.get("trade_state") or "")
        if _shows_paid(record, answer):
            shown["paid"] = "1"
    terminal.report(Exchange(kind, name, seconds, error, len(str(answer)), shown))
    return answer


def _shows_paid(record: dict[str, str], answer: dict[str, Any]) -> bool:
    """The answer says the order is paid: a query's SUCCESS, or a micropay's at once."""
    if "qr_refund" in record:
        return False
    if answer.get("trade_state") == "SUCCESS":
        return True
    return "pending" not in record and answer.get("result") == "SUCCESS"
