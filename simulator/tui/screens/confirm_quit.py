"""Quitting while a payment runs asks first: the customer may be mid-PIN."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmQuitScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y,q", "answer(True)", "quit", id="quit.yes"),
        Binding("n,escape", "answer(False)", "go on", id="quit.no"),
    ]
    DEFAULT_CSS = """
    ConfirmQuitScreen { align: center middle; }
    ConfirmQuitScreen Vertical {
        width: 44; height: auto; border: thick $warning; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, what: str) -> None:
        super().__init__()
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"{self._what}.", markup=False)
            yield Static("Quit anyway?  y: quit · n / esc: go on", markup=False)

    def action_answer(self, quit_: bool) -> None:
        self.dismiss(quit_)
