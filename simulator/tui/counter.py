"""The person at the counter: the cashier's, the cardholder's and the customer's
hands on the model.

Pure model code (no Textual): the TUI, a test or a script queues *intents*
(a keypad key, insert / remove / swipe the chosen card, scan a payment code,
pay a dynamic QR with the phone, open the printer cover, let time pass) and one
operator thread carries them out on the shop, in order -- with the shop's
:class:`~simulator.hands.Hands` (their events name the ``counter``), reading it
through its :class:`~simulator.view.ShopView`. A hand on a device that is real
raises :class:`~simulator.hands.NotSimulated`, which the TUI shows.

The cashier app's amount entry and payment-method choice live here: they are
what the cashier does before the terminal model has a sale to run.

Time: the simulation runs on its virtual clock, and the person is an actor on
it. Whenever the terminal waits for a person (amount entry, present card, PIN,
remove card, scan a code, pay the QR shown, a printer fault) the person holds
the clock, so no cardholder timeout ever fires while somebody thinks; whenever
the terminal waits on machines (the host, the printer, its own polling, a
notify) the person lets go and virtual time runs freely, so a
30 s host timeout costs no real time. ``advance`` lets time pass on purpose
(to watch a card or PIN timeout happen).

CANCEL while the terminal waits for a card, a code or the customer is the
cashier cancelling the payment (``Terminal.cancel``); from then on the terminal
winds the payment up on machines (its own wait, a last order query, a
reversal), so the person lets go of the clock until it is done.
"""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable

import attrs

from simulator.devices import cards
from simulator.devices.card_image import CardImage
from simulator.devices.pin_pad import DIGITS, KEY_CANCEL, KEY_CLEAR, KEY_OK
from simulator.errors import SimulatorError
from simulator.shop import Shop
from simulator.terminal.display import ScreenId
from simulator.terminal.qr_payments import QR_CHANNELS
from simulator.tui.scan_codes import SAMPLE_CODES, SampleCode
from simulator.wire.money import format_yuan

DEFAULT_CARD = "unionpay_debit"
MAX_AMOUNT_DIGITS = 9  # RMB 9,999,999.99
# Real seconds the operator looks again at the terminal while nobody acts.
_LOOK_AGAIN = 0.05
# Screens on which the terminal waits for a card to be presented.
_PRESENT = frozenset({ScreenId.PRESENT_CARD, ScreenId.SWIPE_CARD, ScreenId.INSERT_CHIP})

Listener = Callable[[], None]
ErrorListener = Callable[[BaseException], None]


@attrs.frozen
class PaymentMethod:
    method: str  # the cashier app's method: card, scan or a QR channel
    label: str


# What the cashier may choose once the amount is in, by the digit that picks it.
METHODS: tuple[PaymentMethod, ...] = (
    PaymentMethod("card", "银行卡 Card"),
    PaymentMethod("scan", "扫码 Scan the customer's code"),
    PaymentMethod("wechat", "微信收款码 WeChat QR"),
    PaymentMethod("alipay", "支付宝收款码 Alipay QR"),
    PaymentMethod("unionpay_qr", "云闪付收款码 UnionPay QR"),
)


class PersonError(SimulatorError):
    """What the person asked for cannot happen now (shown, never fatal)."""


class Counter:
    """Queues a person's actions and carries them out on one operator thread."""

    def __init__(self, shop: Shop, *, card: str | None = None) -> None:
        self.shop = shop
        self._hands = shop.hands.by("counter")
        self._view = shop.view
        self.cards = cards.names()
        if card is None:
            card = DEFAULT_CARD if DEFAULT_CARD in self.cards else self.cards[0]
        if card not in self.cards:
            raise ValueError(f"no card {card!r} in the catalogue: {', '.join(self.cards)}")
        self._card = card
        self._lock = threading.Lock()
        self._amount = ""  # the digits typed so far, in fen
        self._choosing = False  # the amount is in: the cashier picks the method
        self._code_index = 0
        self._sale_method = "card"
        # Dynamic QRs paid and USERPAYING orders confirmed: the terminal then
        # waits on machines (the notify, its polling), not on the person.
        self._paid_qrs: set[str] = set()
        self._confirmed_sale: object | None = None  # the SaleHandle confirmed on the phone
        self._queue: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.on_change: list[Listener] = []
        self.on_error: list[ErrorListener] = []

    # -- state (any thread) -------------------------------------------------------

    @property
    def card(self) -> str:
        with self._lock:
            return self._card

    @property
    def amount_digits(self) -> str:
        with self._lock:
            return self._amount

    @property
    def amount_text(self) -> str:
        return format_yuan(int(self.amount_digits or "0"))

    @property
    def choosing_method(self) -> bool:
        """The amount is in and the cashier is choosing how the customer pays."""
        with self._lock:
            return self._choosing

    @property
    def sample_code(self) -> SampleCode:
        with self._lock:
            return SAMPLE_CODES[self._code_index]

    @property
    def can_pay_qr(self) -> bool:
        """A dynamic QR waits on the screen, or a payment waits for the customer's OK."""
        screen = self._view.screen()
        if screen.id is ScreenId.SHOW_QR:
            return bool(screen.lines) and screen.lines[-1] not in self._paid_qrs
        if screen.id is ScreenId.WAITING_PAYMENT:
            return self._view.current_sale is not self._confirmed_sale
        return False

    @property
    def printer_faults(self) -> dict[str, bool]:
        """The virtual printer's paper-out and cover-open flags (empty if not simulated)."""
        return self._view.printer_faults()

    @property
    def can_swipe(self) -> bool:
        return self._view.simulated("magstripe_reader")

    @property
    def card_inserted(self) -> bool:
        return self._view.card_inserted

    @property
    def can_tap(self) -> bool:
        """The terminal has a simulated contactless field and the chosen card an antenna."""
        return self._view.simulated("picc_slot") and _has_antenna(self.card)

    def choose_card(self, step: int) -> str:
        """Pick the next (``step=1``) or previous (``-1``) card of the catalogue."""
        with self._lock:
            index = (self.cards.index(self._card) + step) % len(self.cards)
            self._card = self.cards[index]
            chosen = self._card
        self._changed()
        return chosen

    def choose_code(self, step: int) -> SampleCode:
        """Pick the next (``step=1``) or previous (``-1``) sample payment code."""
        with self._lock:
            self._code_index = (self._code_index + step) % len(SAMPLE_CODES)
            chosen = SAMPLE_CODES[self._code_index]
        self._changed()
        return chosen

    # -- intents (any thread; carried out in order on the operator thread) --------

    def key(self, key: str) -> None:
        """A keypad key: a digit, OK, CLR or CANCEL (a payment waiting for the card, a
        code or the customer: the cashier cancels it)."""
        if key not in DIGITS and key not in (KEY_OK, KEY_CLEAR, KEY_CANCEL):
            raise ValueError(f"no key {key!r} on the keypad")
        self._submit(lambda: self._key(key))

    def insert(self) -> None:
        self._submit(self._insert)

    def remove(self) -> None:
        self._submit(self._remove)

    def swipe(self) -> None:
        self._submit(self._swipe)

    def tap(self) -> None:
        """The customer taps the chosen card (or phone) on the contactless field."""
        self._submit(self._tap)

    def scan(self, code: str | None = None) -> None:
        """The cashier scans ``code`` (default: the chosen sample code) with the scanner."""
        if code is not None and not code.strip():
            raise ValueError("a payment code cannot be empty")
        self._submit(lambda: self._scan(code.strip() if code else self.sample_code.code))

    def customer_pays(self) -> None:
        """The customer pays the dynamic QR on the screen, or confirms a waiting payment."""
        self._submit(self._customer_pays)

    def toggle_paper(self) -> None:
        """Pull the paper roll out (paper end), or load a new roll if it is out."""
        self._submit(self._toggle_paper)

    def toggle_cover(self) -> None:
        """Open the printer cover, or close it if it is open."""
        self._submit(self._toggle_cover)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (timeouts fire)."""
        self._submit(lambda: self._hands.advance(seconds))

    # -- the operator thread ------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="possim-counter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._queue.put(None)
        self.shop.clock.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The operator loop: run it on its own thread (``start`` or a worker)."""
        clock = self.shop.clock
        with clock.actor():
            while not self._stopping:
                # Idle on the clock (time runs) until the terminal waits for a person.
                clock.wait_until(lambda: self._stopping or self.awaits_person(), None)
                try:
                    action = self._queue.get(timeout=_LOOK_AGAIN)
                except queue.Empty:
                    continue  # look again: the terminal may have moved on to machines
                if action is None:
                    break
                try:
                    action()
                    clock.settle()
                except Exception as exc:  # shown to the person, the loop goes on
                    for listener in list(self.on_error):
                        listener(exc)
                self._changed()

    def awaits_person(self) -> bool:
        """Whether the terminal now waits for somebody at the counter."""
        view = self._view
        if not view.busy:
            return True
        if view.cancel_pending:
            return False  # the terminal acts on the cashier's CANCEL by itself
        if view.awaiting_pin or view.awaiting_key:
            return True
        screen = view.screen().id
        if screen in _PRESENT:
            return not self.card_inserted and view.swipes_pending == 0
        if screen is ScreenId.REMOVE_CARD:
            return self.card_inserted
        if screen is ScreenId.SCAN_CODE:
            return True
        if screen in (ScreenId.SHOW_QR, ScreenId.WAITING_PAYMENT):
            return self.can_pay_qr
        if screen is ScreenId.PRINTER_FAULT:
            # Once the fault is cleared the print queue's polling must find out.
            return any(self.printer_faults.values())
        return False

    # -- actions (operator thread) -------------------------------------------------

    def _submit(self, action: Callable[[], None]) -> None:
        self._queue.put(action)
        self.shop.clock.notify()

    def _key(self, key: str) -> None:
        if self._view.awaiting_pin or self._view.awaiting_key:
            self._hands.press(key)
            return
        if self._view.busy:
            if key == KEY_CANCEL:
                # Refused (CancelRefused) while the terminal authorises: shown to the person.
                self._hands.cancel_payment()
            return  # nobody else listens to the keypad now
        with self._lock:
            amount, choosing = self._amount, self._choosing
        if choosing:
            self._choose_method(key, amount)
            return
        if key in DIGITS:
            if len(amount) < MAX_AMOUNT_DIGITS and (amount or key != "0"):
                amount += key
        elif key == KEY_CLEAR:
            amount = amount[:-1]
        elif key == KEY_CANCEL:
            amount = ""
        elif key == KEY_OK and amount:
            with self._lock:
                self._choosing = True
            return
        with self._lock:
            self._amount = amount

    def _choose_method(self, key: str, amount: str) -> None:
        """1-5 pick a method, OK the first (card); CLR goes back, CANCEL drops the sale."""
        chosen: PaymentMethod | None = None
        if key == KEY_OK:
            chosen = METHODS[0]
        elif key in DIGITS and 1 <= int(key) <= len(METHODS):
            chosen = METHODS[int(key) - 1]
        elif key in (KEY_CLEAR, KEY_CANCEL):
            with self._lock:
                self._choosing = False
                if key == KEY_CANCEL:
                    self._amount = ""
            return
        if chosen is None:
            return
        self._hands.start_sale(int(amount), chosen.method)
        with self._lock:
            self._choosing, self._amount, self._sale_method = False, "", chosen.method

    def _image(self) -> CardImage:
        return cards.load(self.card)

    def _insert(self) -> None:
        if not self.card_inserted:
            self._hands.insert_card(self._image())

    def _remove(self) -> None:
        if self.card_inserted:
            self._hands.remove_card()

    def _swipe(self) -> None:
        self._hands.swipe_card(self._image())

    def _tap(self) -> None:
        self._hands.tap_card(self._image())

    def _scan(self, code: str) -> None:
        self._hands.scan(code)

    def _customer_pays(self) -> None:
        screen = self._view.screen()
        if screen.id is ScreenId.SHOW_QR and self.can_pay_qr:
            wallet = self._sale_method if self._sale_method in QR_CHANNELS else "wechat"
            self._hands.customer_pays_qr(screen.lines[-1], wallet)
            self._paid_qrs.add(screen.lines[-1])
        elif screen.id is ScreenId.WAITING_PAYMENT and self.can_pay_qr:
            sale = self._view.last_qr_sale()
            self._hands.customer_confirms("" if sale is None else sale.out_trade_no)
            self._confirmed_sale = self._view.current_sale
        else:
            raise PersonError("no QR to pay and no payment waiting for the customer")

    def _toggle_paper(self) -> None:
        if self.printer_faults.get("paper_out"):
            self._hands.refill_paper()
        else:
            self._hands.take_paper_out()

    def _toggle_cover(self) -> None:
        if self.printer_faults.get("cover_open"):
            self._hands.close_cover()
        else:
            self._hands.open_cover()

    def _changed(self) -> None:
        for listener in list(self.on_change):
            listener()


@functools.lru_cache(maxsize=64)
def _has_antenna(name: str) -> bool:
    """Whether the catalogue card ``name`` can be tapped (read once: the refresh asks often)."""
    return cards.load(name).contactless
