"""What the speaker said."""

from __future__ import annotations

import attrs

from simulator.scenario.args import arg
from simulator.scenario.model import DEFAULT_WITHIN, Expectation, StepContext


@attrs.frozen(kw_only=True)
class ExpectSpeech(Expectation):
    keyword = "expect_speech"
    shorthand = "said"
    help = (
        "Once the current operation has finished, the speaker has said exactly these "
        "utterances since the scenario began ([] = silence) -- or, in the form "
        "`{new: [...]}`, since the previous expect_speech. A card payment is announced as "
        "收款成功，<amount in Chinese>元 (25.80: 二十五点八元), a QR payment as "
        "微信收款 / 支付宝到账 / 云闪付收款 + amount (firmware_fixtures/announcements/); voids "
        "and refunds are not announced."
    )
    example = 'expect_speech: "收款成功，十二点三四元"   # or: expect_speech: {new: []}'

    said: tuple[str, ...] | None = arg(None, in_mapping=False)
    new: tuple[str, ...] | None = arg(
        None, required=True, help="what was said since the previous expect_speech"
    )

    @property
    def utterances(self) -> tuple[str, ...]:
        return self.new if self.new is not None else self.said or ()

    def run(self, ctx: StepContext) -> None:
        ctx.finished_sale(self, DEFAULT_WITHIN)
        said = tuple(utterance.payload.text for utterance in ctx.view.utterances())
        checked_from = ctx.state.speech_checked if self.new is not None else 0
        if said[checked_from:] != self.utterances:
            since = "since the previous expect_speech" if self.new is not None else "in all"
            raise ctx.fail(
                self,
                f"expected the speaker to say {list(self.utterances)}, "
                f"it said {list(said[checked_from:])} {since}",
            )
        ctx.state.speech_checked = len(said)

    def describe(self) -> str:
        return f"speech {list(self.utterances)}"
