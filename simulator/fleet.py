"""``possim fleet``: possim as a fleet of test terminals against one ISO 8583 host.

Each simulated terminal has its own terminal id and its own TCP connection and
sends magnetic-stripe purchases (0200, the card image's track 2) one after the
other, each waiting for its 0210, with the host's framing (length header, TPDU)
and MAC -- the same :class:`~simulator.terminal.config.HostEndpoint` a terminal
configuration names in ``[gateway] card``. The report counts answers by
response code, lost requests (no answer within the timeout, connection lost)
and mismatched answers, and gives the authorisation latency (request written
-> reply read) and the throughput.

A terminal's next request waits about ``think`` seconds after the previous
answer (0: back to back): each wait is drawn uniformly from 0.5-1.5 x think,
and the first request from 0-1 x think, by a seeded random stream per
terminal -- so terminals neither fire at once nor fall into lockstep after a
slow moment (as real cashiers do not).

Runs on the real clock with asyncio: one process drives hundreds of
connections. Card data stays out of the report (masked PAN only).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import math
import queue
import random
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import attrs

from simulator.devices.card_image import CardImage
from simulator.errors import SimulatorError
from simulator.redact import mask_pan
from simulator.terminal.config import HostEndpoint
from simulator.wire.iso8583 import Framing, Iso8583Codec, Iso8583Spec
from simulator.wire.mac import MessageMac, parse_mac_key
from simulator.wire.response_codes import APPROVED

DEFAULT_MERCHANT_ID = "898310048990001"
DEFAULT_TID_PREFIX = "FLT"
DEFAULT_AMOUNT_FEN = 100  # whole yuan: clear of the built-in gateway's magic fen values
DEFAULT_TIMEOUT = 30.0


class FleetError(SimulatorError):
    """The fleet cannot run as asked (bad options, a gateway process that will not start)."""


def percentile(samples: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of ``samples`` (``fraction`` 0.5 = median); nan if empty."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def terminal_ids(count: int, prefix: str = DEFAULT_TID_PREFIX) -> list[str]:
    """``count`` distinct 8-character terminal ids (ISO 8583 DE41): prefix + number."""
    digits = 8 - len(prefix)
    if digits < 1 or count >= 10**digits:
        raise FleetError(f"{count} terminal ids do not fit 8 characters after {prefix!r}")
    return [f"{prefix}{index:0{digits}d}" for index in range(1, count + 1)]


@attrs.frozen
class FleetPlan:
    endpoint: HostEndpoint
    terminals: int
    transactions: int  # per terminal
    card: CardImage = attrs.field(repr=False)
    amount_fen: int = DEFAULT_AMOUNT_FEN
    merchant_id: str = DEFAULT_MERCHANT_ID
    tid_prefix: str = DEFAULT_TID_PREFIX
    think: float = 0.0  # seconds between a terminal's answer and its next request
    timeout: float = DEFAULT_TIMEOUT  # for each answer
    mac_key: bytes | None = attrs.field(default=None, repr=False)
    seed: int = 0


@attrs.frozen
class Outcome:
    """One request's fate: its response code (None: lost) and latency in seconds."""

    tid: str
    stan: str
    transmission: str
    response_code: str | None
    latency: float
    rrn: str = ""
    auth_code: str = ""
    problem: str = ""


@attrs.frozen
class FleetReport:
    plan: FleetPlan
    outcomes: tuple[Outcome, ...]
    seconds: float

    @property
    def planned(self) -> int:
        return self.plan.terminals * self.plan.transactions

    @property
    def sent(self) -> int:
        return len(self.outcomes)

    @property
    def answered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is not None and not o.problem]

    @property
    def approved(self) -> list[Outcome]:
        return [o for o in self.answered if o.response_code == APPROVED]

    @property
    def lost(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is None]

    @property
    def mismatched(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.response_code is not None and o.problem]

    @property
    def latencies(self) -> list[float]:
        return [o.latency for o in self.answered]

    @property
    def throughput(self) -> float:
        return len(self.answered) / self.seconds if self.seconds > 0 else 0.0

    def response_codes(self) -> Counter[str]:
        return Counter(o.response_code for o in self.answered if o.response_code is not None)

    def lines(self) -> list[str]:
        plan = self.plan
        latencies = self.latencies
        codes = ", ".join(f"{code} x{n}" for code, n in sorted(self.response_codes().items()))
        lines = [
            f"host: {plan.endpoint.host}:{plan.endpoint.port} (spec {plan.endpoint.spec}, "
            f"{plan.endpoint.header} header"
            + (f", TPDU {plan.endpoint.tpdu.hex().upper()}" if plan.endpoint.tpdu else "")
            + (f", {plan.endpoint.mac} MAC" if plan.endpoint.mac else "")
            + ")",
            f"terminals: {plan.terminals} x {plan.transactions} purchases of "
            f"{plan.amount_fen} fen, card {mask_pan(plan.card.pan)}, think {plan.think} s",
            f"planned: {self.planned}, sent: {self.sent}, answered: {len(self.answered)}, "
            f"approved: {len(self.approved)}, lost: {len(self.lost)}, "
            f"mismatched: {len(self.mismatched)}",
            f"response codes: {codes or '-'}",
            f"latency: p50 {percentile(latencies, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(latencies, 0.99) * 1000:.1f} ms, "
            f"max {max(latencies, default=math.nan) * 1000:.1f} ms",
            f"throughput: {self.throughput:.0f} answers/s over {self.seconds:.2f} s",
        ]
        problems = Counter(o.problem for o in self.outcomes if o.problem)
        lines.extend(f"problem x{n}: {text}" for text, n in sorted(problems.items()))
        return lines


def purchase_request(
    plan: FleetPlan, tid: str, stan: int, now: datetime, amount_fen: int | None = None
) -> dict[str, str]:
    """A magnetic-stripe 0200 as a terminal sends it (DE2, DE35 from the card image)."""
    card = plan.card
    amount = plan.amount_fen if amount_fen is None else amount_fen
    return {
        "t": "0200",
        "2": card.pan,
        "3": "000000",
        "4": f"{amount:012d}",
        "7": now.astimezone(timezone.utc).strftime("%m%d%H%M%S"),
        "11": f"{stan % 1_000_000:06d}",
        "12": now.strftime("%H%M%S"),
        "13": now.strftime("%m%d"),
        "22": "021",
        "25": "00",
        "35": card.track2,
        "41": tid,
        "42": plan.merchant_id,
        "49": "156",
    }


class _Wire:
    """Encode/frame/decode for one host, shared by every simulated terminal."""

    def __init__(self, plan: FleetPlan) -> None:
        endpoint = plan.endpoint
        self.codec = Iso8583Codec(Iso8583Spec.load(endpoint.spec))
        self.framing: Framing = endpoint.framing()
        self.tpdu = endpoint.tpdu
        self.mac: MessageMac | None = endpoint.message_mac(self.codec, plan.mac_key)

    def frame(self, fields: Mapping[str, str]) -> bytes:
        encoded = self.codec.encode(fields) if self.mac is None else self.mac.encode(fields)
        return self.framing.frame(encoded, self.tpdu)

    async def read(self, reader: asyncio.StreamReader) -> dict[str, str]:
        header = await reader.readexactly(self.framing.header_size)
        body = await reader.readexactly(self.framing.body_length(header))
        _, message = self.framing.split(body)
        reply = self.codec.decode(message)
        if self.mac is not None:
            self.mac.verify_reply(message, reply)
        return reply


async def _terminal(
    plan: FleetPlan, wire: _Wire, tid: str, rng: random.Random, outcomes: list[Outcome]
) -> None:
    # Think times are a load schedule on the real clock, not a synchronisation.
    await asyncio.sleep(plan.think * rng.random())
    endpoint = plan.endpoint
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(endpoint.host, endpoint.port), plan.timeout
        )
    except (OSError, asyncio.TimeoutError) as exc:
        for stan in range(1, plan.transactions + 1):
            outcomes.append(Outcome(tid, f"{stan:06d}", "", None, 0.0, problem=f"connect: {exc}"))
        return
    try:
        for stan in range(1, plan.transactions + 1):
            request = purchase_request(plan, tid, stan, datetime.now().astimezone())
            started = time.perf_counter()
            try:
                writer.write(wire.frame(request))
                await writer.drain()
                reply = await _within(wire.read(reader), plan.timeout)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as exc:
                problem = f"no answer: {type(exc).__name__}"
                outcomes.append(
                    Outcome(tid, request["11"], request["7"], None, 0.0, problem=problem)
                )
                return  # the connection is unusable: this terminal stops
            except SimulatorError as exc:
                outcomes.append(
                    Outcome(tid, request["11"], request["7"], None, 0.0, problem=str(exc))
                )
                return
            latency = time.perf_counter() - started
            outcomes.append(_outcome(request, reply, latency))
            if plan.think > 0 and stan < plan.transactions:
                await asyncio.sleep(plan.think * rng.uniform(0.5, 1.5))
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


if sys.version_info >= (3, 11):

    async def _within(answer: Awaitable[dict[str, str]], timeout: float) -> dict[str, str]:
        # asyncio.timeout() needs no task per request, unlike wait_for(): at hundreds
        # of terminals the client's own overhead would show up as host latency.
        async with asyncio.timeout(timeout):
            return await answer

else:

    async def _within(answer: Awaitable[dict[str, str]], timeout: float) -> dict[str, str]:
        return await asyncio.wait_for(answer, timeout)


def _outcome(request: Mapping[str, str], reply: Mapping[str, str], latency: float) -> Outcome:
    problem = ""
    if reply.get("t") != "0210":
        problem = f"answer MTI {reply.get('t')!r}, expected 0210"
    elif (reply.get("41"), reply.get("11")) != (request["41"], request["11"]):
        problem = "answer for another terminal or STAN"
    return Outcome(
        request["41"],
        request["11"],
        request["7"],
        reply.get("39", ""),
        latency,
        rrn=reply.get("37", ""),
        auth_code=reply.get("38", ""),
        problem=problem,
    )


async def run_fleet_async(plan: FleetPlan) -> FleetReport:
    wire = _Wire(plan)
    outcomes: list[Outcome] = []
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _terminal(plan, wire, tid, random.Random(f"{plan.seed}/{tid}"), outcomes)
            for tid in terminal_ids(plan.terminals, plan.tid_prefix)
        )
    )
    return FleetReport(plan, tuple(outcomes), time.perf_counter() - started)


def run_fleet(plan: FleetPlan) -> FleetReport:
    """Run the fleet to the end (every terminal done or stopped); its report."""
    if plan.terminals < 1 or plan.transactions < 1:
        raise FleetError("a fleet needs at least one terminal and one transaction")
    return asyncio.run(run_fleet_async(plan))


# -- command line ------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fleet = subparsers.add_parser(
        "fleet",
        help="run N simulated terminals against an ISO 8583 host and report",
        description="Run N simulated terminals (distinct TIDs, one TCP connection each) "
        "sending magnetic-stripe purchases to an ISO 8583 host; report response codes, "
        "losses, latency and throughput (`possim docs real_hosts`).",
    )
    fleet.add_argument(
        "--host",
        required=True,
        metavar="URL",
        help="iso8583://HOST:PORT[?spec=NAME|PATH&tpdu=HEX&header=2|4&mac=x919]",
    )
    fleet.add_argument("--terminals", type=int, default=10, help="terminals (%(default)s)")
    fleet.add_argument(
        "--transactions", type=int, default=10, help="purchases per terminal (%(default)s)"
    )
    fleet.add_argument(
        "--card", default="unionpay_debit", help="card image for track 2 (%(default)s)"
    )
    fleet.add_argument(
        "--amount-fen", type=int, default=DEFAULT_AMOUNT_FEN, help="amount (%(default)s fen)"
    )
    fleet.add_argument("--merchant-id", default=DEFAULT_MERCHANT_ID, help="DE42 (%(default)s)")
    fleet.add_argument(
        "--tid-prefix", default=DEFAULT_TID_PREFIX, help="terminal ids: prefix + number"
    )
    fleet.add_argument(
        "--think", type=float, default=0.0, help="seconds between a terminal's purchases"
    )
    fleet.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds to wait for an answer"
    )
    fleet.add_argument(
        "--mac-key-file",
        type=Path,
        metavar="PATH",
        help="file holding the hex MAC key, for mac=x919 hosts",
    )
    fleet.add_argument("--seed", type=int, default=0, help="seed for the start stagger")
    fleet.set_defaults(handler=fleet_command)


def plan_from_args(args: argparse.Namespace) -> FleetPlan:
    try:
        endpoint = HostEndpoint.parse(args.host)
    except ValueError as exc:
        raise FleetError(f"--host: {exc}") from None
    mac_key = None
    if args.mac_key_file is not None:
        try:
            text = Path(args.mac_key_file).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise FleetError(f"cannot read --mac-key-file {args.mac_key_file}: {exc}") from None
        mac_key = parse_mac_key(text, f"the key in {args.mac_key_file}")
    if endpoint.mac and mac_key is None:
        raise FleetError(f"--host asks for mac={endpoint.mac}: pass --mac-key-file")
    if len(args.merchant_id) != 15:
        raise FleetError("--merchant-id must be 15 characters (ISO 8583 DE42)")
    return FleetPlan(
        endpoint=endpoint,
        terminals=args.terminals,
        transactions=args.transactions,
        card=CardImage.load(args.card),
        amount_fen=args.amount_fen,
        merchant_id=args.merchant_id,
        tid_prefix=args.tid_prefix,
        think=args.think,
        timeout=args.timeout,
        mac_key=mac_key,
        seed=args.seed,
    )


def fleet_command(args: argparse.Namespace) -> int:
    """0: every request answered and none mismatched; 1: losses; 2: bad options."""
    try:
        plan = plan_from_args(args)
        # The fleet measures the host: keep this process's own full collections (over
        # everything imported) out of the latencies.
        gc.freeze()
        report = run_fleet(plan)
    except SimulatorError as exc:
        print(f"possim fleet: {exc}", file=sys.stderr)
        return 2
    for line in report.lines():
        print(line)
    complete = report.sent == report.planned and not report.lost and not report.mismatched
    return 0 if complete else 1


# -- a gateway process to run against ----------------------------------------------

_LISTENING = re.compile(r"^possim gateway: ISO 8583 .* listening on (\S+):(\d+)$")
_QR_LISTENING = re.compile(r"^possim gateway: QR API .* listening on (http://\S+)$")


class GatewayProcess:
    """``possim gateway serve --quiet`` as a child process on OS-chosen loopback ports.

    For fleets, benchmarks and durability tests: a real separate process that can
    be killed (SIGKILL) and restarted on the same ledger.
    """

    def __init__(self, ledger: Path, *options: str, cwd: Path | None = None) -> None:
        self.ledger = ledger
        self._options = options
        self._cwd = cwd
        self._proc: subprocess.Popen[str] | None = None
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.port = 0
        self.qr_url = ""

    def start(self, timeout: float = 30.0) -> int:
        """Start the process and wait for its listening lines; the ISO 8583 port."""
        command = [
            sys.executable,
            "-m",
            "simulator.gateway.cli",
            "gateway",
            "serve",
            "--quiet",
            "--iso8583-port",
            "0",
            "--qr-port",
            "0",
            "--ledger",
            str(self.ledger),
            *self._options,
        ]
        self._lines = queue.Queue()
        self._proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            cwd=self._cwd,
        )
        threading.Thread(target=self._pump, args=(self._proc,), daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self.port or not self.qr_url:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.kill()
                raise FleetError(f"the gateway did not start within {timeout} s") from None
            if line is None:
                self.kill()
                raise FleetError("the gateway exited: " + " | ".join(self.output[-5:]))
            if (match := _LISTENING.match(line)) is not None:
                self.port = int(match.group(2))
            elif (match := _QR_LISTENING.match(line)) is not None:
                self.qr_url = match.group(1)
        return self.port

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            self.output.append(line)
            self._lines.put(line)
        self._lines.put(None)

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise FleetError("the gateway process is not running")
        return self._proc.pid

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush -- a crash."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._wait()

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait; the exit status."""
        if self._proc is None:
            return 0
        if self._proc.poll() is None:
            self._proc.terminate()
        return self._wait(timeout)

    def _wait(self, timeout: float = 30.0) -> int:
        proc, self._proc = self._proc, None
        self.port = 0
        self.qr_url = ""
        if proc is None:
            return 0
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait(timeout)

    def __enter__(self) -> GatewayProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
