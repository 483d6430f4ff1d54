"""What several step families declare alike: ``now:``, ``within:``, the card
operations, and the expectations on "the last card transaction"."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simulator.scenario.args import arg
from simulator.scenario.kinds import Seconds
from simulator.scenario.model import DEFAULT_WITHIN

# A journal / ledger row is one of these (docs/settlement.md, docs/gateway.md).
OPERATIONS = (
    "sale",
    "void",
    "refund",
    "preauth",
    "preauth_void",
    "preauth_completion",
    "preauth_completion_void",
)


def now_arg() -> Any:
    """An expectation's ``now:``: it cannot go with a ``within:`` (Expectation.check)."""
    return arg(
        False,
        help="check at once, as things stand in the middle of the payment, "
        "instead of once it has ended",
    )


def within_arg() -> Any:
    """How long (virtual time) an expectation may wait."""
    return arg(Seconds(DEFAULT_WITHIN))


def count_zero_problem(
    keyword: str, count: int | None, about_last: Sequence[tuple[str, Any]]
) -> str | None:
    """``count: 0`` says there is nothing, so nothing can be the last row's."""
    given = [(key, value) for key, value in about_last if value is not None]
    if count != 0 or not given:
        return None
    key, value = given[0]
    shown = getattr(value, "value", value)
    return (
        f"{keyword}: count: 0 says there is no card transaction, so none can have "
        f"{key}: {shown}; write {{count: 0}} alone to check that none was made "
        '(expect_charged: "0.00" checks that nothing was charged on any channel)'
    )


def rows(found: Sequence[Any], describe: Any) -> str:
    return "; ".join(describe(row) for row in found) if found else "none"
