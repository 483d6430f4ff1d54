"""The PIN prompt: the amount, what kind of PIN, tries left, and an asterisk per digit.

The PIN itself goes from the PIN pad to the kernel and never reaches the display.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.pin_entry import PinEntry
from simulator.terminal.display import Display, ScreenId
from simulator.terminal.emv import PinRequest

PIN_LENGTH = (4, 12)


def pin_prompt(
    display: Display, pin_entry: PinEntry, timeout: float, amount: str
) -> Callable[[PinRequest], str]:
    """What a kernel calls to ask for the PIN for a payment of ``amount`` (yuan)."""

    def ask(request: PinRequest) -> str:
        lines = [f"金额 RMB {amount}"]
        if request.online:
            lines.append("联机密码 Online PIN")
        if request.retry:
            lines.append(
                f"密码错误，剩余{request.tries_left}次 Wrong PIN, {request.tries_left} left"
            )
        display.show(ScreenId.ENTER_PIN, "请输入密码 Enter PIN", *lines)

        def show_asterisks(count: int) -> None:
            display.show(ScreenId.ENTER_PIN, "请输入密码 Enter PIN", *lines, "*" * count)

        return pin_entry.read_pin(
            min_length=PIN_LENGTH[0],
            max_length=PIN_LENGTH[1],
            timeout=timeout,
            on_digits=show_asterisks,
        )

    return ask
