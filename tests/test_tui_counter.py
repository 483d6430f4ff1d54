"""The TUI's model side without Textual: the person at the counter and the playback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_tui_app import make_simulation

from simulator.terminal.display import ScreenId
from simulator.tui.counter import METHODS, Counter

MODEL_MODULES = (
    "simulator.tui.counter",
    "simulator.tui.playback",
    "simulator.tui.qr_art",
    "simulator.tui.scan_codes",
    "simulator.tui.badges",
)


def test_the_model_side_imports_nothing_from_textual() -> None:
    imports = "; ".join(f"import {module}" for module in MODEL_MODULES)
    check = f"import sys; {imports}; print(sorted(m for m in sys.modules if 'textual' in m))"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_a_counter_alone_pays_a_dynamic_alipay_qr(tmp_path: Path) -> None:
    """No app: intents queued on the operator thread, the gateway's order SUCCESS."""
    with make_simulation(tmp_path) as sim:
        counter = Counter(sim)
        counter.start()
        try:
            for key in "888":
                counter.key(key)
            counter.key("OK")
            alipay = [m.method for m in METHODS].index("alipay") + 1
            counter.key(str(alipay))
            assert sim.clock.wait_until(
                lambda: sim.terminal.display.screen.id is ScreenId.SHOW_QR, 60.0
            )
            assert counter.awaits_person() and counter.can_pay_qr
            counter.customer_pays()
            sale = sim.terminal.current_sale
            assert sale is not None
            result = sale.wait(600.0)
            assert result is not None and result.approved
        finally:
            counter.stop()
        orders = [(o.channel, o.amount_fen, o.trade_state) for o in sim.gateway.qr.orders()]
        assert orders == [("alipay", 888, "SUCCESS")]
