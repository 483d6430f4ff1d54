"""What the terminal's screen showed."""

from __future__ import annotations

import attrs

from simulator.events import Envelope
from simulator.scenario.args import arg
from simulator.scenario.kinds import Seconds
from simulator.scenario.model import Expectation, StepContext
from simulator.scenario.steps.common import now_arg, within_arg
from simulator.terminal.display import ScreenId, ScreenShown


@attrs.frozen(kw_only=True)
class ExpectScreen(Expectation):
    keyword = "expect_screen"
    shorthand = "screen"
    help = (
        "A screen with this id appears (after the last screen matched), optionally "
        "containing some text. With `now: true`: the screen shown right now is this one "
        "(no waiting). Ids: " + ", ".join(s.value for s in ScreenId) + "."
    )
    example = 'expect_screen: approved   # or: {screen: declined, contains: "51", within: 60s}'

    screen: ScreenId = arg()
    contains: str | None = arg(None)
    within: Seconds = within_arg()
    now: bool = now_arg()

    def run(self, ctx: StepContext) -> None:
        def matches(shown: Envelope[ScreenShown]) -> bool:
            if shown.payload.screen != self.screen:
                return False
            return self.contains is None or self.contains in shown.summary

        what = self.describe()
        if self.now:
            latest = ctx.view.latest_screen()
            shown = ctx.expect_latest(self, latest, matches, what=what, name="screen")
        else:
            shown = ctx.expect_next(
                self,
                ctx.view.screens,
                matches,
                after=ctx.state.screens_seen,
                within=self.within,
                what=what,
                name="screen",
            )
        ctx.state.screens_seen = shown.seq

    def describe(self) -> str:
        extra = f" containing {self.contains!r}" if self.contains else ""
        return f"screen {self.screen.value}{extra}" + (" now" if self.now else "")
