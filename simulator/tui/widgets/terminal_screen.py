"""The terminal's display: title and lines exactly as the model's ``screen`` events say.

The PIN only ever arrives as asterisks (the model masks it); the widget adds
nothing to what the display shows but the cashier's amount entry, which the
cashier app keeps before a sale starts.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

_GOOD = frozenset({"approved", "paid"})
_BAD = frozenset({"declined", "cancelled", "payment_failed", "printer_fault"})


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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "terminal"

    def watch_screen_id(self, screen_id: str) -> None:
        self.set_class(screen_id in _GOOD, "-good")
        self.set_class(screen_id in _BAD, "-bad")
        self.border_subtitle = screen_id

    @property
    def text(self) -> str:
        """What the screen shows, one line each (for tests and people)."""
        if self.amount:
            return f"请输入金额 Enter amount\nRMB {self.amount}"
        return "\n".join((self.title, *self.lines))

    def render(self) -> RenderableType:
        if self.amount:
            return Group(
                Text("请输入金额 Enter amount", style="bold", justify="center"),
                Text(""),
                Text(f"RMB {self.amount}", style="bold reverse", justify="center"),
            )
        rows = [Text(self.title, style="bold", justify="center"), Text("")]
        rows += [Text(line, justify="center") for line in self.lines]
        if self.screen_id == "idle":
            rows.append(Text("type an amount, then OK", style="dim", justify="center"))
        return Group(*rows)
