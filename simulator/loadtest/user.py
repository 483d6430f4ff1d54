"""possim's terminals as Locust users: :class:`PossimTerminal` and its options.

Importing this module imports Locust, which monkey-patches the standard library
for gevent: only a Locust process (``locust -f``, or ``possim fleet``'s child)
imports it. Everything it runs is :mod:`.card_tasks` and :mod:`.qr_tasks`,
which import neither.

Each user is one terminal (:class:`~.terminal.LoadTerminal`): its terminal id
is drawn from ``--possim-tids`` (distinct across a master's workers: worker
*w* of *n* = ``--expect-workers`` takes numbers first + w, first + w + n, ...),
its merchant id is ``--possim-mid``. Between transactions it waits
0.5-1.5 x ``--possim-think`` seconds (a cashier serving the next customer). Each
transaction is drawn from :data:`TASKS` by weight among those of the mix
(``--possim-mix``: ``card`` when ``--host`` is ``iso8583://``, ``qr`` when it is
``http://``, ``mixed`` when an ``iso8583://`` host is given a
``--possim-qr-url`` too). Every request is reported through Locust's
``request`` event: request type ``ISO8583``, ``QR`` or ``QR sim`` (the
simulated customer), name by MTI and operation, response time from writing the
request to reading its answer, and a failure for an answer that is not an
approval (or not the expected QR result) or no answer at all.
"""

from __future__ import annotations

import itertools
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import attrs
import gevent
import locust.runners
from gevent import Greenlet
from gevent.pool import Group
from locust import User, events, task
from locust.argument_parser import LocustArgumentParser
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC

from simulator.errors import SimulatorError
from simulator.loadtest import card_tasks, qr_tasks
from simulator.loadtest.connection import HostWire, IsoConnection
from simulator.loadtest.errors import LoadTestError
from simulator.loadtest.identity import TerminalRange
from simulator.loadtest.record import Recorder
from simulator.loadtest.terminal import Exchange, LoadTerminal
from simulator.terminal.config import (
    DEFAULT_MERCHANT_API_KEY,
    DEFAULT_PIN_KEY,
    HostEndpoint,
)
from simulator.terminal.financial_requests import Merchant
from simulator.terminal.qr_link import QrLink
from simulator.wire.mac import parse_mac_key

DEFAULT_TIDS = "LCT00001-LCT99999"
DEFAULT_MID = "898310048990001"
DEFAULT_THINK = 1.0
DEFAULT_TIMEOUT = 30.0
# Where the dynamic QRs' notifies go: nobody listens (the discard port), so the
# gateway retries them on its schedule; point it at a receiver to test notifies.
DEFAULT_NOTIFY_URL = "http://127.0.0.1:9/possim-notify"
MIXES = ("auto", "card", "qr", "mixed")


@attrs.frozen
class TaskEntry:
    """One kind of transaction: its weight in the mix and what it runs."""

    name: str
    weight: int
    mix: str  # "card" or "qr": the mixes it belongs to ("mixed" takes both)
    run: Callable[[PossimTerminal], None]


# The realistic mix: a shop's day, per 100 transactions (docs/load.md). A new kind
# of transaction is one more entry.
TASKS: tuple[TaskEntry, ...] = (
    TaskEntry("chip sale, offline PIN", 30, "card", lambda u: u.chip(card_tasks.OFFLINE_PIN_CARDS)),
    TaskEntry("chip sale, online PIN", 20, "card", lambda u: u.chip(card_tasks.ONLINE_PIN_CARDS)),
    TaskEntry("magstripe sale", 5, "card", lambda u: card_tasks.magstripe_sale(u.terminal)),
    TaskEntry("void", 3, "card", lambda u: card_tasks.void(u.terminal)),
    TaskEntry("refund", 2, "card", lambda u: card_tasks.refund(u.terminal)),
    TaskEntry(
        "pre-auth, completion",
        3,
        "card",
        lambda u: card_tasks.preauth_completion(
            u.terminal, u.terminal.rng.choice(card_tasks.ONLINE_PIN_CARDS)
        ),
    ),
    TaskEntry("lost reply, reversal", 2, "card", lambda u: card_tasks.lost_reply_sale(u.terminal)),
    TaskEntry("batch close", 1, "card", lambda u: card_tasks.batch_close(u.terminal)),
    TaskEntry("QR micropay", 30, "qr", lambda u: qr_tasks.micropay(u.terminal, u.qr)),
    TaskEntry("QR USERPAYING", 3, "qr", lambda u: qr_tasks.micropay_userpaying(u.terminal, u.qr)),
    TaskEntry("dynamic QR", 10, "qr", lambda u: qr_tasks.dynamic_qr(u.terminal, u.qr, u.notify)),
    TaskEntry("QR refund", 2, "qr", lambda u: qr_tasks.qr_refund(u.terminal, u.qr)),
)


def add_options(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("possim", "possim's terminals (docs/load.md)")
    group.add_argument(
        "--possim-tids",
        default=DEFAULT_TIDS,
        help="terminal ids (DE41) the users take, FIRST-LAST (%(default)s)",
    )
    group.add_argument("--possim-mid", default=DEFAULT_MID, help="merchant id, DE42")
    group.add_argument("--possim-mix", default="auto", choices=MIXES, help="transactions")
    group.add_argument("--possim-qr-url", default="", help="the QR API (http://HOST:PORT)")
    group.add_argument("--possim-think", type=float, default=DEFAULT_THINK, help="seconds")
    group.add_argument("--possim-timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds")
    group.add_argument("--possim-mac-key-file", default="", help="hex MAC key, mac=x919 hosts")
    group.add_argument("--possim-notify-url", default=DEFAULT_NOTIFY_URL, help="dynamic QRs")
    group.add_argument("--possim-record", default="", help="folder for the ledger check")
    group.add_argument("--possim-seed", type=int, default=0, help="seed of amounts and picks")
    group.add_argument(
        "--possim-transactions",
        type=int,
        default=0,
        help="each terminal stops after N transactions; the run ends when all have (0: never)",
    )
    group.add_argument("--possim-card", default="unionpay_debit", help="FleetTerminal's card")
    group.add_argument("--possim-amount-fen", type=int, default=100, help="FleetTerminal's amount")
    # Keys are test keys by default (firmware_fixtures/terminals/default.toml's).
    group.add_argument("--possim-api-key", default=DEFAULT_MERCHANT_API_KEY, help="QR API key")
    group.add_argument("--possim-pin-key", default=DEFAULT_PIN_KEY, help="TPK, hex (DE52)")


_user_numbers = itertools.count()
_in_flight = Group()
_recorder: Recorder | None = None
_wires: dict[str, HostWire] = {}


def check_options(environment: Environment, runner: Any = None, **_: Any) -> None:
    """Refuse bad ``--possim-*`` options and hosts at start, in one line (exit status 2).

    A worker is not checked here: its options come from its master with the test.
    """
    options = environment.parsed_options
    if isinstance(runner, WorkerRunner) or options is None:
        return
    try:
        tids = TerminalRange.parse(options.possim_tids)
        if options.num_users:
            tids.terminal_id(int(options.num_users) - 1)  # -u more users than terminal ids
        _pin_key(options.possim_pin_key)
        if environment.host or options.possim_qr_url or options.headless:
            card_host, qr_url = _hosts(environment.host or "", options.possim_qr_url)
            _mix(options.possim_mix, card_host, qr_url)
            if card_host:
                _wire(card_host, options)
    except (SimulatorError, OSError) as exc:
        print(f"locust: possim: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _pin_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) not in (16, 24):
        raise LoadTestError("--possim-pin-key: expected a double- or triple-length key in hex")
    return key


def _finish_transactions(environment: Environment, **_: Any) -> None:
    timeout = DEFAULT_TIMEOUT
    if environment.parsed_options is not None:
        timeout = float(getattr(environment.parsed_options, "possim_timeout", timeout))
    _in_flight.join(timeout=timeout + 5)
    if environment.parsed_options is not None and environment.parsed_options.csv_prefix:
        # Locust writes its --csv files every CSV_STATS_INTERVAL_SEC and not again at
        # exit: let it take one more snapshot, with the transactions just finished.
        gevent.sleep(CSV_STATS_INTERVAL_SEC * 1.5)


# A master gives up a worker after HEARTBEAT_LIVENESS missed heartbeats (3 s). A worker
# whose CPU is saturated -- hundreds of users doing EMV on a shared core, which Locust
# warns about -- is alive but late: give it 30 s, or the test stops with no users.
locust.runners.HEARTBEAT_LIVENESS = max(locust.runners.HEARTBEAT_LIVENESS, 30)
# Before a worker connects to its master (docs in card_tasks.warm_up).
card_tasks.warm_up()
HostWire.for_endpoint(HostEndpoint("127.0.0.1", 1))  # the default spec, parsed once
# Locust's EventHook.add_listener has no annotations (locust/event.py).
events.init_command_line_parser.add_listener(add_options)  # type: ignore[no-untyped-call]
events.init.add_listener(check_options)  # type: ignore[no-untyped-call]
events.test_stop.add_listener(_finish_transactions)  # type: ignore[no-untyped-call]


def _options(environment: Environment) -> Any:
    if environment.parsed_options is None:
        raise LoadTestError("possim's users need Locust's command line (locust -f ...)")
    return environment.parsed_options


class PossimTerminal(User):
    """One smart-POS terminal: card transactions on the wire, QR payments on the API."""

    # Locust's default host placeholder: `--host` or the web UI sets the real one.
    host = ""
    # What this class draws from; a subclass narrows or extends the mix here.
    tasks_table: ClassVar[tuple[TaskEntry, ...]] = TASKS
    terminal: LoadTerminal
    qr: QrLink
    notify: str

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        options = _options(environment)
        runner = environment.runner
        worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
        workers = max(1, int(getattr(options, "expect_workers", 1) or 1))
        tids = TerminalRange.parse(options.possim_tids)
        number = next(_user_numbers)
        tid = tids.terminal_id(number * workers + max(0, worker))
        seed = f"{options.possim_seed}/{tid}"
        self.rng = random.Random(seed)
        self.think = float(options.possim_think)
        self.notify = str(options.possim_notify_url)
        card_host, qr_url = _hosts(self.host or "", options.possim_qr_url)
        self.mix = _mix(options.possim_mix, card_host, qr_url)
        self.tasks_here = [entry for entry in self.tasks_table if self.mix in (entry.mix, "mixed")]
        connection = None
        if card_host and self.mix != "qr":
            connection = IsoConnection(_wire(card_host, options), float(options.possim_timeout))
        merchant = Merchant(tid, str(options.possim_mid), "156")
        self.terminal = LoadTerminal(
            merchant,
            connection,
            self._report,
            self.rng,
            _pin_key(options.possim_pin_key),
        )
        self.qr = QrLink(
            qr_url or "http://127.0.0.1:1",
            merchant_id=merchant.merchant_id,
            terminal_id=tid,
            api_key=str(options.possim_api_key),
            bus=None,
            timeout=float(options.possim_timeout),
        )
        self._recorder = _recorder_for(options)
        self._job: Greenlet | None = None
        self.limit = int(options.possim_transactions)
        self.done = 0
        self.card_name = str(options.possim_card)
        self.amount_fen = int(options.possim_amount_fen)
        self.terminal_timeout = float(options.possim_timeout)

    def wait_time(self) -> float:
        return self.think * self.rng.uniform(0.5, 1.5)

    @task
    def transaction(self) -> None:
        if self.limit and self.done >= self.limit:
            _user_finished(self.environment)
            raise StopUser()
        self.done += 1
        entry = self.rng.choices(self.tasks_here, [e.weight for e in self.tasks_here])[0]
        # Its own greenlet: a user stopped mid-transaction (Locust kills a user whose
        # stop races its wake-up) stops waiting for it, but the transaction ends as a
        # terminal's would -- answered and reported, or reversed -- never half-sent
        # and unrecorded; the test's end waits for it (_finish_transactions).
        self._job = _in_flight.spawn(entry.run, self)
        self._job.get()

    def chip(self, cards: tuple[str, ...]) -> None:
        card_tasks.chip_sale(self.terminal, self.rng.choice(cards))

    def on_stop(self) -> None:
        if self._job is not None:
            self._job.join(timeout=self.terminal_timeout + 5)
        self.terminal.close()

    def _report(self, exchange: Exchange) -> None:
        self.environment.events.request.fire(
            request_type=exchange.kind,
            name=exchange.name,
            response_time=exchange.seconds * 1000,
            response_length=exchange.size,
            exception=None if exchange.ok else LoadTestError(exchange.error),
            context={"terminal_id": self.terminal.terminal_id},
        )
        if self._recorder is not None:
            self._recorder.write(exchange)


class FleetTerminal(PossimTerminal):
    """``possim fleet``'s terminal: swiped purchases of ``--possim-card`` for
    ``--possim-amount-fen``, without a PIN block, ``--possim-transactions`` of them."""

    tasks_table: ClassVar[tuple[TaskEntry, ...]] = (
        TaskEntry(
            "fleet purchase",
            1,
            "card",
            lambda u: card_tasks.magstripe_sale(u.terminal, u.card_name, u.amount_fen, pin=False),
        ),
    )


_finished_users = 0


def _user_finished(environment: Environment) -> None:
    """Count a user that did its --possim-transactions; the last one ends the run."""
    global _finished_users
    _finished_users += 1
    options = environment.parsed_options
    runner = environment.runner
    expected = int(getattr(options, "num_users", 0) or 0)
    if expected and _finished_users >= expected and not isinstance(runner, WorkerRunner):
        assert runner is not None
        gevent.spawn(runner.quit)


def _hosts(host: str, qr_url: str) -> tuple[str, str]:
    """(the card host URL, the QR API URL) from ``--host`` and ``--possim-qr-url``."""
    if host.startswith("iso8583://"):
        return host, qr_url
    if host.startswith(("http://", "https://")):
        return "", qr_url or host
    if host:
        raise LoadTestError(
            f"--host {host}: expected iso8583://HOST:PORT[?...] or http://HOST:PORT"
        )
    if qr_url:
        return "", qr_url
    raise LoadTestError("no host: give --host iso8583://HOST:PORT or --host http://HOST:PORT")


def _mix(asked: str, card_host: str, qr_url: str) -> str:
    if asked == "auto":
        return "mixed" if card_host and qr_url else ("card" if card_host else "qr")
    if asked in ("card", "mixed") and not card_host:
        raise LoadTestError(f"--possim-mix {asked} needs --host iso8583://HOST:PORT")
    if asked in ("qr", "mixed") and not qr_url:
        raise LoadTestError(f"--possim-mix {asked} needs the QR API: --possim-qr-url http://...")
    return asked


def _wire(url: str, options: Any) -> HostWire:
    """One codec/framing/MAC per host URL in this process, shared by its users."""
    wire = _wires.get(url)
    if wire is None:
        try:
            endpoint = HostEndpoint.parse(url)
        except ValueError as exc:
            raise LoadTestError(f"--host: {exc}") from None
        key = None
        if options.possim_mac_key_file:
            path = Path(options.possim_mac_key_file)
            try:
                text = path.read_text(encoding="ascii")
            except (OSError, UnicodeDecodeError) as exc:
                raise LoadTestError(f"--possim-mac-key-file {path}: {exc}") from None
            key = parse_mac_key(text.strip(), f"--possim-mac-key-file {path}")
        elif endpoint.mac:
            raise LoadTestError(f"--host asks for mac={endpoint.mac}: give --possim-mac-key-file")
        wire = _wires[url] = HostWire.for_endpoint(endpoint, key)
    return wire


def _recorder_for(options: Any) -> Recorder | None:
    global _recorder
    if not options.possim_record:
        return None
    if _recorder is None:
        _recorder = Recorder(Path(options.possim_record))
    return _recorder
