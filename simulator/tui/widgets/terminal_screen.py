"""The terminal's display: title and lines exactly as the model's ``screen`` events say.

The PIN only ever arrives as asterisks (the model masks it); the widget adds
nothing to what the display shows but the cashier app's own pages, which the
cashier keeps before a sale starts: the amount being typed and the payment
method choice. A dynamic QR's payload (the last line of a ``show_qr`` screen)
is drawn as a QR code a phone can scan.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from simulator.tui.qr_art import qr_text

_GOOD = frozenset({"approved", "paid"})
_BAD = frozenset({"declined", "cancelled", "payment_failed", "printer_fault"})
_QR_WIDTH = 36  # the screen's inner width in the POS column


class TerminalScreen(Widget):
    DEFAULT_CSS = """
    TerminalScreen {
        height: auto;
        min-height: 7;
        border: heavy $primary;
        padding: 0 1;
        content-align: center middle;
    }
    TerminalScreen.-good { border: heavy $success; }
    TerminalScreen.-bad { border: heavy $error; }
    """

    screen_id: reactive[str] = reactive("idle")
    title: reactive[str] = reactive("")
    lines: reactive[tuple[str, ...]] = reactive(())
    # The cashier's amount being typed ("" when none), shown instead of the display.
    amount: reactive[str] = reactive("")
    # The payment methods offered once the amount is in (empty: not choosing).
    methods: reactive[tuple[str, ...]] = reactive(())

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
            return "\n".join(("选择支付方式 Choose payment", f"RMB {self.amount}", *self.methods))
        if self.amount:
            return f"请输入金额 Enter amount\nRMB {self.amount}"
        lines = self.lines[:-1] if self.qr_payload else self.lines
        return "\n".join((self.title, *lines))

    def render(self) -> RenderableType:
        if self.amount and self.methods:
            return Group(
                Text("选择支付方式 Choose payment", style="bold", justify="center"),
                Text(f"RMB {self.amount}", style="bold reverse", justify="center"),
                *(Text(method) for method in self.methods),
                Text("digit: choose · OK: card · CLR: back", style="dim", justify="center"),
            )
        if self.amount:
            return Group(
                Text("请输入金额 Enter amount", style="bold", justify="center"),
                Text(""),
                Text(f"RMB {self.amount}", style="bold reverse", justify="center"),
            )
        if self.qr_payload:
            # At 80x24 every row counts: the channel and amount say enough.
            narrow = self.is_mounted and self.screen.has_class("-narrow")
            title = [] if narrow else [Text(self.title, style="bold", justify="center")]
            return Group(
                *title,
                Text("  ".join(self.lines[:-1]), justify="center"),
                Text(qr_text(self.qr_payload, _QR_WIDTH), style="black on white", justify="center"),
            )
        rows = [Text(self.title, style="bold", justify="center"), Text("")]
        rows += [Text(line, justify="center") for line in self.lines]
        if self.screen_id == "idle":
            rows.append(Text("type an amount, then OK", style="dim", justify="center"))
        return Group(*rows)
