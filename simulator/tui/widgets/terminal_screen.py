"""The terminal's display: title and lines exactly as the model's ``screen`` events say.

The PIN only ever arrives as asterisks (the model masks it); the widget adds
nothing to what the display shows but the cashier app's own pages, which the
cashier keeps before a sale starts: the amount being typed and the payment
method choice. A dynamic QR's payload (the last line of a ``show_qr`` screen)
is drawn as a QR code a phone can scan.

The screen is the largest thing in its column (``height: 1fr``); how many rows
its content needs (:meth:`TerminalScreen.rows_needed`) is what the app weighs
against the column to decide whether the keypad gives it room. Every text is a
:class:`rich.text.Text`, never markup: a line from the model is shown as it is.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from simulator.tui.qr_art import qr_text

_GOOD = frozenset({"approved", "paid"})
_BAD = frozenset({"declined", "cancelled", "payment_failed", "printer_fault"})
INNER_WIDTH = 36  # the screen's inner width in the POS column (40) without a QR
FRAME = 2  # the screen's frame: rows top and bottom, and columns of padding each side
METHODS_TITLE = "选择支付方式 Choose payment"
METHODS_HINT = ("数字选择 · OK 银行卡 · CLR 返回", "digit: choose · OK: card · CLR: back")
AMOUNT_TITLE = "请输入金额 Enter amount"
IDLE_HINT = ("输入金额后按 OK", "type an amount, then OK")


class TerminalScreen(Widget):
    DEFAULT_CSS = """
    TerminalScreen {
        height: 1fr;
        min-height: 7;
        border: heavy $primary;
        padding: 0 1;
        content-align: center middle;
    }
    TerminalScreen.-good { border: heavy $success; }
    TerminalScreen.-bad { border: heavy $error; }
    TerminalScreen.-bare { border: none; padding: 0; }
    """

    # layout=True: a change of content may change the rows it needs (the app relayouts).
    screen_id: reactive[str] = reactive("idle", layout=True)
    title: reactive[str] = reactive("", layout=True)
    lines: reactive[tuple[str, ...]] = reactive((), layout=True)
    # The cashier's amount being typed ("" when none), shown instead of the display.
    amount: reactive[str] = reactive("", layout=True)
    # The payment methods offered once the amount is in (empty: not choosing).
    methods: reactive[tuple[str, ...]] = reactive((), layout=True)
    # No frame and no title: a QR needs every row (set by the app when space is short).
    bare: reactive[bool] = reactive(False, layout=True)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "terminal"

    def watch_screen_id(self, screen_id: str) -> None:
        self.set_class(screen_id in _GOOD, "-good")
        self.set_class(screen_id in _BAD, "-bad")
        self.border_subtitle = screen_id

    @property
    def qr_payload(self) -> str:
        """The dynamic QR's payload while one is shown, else ""."""
        return self.lines[-1] if self.screen_id == "show_qr" and self.lines else ""

    @property
    def text(self) -> str:
        """What the screen shows, one line each (for tests and people)."""
        if self.amount and self.methods:
            return "\n".join((METHODS_TITLE, f"RMB {self.amount}", *self.methods))
        if self.amount:
            return f"{AMOUNT_TITLE}\nRMB {self.amount}"
        lines = self.lines[:-1] if self.qr_payload else self.lines
        return "\n".join((self.title, *lines))

    def watch_bare(self, bare: bool) -> None:
        self.set_class(bare, "-bare")

    def columns_needed(self, *, bare: bool = False) -> int:
        """Columns the screen needs, its frame included: a QR is drawn whole or not at all."""
        inner = max(INNER_WIDTH, len(self._qr()[0])) if self.qr_payload else INNER_WIDTH
        return inner + (0 if bare else 2 * FRAME)

    def rows_needed(self, *, bare: bool = False) -> int:
        """Rows the screen needs to show all it shows, its frame included."""
        width = self.columns_needed(bare=True)
        rows = self._rows(bare=bare)
        return sum(len(row.wrap(self.app.console, width)) for row in rows) + (0 if bare else FRAME)

    def _qr(self) -> list[str]:
        # Half blocks only: square modules, which a phone (and zbar) reads; quadrant
        # blocks would make them twice as tall as wide.
        return qr_text(self.qr_payload).splitlines()

    def _rows(self, *, bare: bool | None = None) -> list[Text]:
        bare = self.bare if bare is None else bare
        if self.amount and self.methods:
            return [
                Text(METHODS_TITLE, style="bold", justify="center"),
                Text(f"RMB {self.amount}", style="bold reverse", justify="center"),
                *(Text(method) for method in self.methods),
                *(Text(hint, style="dim", justify="center") for hint in METHODS_HINT),
            ]
        if self.amount:
            return [
                Text(AMOUNT_TITLE, style="bold", justify="center"),
                Text(""),
                Text(f"RMB {self.amount}", style="bold reverse", justify="center"),
            ]
        if self.qr_payload:
            title = [] if bare else [Text(self.title, style="bold", justify="center")]
            return [
                *title,
                Text("  ".join(self.lines[:-1]), justify="center"),
                Text("\n".join(self._qr()), style="black on white", justify="center"),
            ]
        rows = [Text(self.title, style="bold", justify="center"), Text("")]
        rows += [Text(line, justify="center") for line in self.lines]
        if self.screen_id == "idle":
            rows += [Text(hint, style="dim", justify="center") for hint in IDLE_HINT]
        return rows

    def render(self) -> RenderableType:
        return Group(*self._rows())
