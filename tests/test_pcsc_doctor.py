"""``possim doctor`` and ``possim card serve`` against a pcscd with vpcd.

Both run as separate processes, the way a user runs them: pointed at the test
run's private pcscd by PCSCLITE_CSOCK_NAME (set by the private_pcscd fixture),
and -- for programs that connect to vpcd -- inside its network namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from simulator.devices import cards
from simulator.pcscd import SOCKET_ENV, PrivatePcscd, VpcdSlot, vicc_command, wait_for_reader_state

# Runs the rest of the command line with SIGINT ignored, as `cmd &` in a script does.
BACKGROUND_JOB = ("sh", "-c", 'trap "" INT; exec "$@"', "sh")
SETTLE = 10.0  # real seconds for a card process to start and pcscd to notice it

pytestmark = [
    pytest.mark.system_package("pcscd"),
    pytest.mark.system_package("vpcd-config"),
    pytest.mark.system_package("pyscard"),
]


def possim(*args: str) -> list[str]:
    return [sys.executable, "-m", "possim", *args]


def atr_now(reader: str) -> bytes:
    """The ATR pcscd reports for ``reader``, asked independently of the doctor."""
    from smartcard import scard

    _hr, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    try:
        _hr, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        return bytes(states[0][2])
    finally:
        scard.SCardReleaseContext(context)


@pytest.fixture
def slot(private_pcscd: PrivatePcscd) -> Iterator[VpcdSlot]:
    taken = private_pcscd.acquire_slot()
    yield taken
    private_pcscd.release_slot(taken)


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.mark.system_package("vicc")
def test_doctor_lists_the_reader_and_vicc_card(private_pcscd: PrivatePcscd, slot: VpcdSlot) -> None:
    argv, env = vicc_command(slot.port)
    vicc = subprocess.Popen(
        private_pcscd.namespace_command(argv),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        if not wait_for_reader_state(slot.reader, True, SETTLE):
            stop(vicc)
            pytest.fail(f"pcscd never saw vicc's card; vicc said: {vicc.communicate()[1]}")
        atr = " ".join(f"{byte:02X}" for byte in atr_now(slot.reader))
        assert atr  # vicc's ISO 7816 card has an ATR
        result = subprocess.run(
            possim("doctor"), capture_output=True, text=True, timeout=60, env=dict(os.environ)
        )
    finally:
        stop(vicc)
    assert wait_for_reader_state(slot.reader, False, SETTLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pcscd: running ({os.environ[SOCKET_ENV]})" in result.stdout
    assert f"{slot.reader}: card present, ATR {atr}, protocol T=" in result.stdout


def test_doctor_says_when_pcscd_is_not_running() -> None:
    env = {**os.environ, SOCKET_ENV: "/nonexistent/pcscd.comm"}
    result = subprocess.run(possim("doctor"), capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 1
    assert "pcscd: not reachable" in result.stdout
    assert "systemctl start pcscd" in result.stdout


def test_doctor_says_when_pyscard_is_missing(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator.cli import doctor

    saved = sys.modules.get("smartcard")
    sys.modules["smartcard"] = None  # type: ignore[assignment]
    try:
        assert doctor.diagnose(print) == 1
    finally:
        if saved is None:
            del sys.modules["smartcard"]
        else:
            sys.modules["smartcard"] = saved
    assert "pyscard: not installed" in capsys.readouterr().out


def test_card_serve_inserts_the_card_until_ctrl_c(
    private_pcscd: PrivatePcscd, slot: VpcdSlot
) -> None:
    image = cards.load("unionpay_debit")
    # Started as `possim card serve &` in a script starts it: with SIGINT ignored
    # (tests/process_helpers.py). Python then installs no KeyboardInterrupt handler
    # of its own, and SIGINT used to leave the command running (issue 14).
    serve = subprocess.Popen(
        [
            *BACKGROUND_JOB,
            *private_pcscd.namespace_command(
                possim("card", "serve", "unionpay_debit", "--port", str(slot.port))
            ),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = wait_for_reader_state(slot.reader, True, SETTLE)
        atr = atr_now(slot.reader) if seen else b""
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=30)
    finally:
        stop(serve)
    assert seen, output
    assert atr == image.atr
    assert serve.returncode == 0, output
    assert f"serving card unionpay_debit (UnionPay, PAN {image.masked_pan}" in output
    assert image.pan not in output
    assert "card removed" in output
    assert wait_for_reader_state(slot.reader, False, SETTLE)


@pytest.mark.system_package("pcsc_scan")
def test_card_serve_a_mute_card_pcsc_scan_and_doctor_see_it_unresponsive(
    private_pcscd: PrivatePcscd, slot: VpcdSlot
) -> None:
    # A real mute card is in the reader but gives no ATR. Before, `card serve` said
    # "the card is in the reader" while pcscd showed the slot empty.
    serve = subprocess.Popen(
        private_pcscd.namespace_command(
            possim("card", "serve", "magstripe_only", "--port", str(slot.port))
        ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        seen = wait_for_reader_state(slot.reader, True, SETTLE)
        env = dict(os.environ)
        scan = subprocess.run(
            ["pcsc_scan", "-c", "-n"], capture_output=True, text=True, timeout=60, env=env
        )
        doctor = subprocess.run(
            possim("doctor"), capture_output=True, text=True, timeout=60, env=env
        )
        serve.send_signal(signal.SIGINT)
        output, _ = serve.communicate(timeout=30)
    finally:
        stop(serve)
    assert seen, output
    assert "mute chip" in output and "card removed" in output
    # pcsc_scan prints each reader, then its state flags (pcsc_scan.c).
    ours = scan.stdout.split(f": {slot.reader}\n", 1)[-1]
    state_line = next(line for line in ours.splitlines() if "Card state:" in line)
    assert "Card inserted" in state_line and "Unresponsive card" in state_line, scan.stdout
    assert f"{slot.reader}: card present but mute" in doctor.stdout, doctor.stdout
    assert wait_for_reader_state(slot.reader, False, SETTLE)


def test_card_serve_rejects_an_unknown_card() -> None:
    result = subprocess.run(
        possim("card", "serve", "no_such_card"), capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "unionpay_debit" in result.stderr  # the catalogue is listed
