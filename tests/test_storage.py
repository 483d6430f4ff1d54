"""What the journal and the ledger commit survives the process being killed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from simulator.clock import VirtualClock
from simulator.gateway.ledger import Ledger, Status
from simulator.terminal.journal import Journal, TxnState

WRITE_THEN_HANG = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from simulator.clock import VirtualClock
    from simulator.gateway.ledger import Ledger, Status
    from simulator.terminal.journal import Journal

    folder = Path(sys.argv[1])
    clock = VirtualClock()
    journal = Journal(folder / "journal.sqlite", clock)
    entry = journal.begin(order_no="O1", transmission="0115023000", amount_fen=1234,
                          currency="156", masked_pan="621483******3655", entry_mode="051")
    ledger = Ledger(folder / "ledger.sqlite", clock)
    ledger.record_authorisation(tid="POSSIM01", stan=entry.stan, transmission="0115023000",
                                mid="898310048990001", amount=1234, currency="156",
                                pan="6214830027183655", status=Status.APPROVED,
                                response_code="00", rrn="260115000001", auth_code="123456")
    print("committed", flush=True)
    sys.stdin.read()  # hang, connections open, until killed
    """
)


def test_committed_rows_survive_kill_9(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", WRITE_THEN_HANG, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    clock = VirtualClock()
    (entry,) = Journal(tmp_path / "journal.sqlite", clock).entries()
    assert (entry.state, entry.amount_fen) == (TxnState.PENDING, 1234)
    (row,) = Ledger(tmp_path / "ledger.sqlite", clock).transactions()
    assert (row.status, row.stan, row.masked_pan) == (
        Status.APPROVED,
        entry.stan,
        "621483******3655",
    )
