"""QR payments, the customer's side: the scanner, the customers' phones (the
gateway's ``/v1/sim/*`` calls, docs/qr_api.md) and the notifies the terminal gets."""

from __future__ import annotations

import attrs

from drivers.wire.masking import mask_code
from simulator.scenario.args import arg
from simulator.scenario.kinds import Seconds, Text
from simulator.scenario.model import Action, Expectation, Step, StepContext
from simulator.scenario.steps.common import within_arg
from simulator.terminal.display import ScreenId
from simulator.terminal.journal import QrEntry
from simulator.terminal.notify_receiver import Verdict
from simulator.terminal.qr_payments import QR_CHANNELS


def last_qr_sale(ctx: StepContext, step: Step) -> QrEntry:
    sale = ctx.view.last_qr_sale()
    if sale is None:
        raise ctx.fail(step, "no QR sale in the terminal journal yet")
    return sale


@attrs.frozen(kw_only=True)
class ScanCode(Action):
    keyword = "scan_code"
    shorthand = "code"
    help = (
        "The cashier scans the customer's payment code with the scanner (times: 2 = the "
        "same code delivered twice, a doubled scan)."
    )
    example = 'scan_code: "134567890123456789"   # or: {code: "1345...", times: 2}'

    code: str = arg(
        kind=Text(strip=True, nonempty=True),
        expected="the code (quote it: it is text)",
        help="The customer's payment code as text (quote it).",
        repr=False,
    )
    times: int = arg(
        1, minimum=1, maximum=100, help="How many times the code arrives (2: a doubled scan)."
    )

    def run(self, ctx: StepContext) -> None:
        ctx.hands.scan(self.code, self.times)

    def describe(self) -> str:
        shown = mask_code(self.code) if self.code.isdigit() else self.code
        return f"scan code {shown}" + (f" x{self.times}" if self.times > 1 else "")


@attrs.frozen(kw_only=True)
class CustomerConfirms(Action):
    keyword = "customer_confirms"
    help = "The customer confirms the waiting (USERPAYING) payment on the phone."
    example = "customer_confirms:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.customer_confirms(last_qr_sale(ctx, self).out_trade_no)

    def describe(self) -> str:
        return "customer confirms on the phone"


@attrs.frozen(kw_only=True)
class CustomerCancels(Action):
    keyword = "customer_cancels"
    help = "The customer cancels the waiting (USERPAYING) payment on the phone."
    example = "customer_cancels:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.customer_cancels(last_qr_sale(ctx, self).out_trade_no)

    def describe(self) -> str:
        return "customer cancels on the phone"


@attrs.frozen(kw_only=True)
class CustomerPaysQr(Action):
    keyword = "customer_pays_qr"
    help = "A customer scans the dynamic QR on the terminal's screen with a wallet and pays."
    example = "customer_pays_qr: {wallet: wechat}"

    wallet: str = arg(choices=QR_CHANNELS)

    def run(self, ctx: StepContext) -> None:
        screen = ctx.view.screen()
        if screen.id is not ScreenId.SHOW_QR or not screen.lines:
            raise ctx.fail(self, f"no QR on the screen ({ctx.view.screen_text()})")
        ctx.hands.customer_pays_qr(screen.lines[-1], self.wallet)

    def describe(self) -> str:
        return f"customer pays the QR with {self.wallet}"


@attrs.frozen(kw_only=True)
class ReplayNotify(Action):
    keyword = "replay_notify"
    help = (
        "The gateway sends the last order's payment notify again (a duplicate notify). The "
        "step ends once the gateway has delivered it (and any other notify due within 60 s "
        "of virtual time), so the next expectation sees the terminal's answer."
    )
    example = "replay_notify:"

    def run(self, ctx: StepContext) -> None:
        ctx.hands.replay_notify(last_qr_sale(ctx, self).out_trade_no)
        ctx.settle_background()

    def describe(self) -> str:
        return "gateway replays the notify"


@attrs.frozen(kw_only=True)
class ForgeNotify(Action):
    keyword = "forge_notify"
    help = (
        "Someone posts a payment notify for the last order to the terminal with a wrong "
        "signature; the terminal must answer 401 and ignore it."
    )
    example = "forge_notify:"

    def run(self, ctx: StepContext) -> None:
        status = ctx.hands.forge_notify(last_qr_sale(ctx, self))
        if status != 401:
            raise ctx.fail(self, f"the terminal answered a forged notify with HTTP {status}")

    def describe(self) -> str:
        return "post a forged notify"


@attrs.frozen(kw_only=True)
class ExpectNotifies(Expectation):
    keyword = "expect_notifies"
    help = (
        "The terminal's notify receiver saw this many notifies of each verdict: accepted, "
        "duplicate, late, forged (rejected with 401). Only dynamic-QR sales (the terminal "
        "shows the QR) register a notify URL; a scanned code's payment is confirmed by the "
        "micropay answer or by querying, so it brings no notify. Notifies come in the "
        "background: once the current operation has ended, the counts may take up to "
        "`within` (virtual time, default 120 s) to be reached; a count already passed fails "
        "at once."
    )
    example = "expect_notifies: {accepted: 1, duplicate: 1}"

    accepted: int | None = arg(None, minimum=0)
    duplicate: int | None = arg(None, minimum=0)
    late: int | None = arg(None, minimum=0)
    forged: int | None = arg(None, minimum=0)
    within: Seconds = within_arg()

    @property
    def counts(self) -> dict[str, int]:
        """Notifies by verdict, in the order the scenario wrote them."""
        return {key: getattr(self, key) for key in self.written if key != "within"}

    def run(self, ctx: StepContext) -> None:
        if ctx.state.sale is not None:
            ctx.finished_sale(self, 600.0)
        counts = self.counts

        def tally() -> dict[str, int]:
            verdicts = [notify.payload.verdict for notify in ctx.view.notifies()]
            return {verdict: verdicts.count(Verdict(verdict)) for verdict in counts}

        def decided() -> bool:  # counts only grow: one passed cannot come back
            seen = tally()
            reached = all(got >= counts[v] for v, got in seen.items())
            return reached or any(got > counts[v] for v, got in seen.items())

        ctx.clock.wait_until(decided, self.within)
        focus = ctx.view.notifies()
        for verdict, got in tally().items():
            wanted = counts[verdict]
            if got != wanted:
                raise ctx.fail(
                    self,
                    f"expected {wanted} {verdict} notify(ies) within {self.within:g} s, saw {got}",
                    focus,
                )

    def describe(self) -> str:
        return "notifies " + ", ".join(f"{k}={v}" for k, v in self.counts.items())
