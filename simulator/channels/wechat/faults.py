"""Faults as data: what the next WeChat Pay answers or notifies do wrong.

A fault is a mapping (YAML or JSON), e.g. ``{kind: system_error, api: micropay, times: 2}``;
:func:`parse` checks it and says in one line what is wrong. Armed faults are
used up in order: each matching answer or notify takes one of a fault's ``times``.

Kinds:

``slow``            the answer comes ``seconds`` late (on the simulator's clock)
``system_error``    the answer is SYSTEMERROR and nothing is done (the merchant queries)
``userpaying``      the payment waits ``seconds`` for the password, then succeeds
``expired_code``    the payment is refused AUTHCODEEXPIRE
``not_enough``      the payment is refused NOTENOUGH
``bad_signature``   the answer carries a wrong signature
``notify_lost``     the notify is never sent
``notify_duplicated`` the notify is sent twice
``notify_forged``   a notify with a wrong signature (and a changed amount) comes first

``api`` names the calls a fault applies to (``micropay``, ``orderquery``, ``reverse``,
``unifiedorder``, ``closeorder``, ``refund``, ``refundquery``, ``downloadbill``; v3:
``codepay``, ``native``, ``query``, ``close``, ``refunds``, ``tradebill``, ``certificates``);
none: every call.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import attrs

from simulator.errors import SimulatorError

KINDS = (
    "slow",
    "system_error",
    "userpaying",
    "expired_code",
    "not_enough",
    "bad_signature",
    "notify_lost",
    "notify_duplicated",
    "notify_forged",
)
NOTIFY_KINDS = ("notify_lost", "notify_duplicated", "notify_forged")
APIS = (
    "micropay",
    "orderquery",
    "reverse",
    "unifiedorder",
    "closeorder",
    "refund",
    "refundquery",
    "downloadbill",
    "codepay",
    "native",
    "query",
    "close",
    "refunds",
    "tradebill",
    "certificates",
)
MAX_ARMED = 100
MAX_TIMES = 100
MAX_SECONDS = 86_400.0


class FaultSpecError(SimulatorError):
    """A fault description that cannot be used."""


@attrs.frozen
class Fault:
    kind: str
    api: str | None = None
    times: int = 1
    seconds: float = 0.0


def parse(spec: Any) -> Fault:
    """A fault from its mapping; FaultSpecError (one line) if it is not one."""
    if not isinstance(spec, Mapping):
        raise FaultSpecError(f"a WeChat fault is a mapping with 'kind', got {spec!r:.60}")
    unknown = sorted(set(spec) - {"kind", "api", "times", "seconds"})
    if unknown:
        raise FaultSpecError(
            f"WeChat fault: unknown field {unknown[0]!r} (kind, api, times, seconds)"
        )
    kind = spec.get("kind")
    if kind not in KINDS:
        raise FaultSpecError(
            f"WeChat fault: kind must be one of {', '.join(KINDS)}; got {kind!r:.40}"
        )
    api = spec.get("api")
    if api is not None and api not in APIS:
        raise FaultSpecError(f"WeChat fault: api must be one of {', '.join(APIS)}; got {api!r:.40}")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise FaultSpecError(
            f"WeChat fault: times must be a whole number 1-{MAX_TIMES}, got {times!r:.40}"
        )
    seconds = spec.get("seconds", 0.0)
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, (int, float))
        or not 0 <= seconds <= MAX_SECONDS
    ):
        raise FaultSpecError(
            f"WeChat fault: seconds must be 0-{MAX_SECONDS:g}, got {seconds!r:.40}"
        )
    if kind in ("slow", "userpaying") and not seconds:
        raise FaultSpecError(f"WeChat fault: {kind} needs seconds > 0")
    return Fault(kind, api, times, float(seconds))


class Faults:
    """The armed faults, used up in the order they were armed; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._armed: list[list[Any]] = []  # [fault, times left]

    def arm(self, fault: Fault | Mapping[str, Any]) -> Fault:
        chosen = fault if isinstance(fault, Fault) else parse(fault)
        with self._lock:
            if len(self._armed) >= MAX_ARMED:
                raise FaultSpecError(f"WeChat faults: at most {MAX_ARMED} armed at once")
            self._armed.append([chosen, chosen.times])
        return chosen

    def clear(self) -> None:
        with self._lock:
            self._armed.clear()

    def armed(self) -> list[Fault]:
        with self._lock:
            return [attrs.evolve(fault, times=left) for fault, left in self._armed]

    def take(self, kind: str, api: str | None) -> Fault | None:
        """Use one time of the first armed fault of ``kind`` that applies to ``api``."""
        with self._lock:
            for entry in self._armed:
                fault, left = entry
                if fault.kind == kind and (fault.api is None or fault.api == api):
                    if left <= 1:
                        self._armed.remove(entry)
                    else:
                        entry[1] = left - 1
                    taken: Fault = fault
                    return taken
        return None
