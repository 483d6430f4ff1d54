"""``possim tui``: the smart POS and its hardware on screen (wiring and keys only).

The model knows nothing of Textual: :class:`~simulator.tui.counter.Counter`
carries the person's intents out on its own thread, the
:class:`~simulator.tui.bridge.Bridge` turns model events into messages, and
the handlers here set the widgets' state from the model.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import events
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, TabbedContent, TabPane

from drivers.wedge_keys import WedgeBurstDetector
from simulator.terminal.display import ScreenId, ScreenShown
from simulator.tui.base import PossimBaseApp
from simulator.tui.messages import ActionFailed, BusChanged, CounterChanged, ReceiptPrinted
from simulator.tui.screens.confirm_quit import ConfirmQuitScreen
from simulator.tui.screens.help import HelpScreen
from simulator.tui.screens.scan_input import ScanInputScreen
from simulator.tui.widgets.card_slot import CardSlot
from simulator.tui.widgets.device_badges import DeviceBadges
from simulator.tui.widgets.event_log import EventLog
from simulator.tui.widgets.keypad import Keypad
from simulator.tui.widgets.ledger import LedgerPanel
from simulator.tui.widgets.printer import PaperRoll
from simulator.tui.widgets.scanner import ScannerPanel
from simulator.tui.widgets.speaker import SpeakerLog
from simulator.tui.widgets.terminal_screen import TerminalScreen

if TYPE_CHECKING:
    # The simulation (the gateway, aiohttp, the devices) is imported when it is
    # built, after the first paint: a person sees the terminal start at once.
    from simulator.shop import Shop
    from simulator.tui.bridge import Bridge
    from simulator.tui.counter import Counter

ADVANCE_SECONDS = 10.0
WIDE = 110  # columns from which the event log and ledger show (app.tcss: -narrow hides them)
FOOTER_ROWS = 1
KEYPAD_ROWS = 4
# Result screens a terminal holds before the next prompt (real seconds: a person reads it).
RESULT_SCREENS = frozenset({ScreenId.APPROVED, ScreenId.DECLINED})
RESULT_HOLD = 1.5
POS_WIDTH, POS_PADDING = 40, 2  # the POS column (app.tcss) and its padding
_KEYPAD = {"enter": "OK", "backspace": "CLR", "escape": "CANCEL"}
STARTING_TITLE = "开机中 Starting"
STARTING_LINES = ("请稍候", "please wait")


@functools.cache
def _ledger_events() -> tuple[type, ...]:
    """Events after which the ledger tab reads the gateway's ledger and QR orders
    again: the host decided, the QR API or a notify changed an order."""
    from simulator.gateway.faults import HostFaultStruck, HttpFaultStruck
    from simulator.gateway.qr.http import QrApiCall
    from simulator.gateway.qr.notify import NotifyDropped, NotifyFailed, NotifySent
    from simulator.gateway.server import HostIsoMessage, NoReply
    from simulator.hands.host import UnrecordedSale
    from simulator.terminal.notify_receiver import NotifyJudged
    from simulator.terminal.qr_link import QrHttpCall

    return (
        HostIsoMessage,
        NoReply,
        HostFaultStruck,
        UnrecordedSale,
        QrApiCall,
        HttpFaultStruck,
        QrHttpCall,
        NotifySent,
        NotifyFailed,
        NotifyDropped,
        NotifyJudged,
    )


class ShopReady(Message):
    """The shop built on its own thread is ready (or could not be built)."""

    def __init__(self, shop: Shop | None, error: BaseException | None = None) -> None:
        super().__init__()
        self.shop = shop
        self.error = error


@functools.lru_cache(maxsize=64)
def card_about(name: str) -> str:
    """What the card slot says of a catalogue card: its test PIN and what it does."""
    from simulator.devices import cards

    image = cards.load(name)
    return f"PIN {image.pin} · {image.description}"


class PossimApp(PossimBaseApp):
    CSS_PATH = "app.tcss"
    TITLE = "possim"
    AUTO_FOCUS = None
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]  # noqa: RUF012
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(d, f"key('{d}')", d, show=False, priority=True, id=f"pos.digit{d}")
            for d in "0123456789"
        ),
        # The keypad shows OK, CLR and CANCEL: the footer keeps its room for the rest.
        Binding("enter", "key('OK')", "OK", show=False, priority=True, id="pos.ok"),
        Binding("backspace", "key('CLR')", "CLR", show=False, priority=True, id="pos.clear"),
        Binding("escape", "key('CANCEL')", "CANCEL", show=False, priority=True, id="pos.cancel"),
        Binding("i", "insert", "insert", priority=True, id="card.insert"),
        Binding("r", "remove", "remove", priority=True, id="card.remove"),
        Binding("s", "swipe", "swipe", priority=True, id="card.swipe"),
        Binding("a", "tap", "tap", priority=True, id="card.tap"),
        Binding("right_square_bracket", "card(1)", "card", priority=True, id="card.next"),
        Binding("left_square_bracket", "card(-1)", "prev card", show=False, id="card.prev"),
        Binding("n", "next_code", "next code", show=False, id="scanner.next"),
        Binding("k", "scan", "scan", priority=True, id="scanner.scan"),
        Binding("y", "type_code", "type code", show=False, id="scanner.type"),
        Binding("p", "customer_pays", "customer pays", priority=True, id="customer.pays"),
        Binding("x", "paper", "paper", id="printer.paper"),
        Binding("c", "cover", "cover", show=False, id="printer.cover"),
        Binding("v", "roll", "paper roll", show=False, id="printer.roll"),
        Binding("t", "advance", f"+{ADVANCE_SECONDS:g}s", show=False, id="clock.advance"),
        Binding("e", "tab('events')", "events", show=False, id="view.events"),
        Binding("l", "tab('ledger')", "ledger", show=False, id="view.ledger"),
        Binding("f1,question_mark", "help", "help", id="app.help"),
        Binding("q", "quit", "quit", id="app.quit"),
    ]
    KEYS_HELP: ClassVar[list[tuple[str, str]]] = [
        ("0-9", "the amount (in fen) / the PIN on the PIN pad"),
        ("enter", "OK: amount done / pay by card / confirm the PIN"),
        ("1-5", "after the amount: card, scan, WeChat/Alipay/UnionPay QR"),
        ("backspace", "CLR: last digit / the PIN / back to the amount"),
        ("escape", "CANCEL: the amount; a payment waiting for card/code/QR"),
        ("[ ]", "the previous / next card of the catalogue"),
        ("i r s a", "insert / remove / swipe / tap (contactless) the chosen card"),
        ("n k", "the next sample payment code / scan it"),
        ("y", "type a payment code and scan it"),
        ("p", "the customer pays the QR shown / confirms on the phone"),
        ("x c", "printer: paper out or refill / open or close the cover"),
        ("v", "the paper roll on the whole screen, and back"),
        ("t", f"let {ADVANCE_SECONDS:g} s of time pass (timeouts)"),
        ("e l", "the event log / the gateway ledger (wide screens)"),
        ("ctrl+p", "the command palette: every action by name"),
        ("f1 ?", "this help"),
        ("q", "quit (asks while a payment runs)"),
    ]

    def __init__(
        self,
        shop: Shop | None = None,
        *,
        card: str | None = None,
        build_shop: Callable[[], Shop] | None = None,
    ) -> None:
        """With a ready ``shop``, or ``build_shop``: the app paints its first screen
        ("starting") at once and builds the shop on its own thread; the keys pressed
        meanwhile wait and are carried out in order once it is ready."""
        super().__init__()
        if (shop is None) == (build_shop is None):
            raise ValueError("PossimApp takes a shop or a build_shop, one of them")
        self._card = card
        self._build_shop = build_shop
        self.built: Shop | None = shop  # the shop once it exists (the caller closes it)
        self.startup_error: BaseException | None = None
        self._waiting: list[Callable[[Counter], object]] = []  # intents before the shop
        self._started = False
        self._builder: threading.Thread | None = None
        # A keyboard-wedge scan gun types a code as a burst of keys a few ms apart;
        # drivers/wedge_keys.py tells it from a person typing: each burst is a scan.
        self.wedge = WedgeBurstDetector()
        self._seen = 0
        self._held = False  # a result screen is being held
        self._after_hold: ScreenShown | None = None  # the screen to show once it ends

    @property
    def ready(self) -> bool:
        """Whether the shop is built and the app drives it."""
        return self._started

    def compose(self) -> ComposeResult:
        with Vertical(id="pos"):
            yield TerminalScreen(id="screen")
            yield Keypad(id="keypad")
        with Vertical(id="devices"):
            yield DeviceBadges(id="badges")
            yield CardSlot(id="card-slot")
            yield ScannerPanel(id="scanner")
            yield PaperRoll(id="printer")
            yield SpeakerLog(id="speaker")
        with TabbedContent(id="what", initial="events"):
            with TabPane("Events", id="events"):
                yield EventLog(id="event-log")
            with TabPane("Ledger", id="ledger"):
                yield LedgerPanel(id="ledger-table")
        yield Footer()

    def on_mount(self) -> None:
        if self.built is not None:
            self._start(self.built)
            return
        screen = self.query_one(TerminalScreen)
        screen.screen_id, screen.title, screen.lines = "starting", STARTING_TITLE, STARTING_LINES
        build = self._build_shop
        assert build is not None
        self._builder = threading.Thread(target=self._build, args=(build,), name="shop-build")
        # After the first frame: the build's imports hold the GIL, and would delay it.
        self.call_after_refresh(self._builder.start)

    def close_shop(self) -> None:
        """After :meth:`run`, with ``build_shop``: wait for a build under way (a person
        may quit while it starts) and close the shop the app built."""
        if self._builder is not None and self._builder.ident is not None:  # it started
            self._builder.join()
        if self._build_shop is not None and self.built is not None:
            self.built.close()

    def _build(self, build: Callable[[], Shop]) -> None:
        """On its own thread: build the shop and hand it to the app (post_message is
        thread-safe; if the app has gone already, the caller still closes ``built``)."""
        try:
            self.built = build()
        except BaseException as exc:  # shown by the caller once the app has exited
            self.post_message(ShopReady(None, exc))
            return
        self.post_message(ShopReady(self.built))

    def on_shop_ready(self, message: ShopReady) -> None:
        if message.shop is None:
            self.startup_error = message.error
            self.exit(return_code=1)
            return
        self._start(message.shop)

    def _start(self, shop: Shop) -> None:
        from simulator.tui.badges import device_badges
        from simulator.tui.bridge import Bridge
        from simulator.tui.counter import Counter

        self.shop = shop
        self.counter = Counter(shop, card=self._card)
        self.bridge: Bridge = Bridge(self, shop, self.counter)
        badges = device_badges(shop.view.config, shop.card_transport)
        self.query_one(DeviceBadges).show(badges)
        # What the display shows already (its first screen is never an event).
        current = shop.view.screen()
        screen = self.query_one(TerminalScreen)
        screen.screen_id, screen.title, screen.lines = (
            current.id.value,
            current.title,
            current.lines,
        )
        self.bridge.attach()
        self.run_worker(self.counter.run, thread=True, name="counter", exit_on_error=True)
        self._started = True
        waiting, self._waiting = self._waiting, []
        for intent in waiting:  # the keys pressed while it started, in order
            intent(self.counter)
        self._show_counter()
        self.post_message(BusChanged())

    def _do(self, intent: Callable[[Counter], object]) -> None:
        """Carry the person's intent out on the counter, or keep it until the shop is ready."""
        if self._started:
            intent(self.counter)
        else:
            self._waiting.append(intent)

    def on_unmount(self) -> None:
        if self._started:
            self.bridge.detach()
            self.counter.stop()

    # -- model -> widgets ------------------------------------------------------

    def on_bus_changed(self, _: BusChanged) -> None:
        self.bridge.bus_read()
        events = self.shop.view.events(self._seen)
        if not events:
            return
        self._seen = events[-1].seq
        log = self.query_one(EventLog)
        ledger_changed = False
        from simulator.terminal.tracing import Said as said

        for event in events:
            log.add(event)
            payload = event.payload
            if isinstance(payload, ScreenShown):
                self._show_screen(payload)
            elif isinstance(payload, said):
                self.query_one(SpeakerLog).say(event.summary)
            ledger_changed |= isinstance(payload, _ledger_events())
        if ledger_changed:
            view = self.shop.view
            self.query_one(LedgerPanel).show(view.ledger(), view.qr_orders())
        self._show_counter()

    def _show_screen(self, shown: ScreenShown) -> None:
        """Draw the display's screen; a result screen stays :data:`RESULT_HOLD` s (real
        time) before the next one replaces it, as a terminal holds "交易成功 Approved"."""
        if self._held:
            self._after_hold = shown
            return
        screen = self.query_one(TerminalScreen)
        screen.screen_id = shown.screen.value
        screen.title, screen.lines = shown.title, shown.lines
        if shown.screen in RESULT_SCREENS:
            self._held = True
            self.set_timer(RESULT_HOLD, self._release_hold)

    def _release_hold(self) -> None:
        self._held = False
        after, self._after_hold = self._after_hold, None
        if after is not None:
            self._show_screen(after)
            self._show_counter()

    def on_counter_changed(self, _: CounterChanged) -> None:
        self._show_counter()

    def on_receipt_printed(self, message: ReceiptPrinted) -> None:
        self.query_one(PaperRoll).add_receipt(message.text, message.receipt, message.profile)

    def on_action_failed(self, message: ActionFailed) -> None:
        self.notify(message.error, title="cannot do that", severity="error", markup=False)

    def _show_counter(self) -> None:
        if not self._started:
            return
        from simulator.tui.counter import METHODS

        counter = self.counter
        busy = self.shop.view.busy
        terminal_screen = self.query_one(TerminalScreen)
        terminal_screen.amount = "" if busy else self._amount_shown()
        choosing = counter.choosing_method and not busy
        terminal_screen.methods = (
            tuple(f"{n} {m.label}" for n, m in enumerate(METHODS, 1)) if choosing else ()
        )
        self.query_one(ScannerPanel).code = counter.sample_code.shown
        printer = self.query_one(PaperRoll)
        faults = counter.printer_faults
        printer.paper_out = faults.get("paper_out", False)
        printer.cover_open = faults.get("cover_open", False)
        slot = self.query_one(CardSlot)
        slot.card = counter.card
        slot.about = card_about(counter.card)
        slot.inserted = counter.card_inserted
        slot.can_swipe = counter.can_swipe
        self._fit_pos()
        self.refresh_bindings()

    def on_resize(self, event: events.Resize) -> None:
        self._fit_pos(event.size.height)  # self.size changes only after this handler

    def _fit_pos(self, height: int | None = None) -> None:
        """The screen takes what its content needs from the column: the keypad's rows,
        then its own frame and title (a QR at 80x24), and the columns a QR needs."""
        column = (height or self.size.height) - FOOTER_ROWS
        screen = self.query_one(TerminalScreen)
        framed = screen.rows_needed()
        screen.bare = framed > column
        self.query_one(Keypad).display = framed + KEYPAD_ROWS <= column
        pos = self.query_one("#pos")
        pos.styles.width = max(POS_WIDTH, screen.columns_needed(bare=screen.bare) + POS_PADDING)

    def _amount_shown(self) -> str:
        return self.counter.amount_text if self.counter.amount_digits else ""

    # -- widgets -> model --------------------------------------------------------

    def on_keypad_key_pressed(self, message: Keypad.KeyPressed) -> None:
        self._do(lambda counter: counter.key(message.key))

    def on_card_slot_action(self, message: CardSlot.Action) -> None:
        if message.action in ("next", "previous"):
            self.action_card(1 if message.action == "next" else -1)
        else:
            action = message.action
            self._do(lambda counter: getattr(counter, action)())

    # -- actions -------------------------------------------------------------------

    def on_scanner_panel_action(self, message: ScannerPanel.Action) -> None:
        {"scan": self.action_scan, "type": self.action_type_code, "next": self.action_next_code}[
            message.action
        ]()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if isinstance(self.screen, ModalScreen) and action != "quit":
            return False  # let the help screen / the code input have their keys
        return self._available(action)

    def _available(self, action: str) -> bool:
        """Whether the action can be done now (if not, the footer and palette leave it out).
        While the shop starts every key is taken (and waits): none is lost."""
        if not self._started:
            return True
        if action == "customer_pays":
            return self.counter.can_pay_qr
        if action == "swipe":
            return self.counter.can_swipe
        if action == "tap":
            return self.counter.can_tap
        if action == "insert":
            return not self.counter.card_inserted
        if action == "remove":
            return self.counter.card_inserted
        return True

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: what can be done now, by name, before Textual's own commands."""
        if not self._started:
            yield from super().get_system_commands(screen)
            return
        paper_out = self.counter.printer_faults.get("paper_out", False)
        cover_open = self.counter.printer_faults.get("cover_open", False)
        commands = [
            ("Insert the card", f"insert {self.counter.card} into the reader (i)", "insert"),
            ("Remove the card", "take the card out of the reader (r)", "remove"),
            ("Swipe the card", f"swipe {self.counter.card}'s magnetic stripe (s)", "swipe"),
            ("Tap the card", f"tap {self.counter.card} on the contactless reader (a)", "tap"),
            ("Next card", "choose the next card of the catalogue (])", "card(1)"),
            ("Previous card", "choose the previous card of the catalogue ([)", "card(-1)"),
            ("Scan the payment code", f"scan {self.counter.sample_code.shown} (k)", "scan"),
            ("Type a payment code", "type a code, enter scans it (y)", "type_code"),
            ("Next payment code", "choose the next sample payment code (n)", "next_code"),
            ("Customer pays", "pay the QR shown / confirm on the phone (p)", "customer_pays"),
            ("Load a new paper roll" if paper_out else "Paper out", "the printer (x)", "paper"),
            ("Close the cover" if cover_open else "Open the cover", "the printer (c)", "cover"),
            (
                "Paper roll back" if self.screen.maximized else "Paper roll full screen",
                "the printer's receipts on the whole screen (v)",
                "roll",
            ),
            (f"Let {ADVANCE_SECONDS:g} s pass", "watch a timeout happen (t)", "advance"),
            ("Event log", "the events as they happen (e)", "tab('events')"),
            ("Ledger", "the gateway's transactions and QR orders (l)", "tab('ledger')"),
            ("Keys", "every key of possim tui (f1)", "help"),
        ]
        for title, what, action in commands:
            if self._available(action.partition("(")[0]):
                yield SystemCommand(title, what, functools.partial(self.run_action, action))
        yield from super().get_system_commands(screen)

    async def on_event(self, event: events.Event) -> None:
        # Every key, before bindings and widgets take it: a gun's burst is a scan.
        if isinstance(event, events.Key):
            for code in self.wedge.feed(event.character or event.key, event.time):
                self._do(functools.partial(_scan, code=code))
        await super().on_event(event)

    def action_key(self, key: str) -> None:
        self._do(lambda counter: counter.key(_KEYPAD.get(key, key)))

    def action_insert(self) -> None:
        self._do(lambda counter: counter.insert())

    def action_remove(self) -> None:
        self._do(lambda counter: counter.remove())

    def action_swipe(self) -> None:
        self._do(lambda counter: counter.swipe())

    def action_tap(self) -> None:
        self._do(lambda counter: counter.tap())

    def action_card(self, step: int) -> None:
        self._do(lambda counter: counter.choose_card(step))

    def action_next_code(self) -> None:
        self._do(lambda counter: counter.choose_code(1))

    def action_scan(self) -> None:
        self._do(lambda counter: counter.scan())

    def action_type_code(self) -> None:
        def scan(code: str | None) -> None:
            if code:
                self._do(functools.partial(_scan, code=code))

        self.push_screen(ScanInputScreen(), scan)

    def action_customer_pays(self) -> None:
        self._do(lambda counter: counter.customer_pays())

    def action_paper(self) -> None:
        self._do(lambda counter: counter.toggle_paper())

    def action_cover(self) -> None:
        self._do(lambda counter: counter.toggle_cover())

    def action_roll(self) -> None:
        """The paper roll on the whole screen (a receipt's QR is taller than the panel
        at 80x24), or back."""
        roll = self.query_one(PaperRoll)
        if self.screen.maximized is roll:
            self.screen.minimize()
        else:
            self.screen.maximize(roll, container=False)

    def action_advance(self) -> None:
        self._do(lambda counter: counter.advance(ADVANCE_SECONDS))

    def action_tab(self, tab: str) -> None:
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        if not tabs.display:  # hidden below WIDE columns: say so instead of doing nothing
            self.notify(
                f"the {tab} tab shows from {WIDE} columns; this terminal has {self.size.width}",
                title="hidden",
                markup=False,
            )

    async def action_quit(self) -> None:
        if not self._started or not self.shop.view.busy:  # starting: no payment runs yet
            self.exit()
            return

        def answered(quit_: bool | None) -> None:
            if quit_:
                self.exit()

        self.push_screen(ConfirmQuitScreen("A payment is running"), answered)

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.KEYS_HELP))


def _scan(counter: Counter, *, code: str) -> None:
    counter.scan(code)
