"""A terminal's card transactions on the wire, as the terminal itself builds them.

Each function is one transaction of one :class:`~.terminal.LoadTerminal`:
it builds the requests with the terminal's own pure builders
(:func:`~simulator.terminal.financial_requests.financial_request`,
:func:`~simulator.terminal.financial_requests.reversal_request`,
:func:`~simulator.terminal.settlement.settlement_request`, the card's fields
from :mod:`simulator.terminal.card_fields`), runs the terminal's EMV kernel
against the terminal's own virtual catalogue card for a chip sale (a real ARQC
in DE55, the second GENERATE AC with the host's ARPC), sends them over the
terminal's :class:`~.connection.IsoConnection` and reports each exchange. The
host decides; nothing here assumes an answer.

* :func:`chip_sale` -- EMV contact purchase (0200, DE55; DE52 when the card's
  CVM list asks for an online PIN);
* :func:`magstripe_sale` -- swiped (0200, DE35; DE52 when the track asks for one);
* :func:`void` -- 0200/200000 of a sale of the open batch; :func:`refund` --
  0220/200000 of any approved sale;
* :func:`preauth_completion` -- a chip pre-authorisation (0100/030000, held,
  not charged), then its online completion (0200/000000, DE60.1 ``20``) for
  what was drawn, naming the pre-auth by RRN, auth code and DE61 as the
  terminal's acquiring app does (:meth:`~simulator.terminal.authorisation.Authoriser.follow_up`);
* :func:`lost_reply_sale` -- a chip sale whose 0210 the terminal treats as lost
  (read, then dropped as if it came after the timeout), then the 0400 reversal
  a terminal owes for it: the host has decided the sale before the reversal is
  sent, so the outcome is fixed (a reversal racing an undecided sale is a
  host's problem worth testing, but not one a ledger check can settle);
* :func:`batch_close` -- the 0500 with the open batch's totals (DE48).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from simulator.devices.card_reader import SimCardReader
from simulator.loadtest.connection import NoReply
from simulator.loadtest.terminal import Exchange, LoadTerminal, Sale
from simulator.terminal.acquiring_app import ENTRY_MODE_ICC, ENTRY_MODE_MAGSTRIPE
from simulator.terminal.authorisation import REVERSAL_NO_ANSWER
from simulator.terminal.card_fields import (
    chip_card_fields,
    icc_field,
    issuer_authentication,
    pin_block_field,
    swipe_card_fields,
)
from simulator.terminal.emv import CvmOutcome, EmvKernel, PinRequest, TerminalEmvConfig
from simulator.terminal.financial_requests import (
    OPERATIONS,
    REFUND_CARD_FIELDS,
    Merchant,
    financial_request,
    original_data,
    reversal_request,
    transmission_time,
)
from simulator.terminal.settlement import settlement_request
from simulator.terminal.track2 import Track2
from simulator.wire.batch_totals import SETTLE_BALANCED, decode_de48
from simulator.wire.iso8583 import Fields
from simulator.wire.response_codes import APPROVED

ISO = "ISO8583"
PREAUTH = "preauth"
# DE60.1 -> the journal operation (the terminal's OPERATIONS table).
_OPERATION_BY_TYPE = {type_code: op for op, (_, _, type_code, _) in OPERATIONS.items()}
# Catalogue cards by what a chip sale exercises (firmware_fixtures/cards/).
OFFLINE_PIN_CARDS = ("unionpay_debit",)  # CVM list 41 03: plaintext PIN checked by the card
ONLINE_PIN_CARDS = ("visa_credit", "mastercard_debit", "unionpay_credit")  # 42/02: DE52
MAGSTRIPE_CARDS = ("magstripe_only",)
MAX_OPEN_SALES = 64  # sales a terminal keeps for later voids and refunds
_EMV_CONFIG = TerminalEmvConfig()


def chip_sale(terminal: LoadTerminal, card_name: str, name: str = "0200 sale chip") -> None:
    """An EMV contact purchase with the card's real ARQC."""
    approved = _chip(terminal, card_name, name, lose_reply=False)
    if approved is not None:
        _sold(terminal, *approved)


def preauth_completion(terminal: LoadTerminal, card_name: str = ONLINE_PIN_CARDS[0]) -> None:
    """A chip pre-auth, then its completion for part or all of the amount held.

    The pump's hold and the litres drawn: the completion is a whole-yuan amount
    up to the pre-auth's (the acquirer's tolerance above it is the host's
    business, tested in tests/test_preauth_host.py). Only the completion is a
    debit of the batch (the 0500 counts completions, not pre-auths).
    """
    approved = _chip(terminal, card_name, "0100 pre-auth chip", lose_reply=False, operation=PREAUTH)
    if approved is None:
        return
    preauth, reply = approved
    held = int(preauth["4"])
    amount = terminal.rng.randint(1, held // 100) * 100
    request = _request(terminal, "preauth_completion", amount)
    request["37"] = reply.get("37", "")
    if reply.get("38"):
        request["38"] = reply["38"]
    request["61"] = original_data(terminal.batch_no, preauth["11"], preauth["7"])
    completion = _send(terminal, request, "0200 pre-auth completion")
    if completion is not None and completion.get("39") == APPROVED:
        terminal.debit.append(amount)


def lost_reply_sale(terminal: LoadTerminal, card_name: str = OFFLINE_PIN_CARDS[0]) -> None:
    """A chip sale whose reply the terminal drops, then its reversal (0400 reason 98)."""
    _chip(terminal, card_name, "0200 sale, reply lost", lose_reply=True)


def _chip(
    terminal: LoadTerminal,
    card_name: str,
    name: str,
    *,
    lose_reply: bool,
    operation: str = "sale",
) -> tuple[Fields, Fields] | None:
    """One chip ``operation`` (a sale or a pre-auth); (request, reply) if approved."""
    image = terminal.image(card_name)
    reader = SimCardReader(terminal.clock, name="possim load-test reader")
    reader.insert(terminal.card(card_name))
    kernel = EmvKernel(reader, _EMV_CONFIG, terminal.rng, terminal.now)
    try:
        amount = terminal.amount()
        card = kernel.read_card(amount)
        cvm = kernel.verify_cardholder(lambda request: _pin(image.pin, request))
        fields = chip_card_fields(card, ENTRY_MODE_ICC)
        if cvm.outcome is CvmOutcome.ONLINE_PIN and cvm.online_pin:
            fields["52"] = pin_block_field(cvm.online_pin, card.pan, terminal.pin_key)
            name = name.replace("chip", "chip online PIN")
        fields["55"] = icc_field(kernel.first_generate_ac())
        request = {**_request(terminal, operation, amount), **fields}
        reply = _send(terminal, request, name, counted=not lose_reply)
        if lose_reply:
            kernel.second_generate_ac(None, None)  # no answer: the card declines (AAC)
            if reply is not None and reply.get("39") == APPROVED:
                _reverse(terminal, request)
            return None
        code = None if reply is None else reply.get("39")
        kernel.second_generate_ac(code, None if reply is None else issuer_authentication(reply))
        return (request, reply) if reply is not None and code == APPROVED else None
    finally:
        kernel.finish()
        reader.remove()


def _pin(pin: str, request: PinRequest) -> str:
    return pin  # the cardholder knows their PIN (offline: the card checks it; online: DE52)


def magstripe_sale(
    terminal: LoadTerminal,
    card_name: str = MAGSTRIPE_CARDS[0],
    amount_fen: int = 0,
    *,
    pin: bool = True,
) -> None:
    """A swiped purchase; DE52 when the track (or a UnionPay BIN) asks for a PIN.

    ``amount_fen`` 0: a random whole-yuan amount. ``pin`` False: no PIN block even
    where one is asked for (``possim fleet``'s purchases, for hosts that know no
    terminal PIN key).
    """
    image = terminal.image(card_name)
    track = Track2.parse(image.track2)
    assert track is not None, f"card image {card_name} has no ISO 7813 track 2"
    amount = amount_fen or terminal.amount()
    fields = swipe_card_fields(track, ENTRY_MODE_MAGSTRIPE)
    name = "0200 sale magstripe"
    if pin and track.pin_required:
        fields["52"] = pin_block_field(image.pin, track.pan, terminal.pin_key)
        name += " online PIN"
    request = {**_request(terminal, "sale", amount), **fields}
    reply = _send(terminal, request, name)
    if reply is not None and reply.get("39") == APPROVED:
        _sold(terminal, request, reply)


def void(terminal: LoadTerminal) -> None:
    """Void a sale of the open batch (none left: a chip sale instead)."""
    sales = [s for s in terminal.open_sales if s.batch_no == terminal.batch_no]
    if not sales:
        chip_sale(terminal, OFFLINE_PIN_CARDS[0])
        return
    sale = terminal.rng.choice(sales)
    terminal.open_sales.remove(sale)
    request = _request(terminal, "void", sale.amount_fen)
    request.update(
        {"37": sale.rrn, "38": sale.auth_code, "61": _original(sale)}
        if sale.auth_code
        else {"37": sale.rrn, "61": _original(sale)}
    )
    reply = _send(terminal, request, "0200 void")
    if reply is not None and reply.get("39") == APPROVED:
        terminal.credit.append(sale.amount_fen)


def refund(terminal: LoadTerminal) -> None:
    """Refund (all or part of) an earlier sale, the card presented again."""
    if not terminal.open_sales:
        chip_sale(terminal, OFFLINE_PIN_CARDS[0])
        return
    sale = terminal.open_sales.pop(terminal.rng.randrange(len(terminal.open_sales)))
    amount = (
        sale.amount_fen if terminal.rng.random() < 0.5 else max(100, sale.amount_fen // 200 * 100)
    )
    request = _request(terminal, "refund", amount)
    request.update(sale.refund_fields)
    request.update({"37": sale.rrn, "61": _original(sale)})
    reply = _send(terminal, request, "0220 refund")
    if reply is not None and reply.get("39") == APPROVED:
        terminal.credit.append(amount)


def batch_close(terminal: LoadTerminal) -> None:
    """Close the open batch: 0500 with its totals; balanced is a success."""
    now = terminal.now()
    totals = terminal.totals()
    request = settlement_request(
        stan=terminal.next_stan(),
        transmission=transmission_time(now),
        batch_no=terminal.batch_no,
        totals=totals,
        merchant=terminal.merchant,
        now=now,
    )
    reply = _send(terminal, request, "0500 batch close", check=_balanced)
    if reply is not None and _balanced(reply) == "":
        terminal.batch_closed()


def _balanced(reply: Fields) -> str:
    if reply.get("39") != APPROVED:
        return f"response code {reply.get('39')!r}"
    decoded = decode_de48(reply.get("48", ""))
    if decoded is None or decoded[1] != SETTLE_BALANCED:
        return "batch out of balance" if decoded is not None else "DE48 unreadable"
    return ""


def _approved(reply: Fields) -> str:
    code = reply.get("39", "")
    return "" if code == APPROVED else f"response code {code!r}"


# -- requests and exchanges -------------------------------------------------------------


def _request(terminal: LoadTerminal, operation: str, amount_fen: int) -> Fields:
    now = terminal.now()
    return financial_request(
        operation,
        amount_fen=amount_fen,
        transmission=transmission_time(now),
        stan=terminal.next_stan(),
        batch_no=terminal.batch_no,
        currency=terminal.merchant.currency,
        merchant=terminal.merchant,
        now=now,
    )


def _original(sale: Sale) -> str:
    return original_data(sale.batch_no, sale.stan, sale.transmission)


def _sold(terminal: LoadTerminal, request: Fields, reply: Fields) -> None:
    amount = int(request["4"])
    terminal.debit.append(amount)
    refund_fields = {k: v for k, v in request.items() if k in REFUND_CARD_FIELDS}
    sale = Sale(
        amount,
        request["11"],
        request["7"],
        terminal.batch_no,
        reply.get("37", ""),
        reply.get("38", ""),
        refund_fields,
    )
    terminal.open_sales.append(sale)
    del terminal.open_sales[:-MAX_OPEN_SALES]


def _reverse(terminal: LoadTerminal, original: Fields) -> None:
    """The 0400 a terminal owes for a sale whose answer it never got."""
    request = reversal_request(
        "sale",
        amount_fen=int(original["4"]),
        stan=original["11"],
        original_transmission=original["7"],
        entry_mode=original["22"],
        currency=original["49"],
        reason_code=REVERSAL_NO_ANSWER,
        merchant=terminal.merchant,
        now=terminal.now(),
    )
    _send(terminal, request, "0400 reversal")


def _send(
    terminal: LoadTerminal,
    request: Fields,
    name: str,
    *,
    counted: bool = True,
    check: Callable[[Fields], str] | None = None,
) -> Fields | None:
    """One exchange, reported; the reply (None: none came).

    ``counted`` False: the reply is read but treated as lost (the caller reverses):
    it is reported under its own name as the host's answer time, not as an approval.
    """
    assert terminal.connection is not None, "a card transaction needs an iso8583:// host"
    record = {
        "mti": request["t"],
        "tid": request["41"],
        "stan": request["11"],
        "transmission": request["7"],
    }
    if request["t"] == "0400":
        record["original"] = request["90"][4:20]  # STAN + DE7 of the sale it reverses
    operation = _OPERATION_BY_TYPE.get(request.get("60", "")[:2])
    if operation is not None:
        record["operation"] = operation  # the ledger row's kind (LedgerEntry.kind)
    if "37" in request:
        record["original_rrn"] = request["37"]  # a void, refund or completion's original
    try:
        reply, seconds = terminal.connection.exchange(request)
    except NoReply as exc:
        record["error"] = str(exc)
        record["at"] = f"{time.time():.6f}"
        terminal.report(Exchange(ISO, name, terminal.connection.timeout, str(exc), 0, record))
        return None
    record["at"] = f"{time.time():.6f}"  # when the answer came (wall clock, for rates)
    record["seconds"] = f"{seconds:.6f}"
    record["rc"] = reply.get("39", "")
    record["rrn"] = reply.get("37", "")
    record["auth"] = reply.get("38", "")
    if not counted:
        record["lost"] = "1"
    error = (check or _approved)(reply) if counted else ""
    size = sum(len(value) for value in reply.values())
    terminal.report(Exchange(ISO, name, seconds, error, size, record))
    return reply


def warm_up() -> None:
    """Do once, offline, what a process's first chip sale would: load the catalogue
    cards, import and run the EMV kernel and the PIN block.

    A Locust worker calls this before it joins its master: on a loaded machine the
    first transactions' imports and parsing could otherwise hold its CPU so long
    that it misses its heartbeats and the master gives it up.
    """
    terminal = LoadTerminal(
        Merchant("WARMUP01", "000000000000000", "156"),
        None,
        lambda exchange: None,
        random.Random(0),
        bytes(16),
    )
    for name in (*OFFLINE_PIN_CARDS, *ONLINE_PIN_CARDS, *MAGSTRIPE_CARDS):
        terminal.image(name)
    reader = SimCardReader(terminal.clock, name="possim warm-up reader")
    reader.insert(terminal.card(ONLINE_PIN_CARDS[0]))
    kernel = EmvKernel(reader, _EMV_CONFIG, terminal.rng, terminal.now)
    try:
        card = kernel.read_card(100)
        kernel.verify_cardholder(
            lambda request: _pin(terminal.image(ONLINE_PIN_CARDS[0]).pin, request)
        )
        icc_field(kernel.first_generate_ac())
        pin_block_field("1234", card.pan, bytes(16))
    finally:
        kernel.finish()
        reader.remove()
