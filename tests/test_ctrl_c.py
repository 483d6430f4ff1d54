"""Ctrl-C stops every long-running command, however it was started, and cleans up.

Each command runs as a user's script would start it in the background
(``possim ... &``: SIGINT ignored at start, tests/process_helpers.py), does
real work (a client printing, terminals buying, scenarios running), and gets
SIGINT. The test waits on the process's exit with a generous deadline -- the
assertion is that it exits, and that what it started is gone: its listening
ports, its child processes, its temporary folders. (Typical exit times are in
the README's benchmark notes; they are not asserted.)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from process_helpers import (
    DEADLINE,
    descendants,
    possim,
    start_like_a_background_job,
    wait_gone,
)

from simulator.fleet.gateway_process import GatewayProcess
from simulator.fleet.plan import FleetPlan
from simulator.fleet.wire import run_fleet

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def refuses(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError:
        return True
    return False


def test_the_stop_is_the_fix_not_the_start() -> None:
    """The helper really starts Python with SIGINT ignored (else these tests prove nothing)."""
    import sys

    script = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    command = start_like_a_background_job([sys.executable, "-c", script])
    assert command.wait_for("True|False").group(0) == "True"


def test_card_serve_stops_while_it_retries_vpcd(tmp_path: Path) -> None:
    command = start_like_a_background_job(
        possim("card", "serve", "unionpay_debit", "--port", str(free_port())), cwd=tmp_path
    )
    try:
        command.wait_for("Ctrl-C stops")
        command.wait_for("cannot connect")  # the reconnect loop is running
        command.interrupt()
    finally:
        command.stop()
    assert command.process.returncode == 0, command.output
    assert "card removed after 0 APDU(s); stopped" in command.output


def test_printer_serve_stops_while_a_client_prints(tmp_path: Path) -> None:
    from drivers.printer.profile import PrinterProfile
    from simulator.bench.samples import sale_receipt

    command = start_like_a_background_job(
        possim("printer", "serve", "--tcp", "0", "--out", str(tmp_path / "out")), cwd=tmp_path
    )
    stop_printing = threading.Event()
    try:
        port = int(command.wait_for(r"listening on tcp://127\.0\.0\.1:(\d+)").group(1))
        job = sale_receipt(PrinterProfile.load("generic_58mm"))

        def print_until_stopped() -> None:
            with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as client:
                while not stop_printing.is_set():
                    try:
                        client.sendall(job)
                    except OSError:
                        return  # the printer went away: what SIGINT does

        client = threading.Thread(target=print_until_stopped, daemon=True)
        client.start()
        command.wait_for("----- receipt 2 -----")  # under load: receipts keep coming
        command.interrupt()
        stop_printing.set()
        client.join(DEADLINE)
    finally:
        stop_printing.set()
        command.stop()
    assert command.process.returncode == 0, command.output
    # The summary; the client's job cut off by the stop may count as a problem.
    assert re.search(r"\d+ receipt\(s\) printed(, \d+ problem\(s\))?$", command.lines[-1])
    assert refuses("127.0.0.1", port)


def test_gateway_serve_stops_while_terminals_buy(tmp_path: Path) -> None:
    from simulator.devices import cards
    from simulator.terminal.config import HostEndpoint

    ledger = tmp_path / "ledger.sqlite"
    command = start_like_a_background_job(
        possim(
            "gateway", "serve", "--quiet", "--iso8583-port", "0", "--qr-port", "0",
            "--ledger", str(ledger),
        ),
        cwd=tmp_path,
    )  # fmt: skip
    try:
        port = int(command.wait_for(r"ISO 8583 .* listening on 127\.0\.0\.1:(\d+)").group(1))
        plan = FleetPlan(
            endpoint=HostEndpoint.parse(f"iso8583://127.0.0.1:{port}"),
            terminals=10,
            transactions=100_000,  # more than it can finish: SIGINT comes mid-traffic
            card=cards.load("unionpay_debit"),
            timeout=5.0,
        )
        fleet = threading.Thread(target=run_fleet, args=(plan,), daemon=True)
        fleet.start()
        _wait_for_rows(ledger, 20)
        command.interrupt()
        fleet.join(DEADLINE)
    finally:
        command.stop()
    assert command.process.returncode == 0, command.output
    assert refuses("127.0.0.1", port)


def _wait_for_rows(ledger: Path, rows: int) -> None:
    """Until the gateway has recorded ``rows`` authorisations (its ledger, read as a client)."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        try:
            with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5) as db:
                (count,) = db.execute("SELECT COUNT(*) FROM card_transactions").fetchone()
            if count >= rows:
                return
        except sqlite3.Error:
            pass  # not created yet
        time.sleep(0.05)  # polling another process's database: nothing to wait on
    raise AssertionError(f"the gateway recorded fewer than {rows} authorisations")


def test_run_stops_between_or_inside_scenarios(tmp_path: Path) -> None:
    command = start_like_a_background_job(
        possim("run", str(REPO / "scenarios"), "--repeat", "3", "--out", str(tmp_path / "runs")),
        cwd=tmp_path,
    )
    try:
        command.wait_for(r"^(PASS|FAIL)  ")
        command.interrupt()
    finally:
        command.stop()
    assert command.process.returncode == 130, command.output
    assert command.lines[-1] == "possim run: interrupted"


@pytest.mark.system_package("pcscd")
@pytest.mark.system_package("vpcd-config")
@pytest.mark.system_package("pyscard")
def test_run_over_pcsc_stops_and_takes_its_pcscd_with_it(tmp_path: Path) -> None:
    from simulator.pcscd import missing_requirements

    problems = missing_requirements()
    if problems:
        pytest.skip("a private pcscd cannot run here: " + "; ".join(problems))
    scenario = REPO / "scenarios" / "card_purchase.yaml"
    command = start_like_a_background_job(
        possim(
            "run", str(scenario), "--card-transport", "pcsc", "--repeat", "50",
            "--out", str(tmp_path / "runs"),
        ),
        cwd=tmp_path,
    )  # fmt: skip
    try:
        command.wait_for(r"^PASS  ")
        started = descendants(command.process.pid)
        folders = _pcscd_folders(started)
        assert started, "no private pcscd under possim run --card-transport pcsc"
        command.interrupt()
    finally:
        command.stop()
    assert command.process.returncode == 130, command.output
    assert wait_gone(started) == set()
    assert folders and not any(folder.exists() for folder in folders)


def _pcscd_folders(pids: set[int]) -> list[Path]:
    """The private pcscd's temporary folders, read from its command line."""
    folders: list[Path] = []
    for pid in pids:
        try:
            words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        folders += [
            Path(word.decode()).parent
            for word in words
            if b"possim-pcscd-" in word and word.endswith(b"/conf")
        ]
    return folders


def test_fleet_stops_mid_traffic(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.sqlite"
    with GatewayProcess(ledger, cwd=tmp_path) as gateway:
        command = start_like_a_background_job(
            possim(
                "fleet", "--host", f"iso8583://127.0.0.1:{gateway.port}",
                "--terminals", "10", "--transactions", "100000",
            ),
            cwd=tmp_path,
        )  # fmt: skip
        try:
            _wait_for_rows(ledger, 20)
            command.interrupt()
        finally:
            command.stop()
    assert command.process.returncode == 130, command.output
    assert command.lines[-1] == "possim fleet: interrupted"


def test_tui_serve_stops_and_ends_its_browser_sessions(tmp_path: Path) -> None:
    pytest.importorskip("textual_serve")
    aiohttp = pytest.importorskip("aiohttp")
    port = free_port()
    scratch = tmp_path / "tmp"  # where each session's TUI keeps its journal and ledger
    scratch.mkdir()
    command = start_like_a_background_job(
        possim("tui", "--serve", str(port)),
        cwd=tmp_path,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    url = f"http://127.0.0.1:{port}"
    session_open = threading.Event()
    release = threading.Event()

    async def browser() -> None:
        async with (
            aiohttp.ClientSession() as client,
            client.ws_connect(f"{url}/ws?width=80&height=24") as ws,
        ):
            await ws.send_str(json.dumps(["resize", {"width": 80, "height": 24}]))
            seen = b""
            while b"type an amount" not in seen:
                message = await ws.receive(timeout=DEADLINE)
                if message.type not in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    return
                data = message.data
                seen += data if isinstance(data, bytes) else data.encode()
            session_open.set()
            while not release.is_set():  # keep the session until the server goes
                message = await ws.receive(timeout=DEADLINE)
                if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    return

    tab = threading.Thread(target=lambda: asyncio.run(browser()), daemon=True)
    try:
        command.wait_for("Serving")
        _wait_until_answers(url)
        tab.start()
        assert session_open.wait(DEADLINE), "the browser session never showed the TUI"
        sessions = descendants(command.process.pid)
        assert sessions, "no TUI process behind the browser session"
        # The session's own folder (beside the server's, with its local page templates).
        assert sorted(p.name[:11] for p in scratch.iterdir()) == ["possim-serv", "possim-tui-"]
        command.interrupt()
    finally:
        release.set()
        command.stop()
    assert command.process.returncode in (0, 130), command.output
    assert wait_gone(sessions) == set()
    assert list(scratch.iterdir()) == []  # the session closed itself: its temp folder went too
    assert refuses("127.0.0.1", port)


def _wait_until_answers(url: str) -> None:
    end = time.monotonic() + DEADLINE
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as page:
                page.read()
            return
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > end:
                raise AssertionError(f"{url} never answered") from None
            time.sleep(0.05)  # polling a real server's port
