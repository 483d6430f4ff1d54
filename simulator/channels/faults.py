"""Faults as data: what the next matching request or notification meets.

One model for the Alipay and the UnionPay simulators (each a subclass of
:class:`ChannelFault` naming its channel and its pay method); the kinds are
told in Alipay's terms here, UnionPay's answers are its own (its ``channel``).

A scenario (or a test, or ``POST /possim/faults``) arms faults; each is used up
by the first request (or notification) it matches, in the order armed, so the
author says exactly which exchange fails. Kinds:

==================== =====================================================================
``slow``             the answer leaves ``seconds`` later on the channel's clock (the trade
                     is decided first, as a slow network would have it)
``system_error``     the request is processed, but the answer is ``40004 ACQ.SYSTEM_ERROR``
                     (the merchant must query: opendocs.alipay.com/open/194/106039)
``user_paying``      alipay.trade.pay answers ``10003`` (waiting for the buyer); the buyer
                     confirms ``seconds`` later (``then: success``) or never (``then: never``)
``balance_not_enough`` alipay.trade.pay: ``ACQ.BUYER_BALANCE_NOT_ENOUGH``, nothing recorded
``expired_code``     alipay.trade.pay: the code expired, ``ACQ.PAYMENT_AUTH_CODE_INVALID``
``bad_signature``    the answer's ``sign`` is made with a key that is not the simulator's
``notify_lost``      the next notification's first delivery never leaves (retries follow)
``notify_duplicated`` the next notification is delivered twice
``notify_forged``    after the next notification, a forged one (other key, changed amount)
==================== =====================================================================
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, TypeVar, cast, get_args

import attrs

from simulator.channels.errors import ChannelError

FaultKind = Literal[
    "slow",
    "system_error",
    "user_paying",
    "balance_not_enough",
    "expired_code",
    "bad_signature",
    "notify_lost",
    "notify_duplicated",
    "notify_forged",
]
KINDS: tuple[str, ...] = get_args(FaultKind)
NOTIFY_KINDS = ("notify_lost", "notify_duplicated", "notify_forged")
PAY_ONLY = ("user_paying", "balance_not_enough", "expired_code")
MAX_ARMED = 1000
MAX_FAULT_SECONDS = 86_400.0
_F = TypeVar("_F", bound="ChannelFault")


class FaultError(ChannelError):
    """A fault description is malformed."""


@attrs.frozen
class ChannelFault:
    """A fault of one channel: a subclass names it and its API methods."""

    CHANNEL: ClassVar[str]  # how errors name the channel ("Alipay")
    PAY_METHOD: ClassVar[str]  # where the pay-only kinds apply ("alipay.trade.pay")
    METHOD_PREFIX: ClassVar[str]  # every method's ("alipay.")

    kind: FaultKind
    method: str | None = None  # the API method it waits for; None: any (pay-only kinds: pay)
    seconds: float = 0.0
    then: Literal["success", "never"] = "success"

    def matches(self, method: str) -> bool:
        wanted = self.method or (self.PAY_METHOD if self.kind in PAY_ONLY else None)
        return wanted is None or wanted == method

    @classmethod
    def from_data(cls: type[_F], data: Mapping[str, Any]) -> _F:
        """From a scenario's or a request's mapping; FaultError says what is wrong in one line."""
        unknown = sorted(set(data) - {"kind", "method", "seconds", "then"})
        if unknown:
            raise FaultError(
                f"{cls.CHANNEL} fault: unknown key(s) {unknown}; expected kind, method, seconds, "
                "then"
            )
        kind = data.get("kind")
        if kind not in KINDS:
            raise FaultError(
                f"{cls.CHANNEL} fault kind {kind!r}: expected one of {', '.join(KINDS)}"
            )
        method = data.get("method")
        if method is not None and (
            not isinstance(method, str) or not method.startswith(cls.METHOD_PREFIX)
        ):
            raise FaultError(
                f"{cls.CHANNEL} fault method {method!r}: expected a name like {cls.PAY_METHOD}"
            )
        seconds = data.get("seconds", 0.0)
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise FaultError(f"{cls.CHANNEL} fault seconds {seconds!r}: expected a number")
        if not 0 <= seconds <= MAX_FAULT_SECONDS:
            raise FaultError(
                f"{cls.CHANNEL} fault seconds {seconds}: expected 0 to {MAX_FAULT_SECONDS:g}"
            )
        then = data.get("then", "success")
        if then not in ("success", "never"):
            raise FaultError(f"{cls.CHANNEL} fault then {then!r}: expected success or never")
        return cls(
            cast(FaultKind, kind),
            method,
            float(seconds),
            cast(Literal["success", "never"], then),
        )


class Faults:
    """Armed faults, used up in order; thread-safe; at most MAX_ARMED at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: deque[ChannelFault] = deque()

    def arm(self, fault: ChannelFault) -> None:
        with self._lock:
            if len(self._armed) >= MAX_ARMED:
                raise FaultError(f"at most {MAX_ARMED} {fault.CHANNEL} faults may be armed at once")
            self._armed.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def armed(self) -> list[ChannelFault]:
        with self._lock:
            return list(self._armed)

    def take(self, method: str, kinds: tuple[str, ...]) -> ChannelFault | None:
        """The first armed fault of one of ``kinds`` matching ``method``, removed."""
        with self._lock:
            for fault in self._armed:
                if fault.kind in kinds and fault.matches(method):
                    self._armed.remove(fault)
                    return fault
            return None
