"""What both API versions share: the book, the faults, the keys, the notifier, the clock."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from drivers.clock import Clock
from simulator.channels.wechat import keys as test_keys
from simulator.channels.wechat.faults import Faults
from simulator.channels.wechat.keys import WechatTestKeys
from simulator.channels.wechat.notify import Notifier
from simulator.channels.wechat.trades import Trades

NONCE_WINDOW_SECONDS = 300.0  # "timestamp 与发起请求的时间不得超过5分钟"
MAX_NONCES = 100_000
MAX_BILL_TOKENS = 1_000


class WechatCore:
    def __init__(
        self,
        clock: Clock,
        keys: WechatTestKeys | None = None,
        *,
        trades: Trades | None = None,
        notifier: Notifier | None = None,
        wall_time: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock
        # The merchant's SDK signs with the wall clock and checks answers against it:
        # Authorization timestamps and Wechatpay-Timestamp are wall time, whatever
        # the simulation's clock (orders, bills, notifies) says.
        self.wall_time = wall_time
        self.keys = keys or test_keys.load()
        self.trades = trades or Trades(clock)
        self.faults = Faults()
        self.notifier = notifier or Notifier(clock)
        self.base_url = ""  # set by the server once it listens
        # Which platform key id answers and notifies carry in Wechatpay-Serial: the
        # merchant account's mode. 微信支付公钥 (the public key id; new merchants have
        # only this mode) or 平台证书 (the platform certificate's serial).
        self.public_key_mode = True
        self._nonce_lock = threading.Lock()
        self._nonces: OrderedDict[tuple[str, str], float] = OrderedDict()
        self.bill_tokens: OrderedDict[str, bytes] = OrderedDict()

    async def maybe_slow(self, api: str) -> None:
        """A ``slow`` fault: its seconds pass before the answer.

        On a virtual clock the caller is a busy actor blocked on the answer (or no
        actor at all), so time only moves by being moved: the delay is exact and
        the run reproducible (the gateway's QR faults do the same).
        """
        fault = self.faults.take("slow", api)
        if fault is None:
            return
        advance = getattr(self.clock, "advance", None)
        if advance is not None:
            advance(fault.seconds)
        else:  # a real clock: a standalone server and real clients
            await asyncio.sleep(fault.seconds)

    def nonce_seen(self, mch_id: str, nonce: str, now: float) -> bool:
        """Whether (mch_id, nonce) came within the window; remembers it if not."""
        with self._nonce_lock:
            while self._nonces:
                _, first = next(iter(self._nonces.items()))
                if now - first <= NONCE_WINDOW_SECONDS and len(self._nonces) < MAX_NONCES:
                    break
                self._nonces.popitem(last=False)
            key = (mch_id, nonce)
            if key in self._nonces:
                return True
            self._nonces[key] = now
            return False

    @property
    def platform_serial(self) -> str:
        """``Wechatpay-Serial`` of answers and notifies, as the account's mode says."""
        return self.keys.public_key_id if self.public_key_mode else self.keys.platform_serial

    def keep_bill(self, token: str, content: bytes) -> None:
        self.bill_tokens[token] = content
        while len(self.bill_tokens) > MAX_BILL_TOKENS:
            self.bill_tokens.popitem(last=False)
