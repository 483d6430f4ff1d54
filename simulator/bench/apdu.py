"""APDU round trips through the real PC/SC stack (pcscd + vsmartcard's vpcd).

Three figures, all through a private pcscd (:mod:`simulator.pcscd`; needs root,
pcscd, vsmartcard-vpcd and pyscard):

* possim's virtual card: SELECT of the payment system environment (the first
  command of every EMV read), the terminal's ``pcsc://`` driver to pcscd to
  vpcd to :class:`~simulator.devices.vpcd_card.VpcdCardLink`, median and p99 in
  microseconds. Budget <= 200 us (DESIGN.md section 6);
* the same through vsmartcard's own card, ``vicc -t iso7816`` (SELECT MF), when
  it is installed -- the reference point for the link (vicc leaves Nagle and
  delayed ACKs on, hence its tens of milliseconds);
* a full EMV card read + ARQC through pcscd: connect, SELECT PSE, READ RECORD,
  SELECT AID, GPO, READ RECORDs, GET DATA, first GENERATE AC, power off, with
  the terminal's EMV kernel over :class:`~drivers.pcsc_card_reader.PcscCardReader`.
  Budget <= 10 ms.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from simulator.bench import BenchmarkFailed, Measurement
from simulator.devices import cards

if TYPE_CHECKING:
    from drivers.pcsc_card_reader import PcscCardReader
    from simulator.devices.card import VirtualCard
    from simulator.devices.vpcd_card import VpcdCardLink
    from simulator.pcscd import PrivatePcscd

DEFAULT_COUNT = 2000
VICC_COUNT = 40  # vicc takes ~40 ms an APDU: a few dozen tell the story
EMV_COUNT = 200
APDU_BUDGET_US = 200.0
EMV_BUDGET_MS = 10.0
_SETTLE = 5.0  # real seconds pcscd may take to see a card arrive or leave

SELECT_MF = bytes.fromhex("00A4000C023F00")


def run(options: argparse.Namespace) -> Measurement:
    # Imported here: `possim bench` lists every benchmark, with or without pyscard.
    from drivers.pcsc_card_reader import PcscCardReader
    from drivers.wire import iso7816 as cmd
    from simulator.devices.card import VirtualCard
    from simulator.pcscd import shared_private_pcscd

    count = options.count or DEFAULT_COUNT
    pcscd = shared_private_pcscd()
    ours, theirs = pcscd.acquire_slot(), pcscd.acquire_slot()
    details: dict[str, object] = {}
    try:
        image = cards.load("unionpay_debit")
        card = VirtualCard(image)
        link = _insert(pcscd, ours.port, card, ours.reader)
        try:
            reader = PcscCardReader(ours.reader)
            try:
                reader.connect()
                select_pse = cmd.select(cmd.PSE_NAME)
                possim = _round_trips(reader, select_pse, count)
                details["possim card (SELECT PSE)"] = _summary(possim, count, reader.protocol)
                reader.disconnect()
                emv = _emv_reads(reader, min(count, EMV_COUNT), options.seed)
                details["EMV read + ARQC (possim card)"] = (
                    f"median {statistics.median(emv):.2f} ms, p99 {_p99(emv):.2f} ms "
                    f"over {len(emv)} reads (budget <= {EMV_BUDGET_MS:g} ms: "
                    f"{'OK' if statistics.median(emv) <= EMV_BUDGET_MS else 'OVER'})"
                )
            finally:
                reader.close()
        finally:
            link.remove()
        details["vicc -t iso7816 (SELECT MF)"] = _vicc(pcscd, theirs.port, theirs.reader)
    finally:
        pcscd.release_slot(ours)
        pcscd.release_slot(theirs)
    median = statistics.median(possim)
    details["APDU budget"] = (
        f"<= {APDU_BUDGET_US:g} us: {'OK' if median <= APDU_BUDGET_US else 'OVER'}"
    )
    return Measurement(figure=median, unit="us per APDU (median, possim card)", details=details)


def _insert(pcscd: PrivatePcscd, port: int, card: VirtualCard, reader: str) -> VpcdCardLink:
    from simulator.devices.vpcd_card import VpcdCardLink
    from simulator.pcscd import PcscdError, wait_for_reader_state

    link = VpcdCardLink(lambda: pcscd.connect_vpcd(port), name=reader)
    link.insert(card)
    if not wait_for_reader_state(reader, True, _SETTLE):
        link.remove()
        raise PcscdError(f"pcscd did not see the card in {reader!r}: {link.last_error}")
    return link


def _round_trips(reader: PcscCardReader, apdu: bytes, count: int) -> list[float]:
    """Microseconds per exchange (the raw exchange: no 61xx/6Cxx follow-ups)."""
    exchange = reader._transmit_raw
    for _ in range(min(50, count)):  # warm up pcscd's and the kernel's paths
        exchange(apdu)
    samples: list[float] = []
    clock = time.perf_counter
    for _ in range(count):
        started = clock()
        exchange(apdu)
        samples.append((clock() - started) * 1e6)
    return samples


def _emv_reads(reader: PcscCardReader, count: int, seed: int) -> list[float]:
    from simulator.terminal.emv import EmvKernel, TerminalEmvConfig

    rng = random.Random(seed)
    config = TerminalEmvConfig()

    def now() -> datetime:
        return datetime(2026, 1, 15, 10, 30, tzinfo=timezone.utc)

    samples: list[float] = []
    for index in range(count + 5):
        started = time.perf_counter()
        kernel = EmvKernel(reader, config, rng, now)
        try:
            kernel.read_card(10_000 + index)
            first = kernel.first_generate_ac()
        finally:
            kernel.finish()
        if not first.cryptogram:
            raise BenchmarkFailed("the card returned no application cryptogram")
        if index >= 5:  # the first reads warm caches
            samples.append((time.perf_counter() - started) * 1e3)
    return samples


def _vicc(pcscd: PrivatePcscd, port: int, reader_name: str) -> str:
    from drivers.pcsc_card_reader import PcscCardReader
    from simulator.pcscd import PcscdError, vicc_command, wait_for_reader_state

    try:
        argv, env = vicc_command(port)
    except PcscdError as exc:
        return f"not measured: {exc}"
    vicc = subprocess.Popen(
        pcscd.namespace_command(argv),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_for_reader_state(reader_name, True, _SETTLE):
            return "not measured: pcscd never saw vicc's card"
        reader = PcscCardReader(reader_name)
        try:
            reader.connect()
            samples = _round_trips(reader, SELECT_MF, VICC_COUNT)
            return _summary(samples, VICC_COUNT, reader.protocol)
        finally:
            reader.close()
    finally:
        vicc.terminate()
        try:
            vicc.wait(5)
        except subprocess.TimeoutExpired:
            vicc.kill()
            vicc.wait(5)
        wait_for_reader_state(reader_name, False, _SETTLE)


def _p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _summary(samples: list[float], count: int, protocol: str) -> str:
    return (
        f"median {statistics.median(samples):9.1f} us, p99 {_p99(samples):9.1f} us "
        f"over {count} exchanges ({protocol})"
    )
