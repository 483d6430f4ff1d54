"""An outside cashier app in the loop: the scenario waits for the Intent the app sends
through the served shop's door (``possim run --serve-port``, docs/cashier_apps.md),
checks what it sent, and the payment it started is the scenario's operation --
the card, PIN, callback and receipt steps follow as for a ``sale:``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from simulator.scenario.args import arg
from simulator.scenario.kinds import TEXT_SCHEMA, Declared, Kind, Seconds
from simulator.scenario.model import Expectation, StepContext, Where
from simulator.scenario.steps.common import within_arg


class Extras(Kind):
    """Intent extras the app must have sent: ``key: text``."""

    def schema(self, arg: Declared) -> Mapping[str, Any]:
        return {"type": "object", "additionalProperties": dict(TEXT_SCHEMA)}

    def parse(self, value: Any, arg: Declared, what: str, where: Where) -> Mapping[str, str]:
        if not isinstance(value, Mapping) or any(
            isinstance(v, (bool, Mapping, list)) or v is None for v in value.values()
        ):
            raise where.error(f"{what}: expected extras as key: text, got {value!r}")
        return {str(k): str(v) for k, v in value.items()}


@attrs.frozen(kw_only=True)
class ExpectIntent(Expectation):
    keyword = "expect_intent"
    help = (
        "An outside cashier app starts the acquiring app through the served shop's door "
        "(run with --serve-port): wait for its Intent (the next one) and check the extras "
        "it sent. The payment it starts is the scenario's current operation."
    )
    example = 'expect_intent: {extras: {proc_cd: "000000", amt: "12.34"}}'

    extras: Mapping[str, str] | None = arg(None, kind=Extras())
    within: Seconds = within_arg()

    def run(self, ctx: StepContext) -> None:
        view = ctx.view
        started = view.first(
            view.intents,
            lambda _: True,
            after=ctx.state.intents_seen,
            within=self.within,
        )
        if started is None:
            raise ctx.fail(
                self,
                f"no Intent came within {self.within:g} s (is the cashier app pointed at "
                "this run's --serve-port?)",
            )
        ctx.state.intents_seen = started.seq
        sent, wanted = started.payload.extras, self.extras or {}
        if any(str(sent.get(k)) != v for k, v in wanted.items()):
            raise ctx.fail(
                self, f"expected extras {dict(wanted)}, the app sent {dict(sent)}", [started]
            )
        ctx.state.sale = view.current_sale

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in (self.extras or {}).items())
        return f"the cashier app's Intent ({shown})" if shown else "the cashier app's Intent"
