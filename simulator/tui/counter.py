"""The person at the counter: the cashier's and the cardholder's hands on the model.

Pure model code (no Textual): the TUI, a test or a script queues *intents*
(a keypad key, insert / remove / swipe the chosen card, let time pass) and one
operator thread carries them out on the simulation, in order.

Time: the simulation runs on its virtual clock, and the person is an actor on
it. Whenever the terminal waits for a person (amount entry, present card, PIN,
remove card) the person holds the clock, so no cardholder timeout ever fires
while somebody thinks; whenever the terminal waits on machines (the host, the
printer, its own polling) the person lets go and virtual time runs freely, so a
30 s host timeout costs no real time. ``advance`` lets time pass on purpose
(to watch a card or PIN timeout happen).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

from simulator.devices.card_image import CardImage
from simulator.devices.pin_pad import DIGITS, KEY_CANCEL, KEY_CLEAR, KEY_OK
from simulator.simulation import Simulation
from simulator.terminal.amounts import format_yuan
from simulator.terminal.display import ScreenId

DEFAULT_CARD = "unionpay_debit"
MAX_AMOUNT_DIGITS = 9  # RMB 9,999,999.99
# Real seconds the operator looks again at the terminal while nobody acts.
_LOOK_AGAIN = 0.05
# Screens on which the terminal waits for a card to be presented.
_PRESENT = frozenset({ScreenId.PRESENT_CARD, ScreenId.SWIPE_CARD, ScreenId.INSERT_CHIP})

Listener = Callable[[], None]
ErrorListener = Callable[[BaseException], None]


class Counter:
    """Queues a person's actions and carries them out on one operator thread."""

    def __init__(self, simulation: Simulation, *, card: str | None = None) -> None:
        self.simulation = simulation
        self.cards = CardImage.names()
        if card is None:
            card = DEFAULT_CARD if DEFAULT_CARD in self.cards else self.cards[0]
        if card not in self.cards:
            raise ValueError(f"no card {card!r} in the catalogue: {', '.join(self.cards)}")
        self._card = card
        self._lock = threading.Lock()
        self._amount = ""  # the digits typed so far, in fen
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
    def can_swipe(self) -> bool:
        return self.simulation.world.magstripe_reader is not None

    @property
    def card_inserted(self) -> bool:
        slot = self.simulation.world.card_slot
        return slot is not None and slot.inserted_card is not None

    def choose_card(self, step: int) -> str:
        """Pick the next (``step=1``) or previous (``-1``) card of the catalogue."""
        with self._lock:
            index = (self.cards.index(self._card) + step) % len(self.cards)
            self._card = self.cards[index]
            chosen = self._card
        self._changed()
        return chosen

    # -- intents (any thread; carried out in order on the operator thread) --------

    def key(self, key: str) -> None:
        """A keypad key: a digit, OK, CLR or CANCEL."""
        if key not in DIGITS and key not in (KEY_OK, KEY_CLEAR, KEY_CANCEL):
            raise ValueError(f"no key {key!r} on the keypad")
        self._submit(lambda: self._key(key))

    def insert(self) -> None:
        self._submit(self._insert)

    def remove(self) -> None:
        self._submit(self._remove)

    def swipe(self) -> None:
        self._submit(self._swipe)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of virtual time pass (timeouts fire)."""
        self._submit(lambda: self.simulation.clock.advance(seconds))

    # -- the operator thread ------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, name="possim-counter", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping = True
        self._queue.put(None)
        self.simulation.clock.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def run(self) -> None:
        """The operator loop: run it on its own thread (``start`` or a worker)."""
        clock = self.simulation.clock
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
        terminal, world = self.simulation.terminal, self.simulation.world
        if not terminal.busy:
            return True
        pad = world.pin_pad
        if pad is not None and (pad.awaiting_pin or pad.awaiting_key):
            return True
        screen = terminal.display.screen.id
        if screen in _PRESENT:
            swiped = world.magstripe_reader is not None and world.magstripe_reader.pending > 0
            return not self.card_inserted and not swiped
        if screen is ScreenId.REMOVE_CARD:
            return self.card_inserted
        return screen is ScreenId.PRINTER_FAULT

    # -- actions (operator thread) -------------------------------------------------

    def _submit(self, action: Callable[[], None]) -> None:
        self._queue.put(action)
        self.simulation.clock.notify()

    def _key(self, key: str) -> None:
        pad = self.simulation.world.pin_pad
        if pad is not None and (pad.awaiting_pin or pad.awaiting_key):
            pad.press(key)
            return
        if self.simulation.terminal.busy:
            return  # nobody listens to the keypad now
        with self._lock:
            amount = self._amount
        if key in DIGITS:
            if len(amount) < MAX_AMOUNT_DIGITS and (amount or key != "0"):
                amount += key
        elif key == KEY_CLEAR:
            amount = amount[:-1]
        elif key == KEY_CANCEL:
            amount = ""
        elif key == KEY_OK and amount:
            self.simulation.terminal.start_sale(int(amount))
            amount = ""
        with self._lock:
            self._amount = amount

    def _image(self) -> CardImage:
        return CardImage.load(self.card)

    def _insert(self) -> None:
        world = self.simulation.world
        if world.card_slot is None:
            raise RuntimeError("this terminal has no simulated card slot")
        if world.card_slot.inserted_card is None:
            world.card_slot.insert(world.card(self._image()))

    def _remove(self) -> None:
        slot = self.simulation.world.card_slot
        if slot is not None and slot.inserted_card is not None:
            slot.remove()

    def _swipe(self) -> None:
        reader = self.simulation.world.magstripe_reader
        if reader is None:
            raise RuntimeError("this terminal has no simulated magstripe reader")
        reader.swipe(self._image())

    def _changed(self) -> None:
        for listener in list(self.on_change):
            listener()
