"""possim's terminals as Locust users (docs/load.md), against ``possim gateway serve``.

The transactions run here first as plain functions of a terminal (no Locust, no
gevent: this process is never monkey-patched), then under Locust: headless in
one process, and as a master with two workers -- each a separate process on
loopback, started the way a load tester starts them. After each run the
gateway is stopped and the records every Locust process wrote are checked
against its ledger: every approval once, with its RRN; every reversal left its
sale reversed; nothing charged that no terminal recorded.
"""

from __future__ import annotations

import csv
import json
import random
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from drivers.clock import RealClock
from simulator import cli
from simulator.fleet.gateway_process import GatewayProcess
from simulator.gateway.ledger import Ledger, Status
from simulator.loadtest import card_tasks, ledger_check, qr_tasks
from simulator.loadtest.connection import HostWire, IsoConnection
from simulator.loadtest.ledger_check import check_ledger
from simulator.loadtest.record import Recorder, read_records
from simulator.loadtest.terminal import Exchange, LoadTerminal
from simulator.terminal.config import DEFAULT_MERCHANT_API_KEY, DEFAULT_PIN_KEY, HostEndpoint
from simulator.terminal.financial_requests import Merchant
from simulator.terminal.qr_link import QrLink

STARTER_LOCUSTFILE = Path(__file__).resolve().parent.parent / "simulator/starter/locustfile.py.txt"
DEADLINE = 240.0  # seconds for a whole Locust run on a loaded machine: an upper bound
MID = "898310048990001"


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayProcess]:
    process = GatewayProcess(tmp_path / "ledger.sqlite", "--sim-customers", cwd=tmp_path)
    process.start(timeout=60)
    try:
        yield process
    finally:
        process.stop()


def _terminal(
    gateway: GatewayProcess, tid: str, folder: Path
) -> tuple[LoadTerminal, QrLink, list[Exchange]]:
    exchanges: list[Exchange] = []
    recorder = Recorder(folder)

    def report(exchange: Exchange) -> None:
        exchanges.append(exchange)
        recorder.write(exchange)

    wire = HostWire.for_endpoint(HostEndpoint("127.0.0.1", gateway.port))
    merchant = Merchant(tid, MID, "156")
    terminal = LoadTerminal(
        merchant,
        IsoConnection(wire, 30.0),
        report,
        random.Random(tid),
        bytes.fromhex(DEFAULT_PIN_KEY),
    )
    link = QrLink(
        gateway.qr_url,
        merchant_id=MID,
        terminal_id=tid,
        api_key=DEFAULT_MERCHANT_API_KEY,
        bus=None,
    )
    return terminal, link, exchanges


def test_each_card_transaction_is_the_terminals_own_and_lands_in_the_ledger(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    terminal, _, exchanges = _terminal(gateway, "LCT00001", tmp_path / "records")
    card_tasks.chip_sale(terminal, "unionpay_debit")  # offline PIN, checked by the card
    card_tasks.chip_sale(terminal, "visa_credit")  # online PIN: DE52
    card_tasks.magstripe_sale(terminal)
    card_tasks.void(terminal)
    card_tasks.refund(terminal)
    card_tasks.lost_reply_sale(terminal)
    card_tasks.preauth_completion(terminal, "mastercard_debit")
    card_tasks.batch_close(terminal)
    terminal.close()
    assert [(e.name, e.ok) for e in exchanges] == [
        ("0200 sale chip", True),
        ("0200 sale chip online PIN", True),
        ("0200 sale magstripe online PIN", True),
        ("0200 void", True),
        ("0220 refund", True),
        ("0200 sale, reply lost", True),
        ("0400 reversal", True),
        ("0100 pre-auth chip online PIN", True),
        ("0200 pre-auth completion", True),
        # Balanced: the terminal's totals are the host's, the completion a debit, the
        # pre-auth nothing (docs/gateway.md, Money).
        ("0500 batch close", True),
    ], [e.error for e in exchanges]
    assert gateway.stop() == 0
    with Ledger(gateway.ledger, RealClock()) as ledger:
        rows = ledger.transactions()
    notes = [row.note for row in rows]
    # The host verified the card's ARQC (DE55) and the PIN blocks (DE52) it was sent.
    assert notes[0].startswith("ARQC verified")
    assert "online PIN verified" in notes[1] and "ARQC verified" in notes[1]
    assert "online PIN verified" in notes[2]
    assert [row.status for row in rows][-3] is Status.REVERSED
    preauth, completion = rows[-2:]
    assert (preauth.kind, preauth.charged) == ("preauth", False)
    assert "ARQC verified" in preauth.note
    assert (completion.kind, completion.charged) == ("preauth_completion", True)
    assert completion.original_rrn == preauth.rrn and completion.amount <= preauth.amount
    check = check_ledger(gateway.ledger, tmp_path / "records", MID)
    assert check.problems == ()
    assert (check.card_requests, check.approvals, check.reversals) == (8, 8, 1)
    assert check.completions == 1
    # The records and the statistics carry no card data.
    text = "".join(path.read_text() for path in (tmp_path / "records").glob("*.jsonl"))
    assert terminal.image("visa_credit").pan not in text
    assert "=" not in text  # no track 2


def test_qr_payments_poll_confirm_pay_and_refund(gateway: GatewayProcess, tmp_path: Path) -> None:
    terminal, link, exchanges = _terminal(gateway, "LCT00002", tmp_path / "records")
    qr_tasks.micropay(terminal, link)
    qr_tasks.micropay_userpaying(terminal, link)
    qr_tasks.dynamic_qr(terminal, link, "http://127.0.0.1:9/possim-notify")
    qr_tasks.qr_refund(terminal, link)
    names = [(e.name, e.ok) for e in exchanges]
    assert names[:6] == [
        ("QR micropay", True),
        ("QR micropay USERPAYING", True),
        ("QR query", True),  # USERPAYING: the customer has not confirmed yet
        ("customer confirms", True),
        ("QR query", True),  # now SUCCESS
        ("QR precreate", True),
    ], [e.error for e in exchanges]
    paid_and_refunded = [
        ("customer pays dynamic QR", True),
        ("QR query", True),
        ("QR refund", True),
    ]
    assert names[6:9] == paid_and_refunded
    assert gateway.stop() == 0
    check = check_ledger(gateway.ledger, tmp_path / "records", MID)
    assert check.problems == ()
    assert (check.qr_paid, check.qr_refunds) == (3, 1)


def test_the_ledger_check_finds_a_doubled_or_missing_approval(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    records = tmp_path / "records"
    terminal, _, _ = _terminal(gateway, "LCT00003", records)
    card_tasks.chip_sale(terminal, "unionpay_debit")
    card_tasks.chip_sale(terminal, "unionpay_debit")
    terminal.close()
    assert gateway.stop() == 0
    assert check_ledger(gateway.ledger, records).problems == ()
    assert ledger_check.main([str(gateway.ledger), str(records)]) == 0
    [path] = list(records.glob("*.jsonl"))
    first, second = path.read_text().splitlines()
    # A terminal that counted an approval the host does not have ...
    forged = json.loads(first) | {"stan": "000099"}
    # ... and one whose RRN is not the ledger's.
    wrong_rrn = json.loads(second) | {"rrn": "000000000000"}
    # ... and one that says it sent a completion of some pre-auth where the host has a sale.
    wrong_kind = json.loads(second) | {"operation": "preauth_completion", "original_rrn": "9" * 12}
    lines = [json.dumps(record) for record in (forged, wrong_rrn, wrong_kind)]
    path.write_text("\n".join(lines) + "\n")
    problems = check_ledger(gateway.ledger, records).problems
    assert any("ledger holds a sale, terminal sent preauth_completion" in p for p in problems)
    assert any(f"terminal named {'9' * 12}" in p for p in problems), problems
    assert any("000099" in p and "0 times" in p for p in problems), problems
    assert any("ledger RRN" in p for p in problems), problems
    assert any("no terminal recorded" in p for p in problems), problems
    assert ledger_check.main([str(gateway.ledger), str(records)]) == 1
    assert ledger_check.main([str(gateway.ledger), str(tmp_path / "nothing")]) == 2


# -- under Locust, in separate processes -----------------------------------------------


def test_possim_init_writes_the_locustfile_users_start_from(tmp_path: Path) -> None:
    assert cli.main(["init", str(tmp_path / "shop")]) == 0
    written = (tmp_path / "shop" / "locustfile.py").read_text(encoding="utf-8")
    assert written == STARTER_LOCUSTFILE.read_text(encoding="utf-8")
    assert "from possim.locust import TASKS, PossimTerminal" in written


def _locust(tmp_path: Path, *args: str, name: str = "locust") -> subprocess.Popen[str]:
    locustfile = tmp_path / "locustfile.py"  # what possim init writes (the test above)
    if not locustfile.exists():
        locustfile.write_text(STARTER_LOCUSTFILE.read_text(encoding="utf-8"), encoding="utf-8")
    log = (tmp_path / f"{name}.log").open("w", encoding="utf-8")
    return subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", str(locustfile), *args],
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finished(process: subprocess.Popen[str], tmp_path: Path, name: str = "locust") -> int:
    try:
        return process.wait(DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        log = (tmp_path / f"{name}.log").read_text(encoding="utf-8")
        raise AssertionError(f"{name} still running after {DEADLINE} s:\n{log[-2000:]}") from None


def _stats(path: Path) -> dict[tuple[str, str], tuple[int, int]]:
    """(type, name) -> (requests, failures) from Locust's --csv stats file."""
    with path.open(encoding="utf-8") as rows:
        return {
            (row["Type"], row["Name"]): (int(row["Request Count"]), int(row["Failure Count"]))
            for row in csv.DictReader(rows)
            if row["Name"] != "Aggregated"
        }


def _counted(path: Path) -> dict[str, int]:
    """Request name -> requests, from Locust's --json-file (written last, at exit)."""
    entries = json.loads(path.read_text(encoding="utf-8"))
    return {entry["name"]: entry["num_requests"] for entry in entries}


def _recorded(records: Path) -> Counter[str]:
    return Counter(str(record["name"]) for record in read_records(records))


def _common(gateway: GatewayProcess, users: int, seconds: int) -> list[str]:
    return [
        "--headless",
        *("-u", str(users), "-r", str(users), "-t", f"{seconds}s"),
        *("--host", f"iso8583://127.0.0.1:{gateway.port}"),
        *("--possim-qr-url", gateway.qr_url),
        *("--possim-think", "0.2", "--possim-record", "records", "--csv", "results"),
        *("--json-file", "results"),
        "--only-summary",
    ]


def test_locust_headless_mixed_load_exits_0_with_a_csv_report_the_ledger_agrees_with(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    process = _locust(tmp_path, *_common(gateway, 20, 5))
    assert _finished(process, tmp_path) == 0, (tmp_path / "locust.log").read_text()[-3000:]
    stats = _stats(tmp_path / "results_stats.csv")
    assert stats[("ISO8583", "0200 sale chip")][0] > 0
    assert stats[("QR", "QR micropay")][0] > 0
    assert all(failures == 0 for _, failures in stats.values()), stats
    assert gateway.stop() == 0
    check = check_ledger(gateway.ledger, tmp_path / "records", MID)
    assert check.problems == (), check.lines()
    assert check.approvals > 0 and check.qr_paid > 0
    # Every request Locust counted is one the terminals recorded, and no other.
    recorded = _recorded(tmp_path / "records")
    assert {name: count for (_, name), (count, _) in stats.items()} == dict(recorded)


def test_a_master_and_two_workers_drive_distinct_terminals_and_lose_nothing(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    with socket.socket() as probe:  # a free port for the master (a race only with strangers)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    bind = ("--master-bind-host", "127.0.0.1", "--master-bind-port", str(port))
    master = _locust(tmp_path, *_common(gateway, 20, 6), "--master", *bind, "--expect-workers", "2")
    join = ("--worker", "--master-host", "127.0.0.1", "--master-port", str(port))
    workers = [_locust(tmp_path, *join, name=f"worker{n}") for n in (1, 2)]
    try:
        status = _finished(master, tmp_path)
        assert status == 0, (tmp_path / "locust.log").read_text()[-3000:]
        for n, worker in enumerate(workers, 1):
            assert _finished(worker, tmp_path, f"worker{n}") == 0
    finally:
        for process in (master, *workers):
            if process.poll() is None:
                process.kill()
                process.wait()
    files = sorted((tmp_path / "records").glob("*.jsonl"))
    tids_by_worker = [
        {json.loads(line)["tid"] for line in path.read_text().splitlines() if "tid" in line}
        for path in files
    ]
    assert len(files) == 2, files  # one record file per worker; the master sends nothing
    assert tids_by_worker[0] and tids_by_worker[1]
    assert not tids_by_worker[0] & tids_by_worker[1]  # terminal ids are distinct across workers
    assert gateway.stop() == 0
    check = check_ledger(gateway.ledger, tmp_path / "records", MID)
    assert check.problems == (), check.lines()
    # Every request the workers counted (the master's totals) is one they recorded and the
    # ledger holds. Not all of them: a master quitting at -t waits 0.5 s for the workers'
    # last reports (locust/runners.py, MasterRunner.quit), so it may miss a few.
    counted, recorded = _counted(tmp_path / "results.json"), _recorded(tmp_path / "records")
    assert counted and all(counted[name] <= recorded[name] for name in counted), (
        counted,
        recorded,
    )


def test_the_same_user_drives_a_qr_only_mix_against_the_qr_api(
    gateway: GatewayProcess, tmp_path: Path
) -> None:
    args = ["--headless", "-u", "5", "-r", "5", "-t", "4s", "--host", gateway.qr_url]
    args += ["--possim-think", "0.2", "--possim-record", "records", "--csv", "results"]
    process = _locust(tmp_path, *args)
    assert _finished(process, tmp_path) == 0, (tmp_path / "locust.log").read_text()[-3000:]
    stats = _stats(tmp_path / "results_stats.csv")
    assert stats and {kind for kind, _ in stats} <= {"QR", "QR sim"}, stats
    assert gateway.stop() == 0
    check = check_ledger(gateway.ledger, tmp_path / "records", MID)
    assert check.problems == () and check.card_requests == 0 and check.qr_paid > 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--possim-tids", "LCT1-LCT9"], "--possim-tids LCT1-LCT9: expected FIRST-LAST"),
        (["--possim-mix", "qr"], "--possim-mix qr needs the QR API"),
        (["-u", "3", "--possim-tids", "LCT00001-LCT00002"], "terminal ids LCT00001-LCT00002"),
        (["--possim-pin-key", "ABCD"], "--possim-pin-key: expected a double- or triple-length"),
        ([], "--host asks for mac=x919: give --possim-mac-key-file"),
        (["--possim-mac-key-file", "absent.hex"], "--possim-mac-key-file absent.hex: "),
    ],
)
def test_bad_options_are_refused_at_start_in_one_line(
    tmp_path: Path, options: list[str], message: str
) -> None:
    args = ["--headless", "-t", "1s", "--host", "iso8583://127.0.0.1:1?mac=x919", *options]
    status = _finished(_locust(tmp_path, *args), tmp_path)
    log = (tmp_path / "locust.log").read_text(encoding="utf-8").strip().splitlines()
    assert status == 2
    assert log[-1].startswith(f"locust: possim: {message}"), log[-3:]


def test_locust_never_entered_this_process() -> None:
    # The transactions above ran here without Locust: its gevent monkey-patching
    # happens only in the Locust processes (simulator.loadtest.user is theirs alone).
    assert "locust" not in sys.modules
    assert "simulator.loadtest.user" not in sys.modules
