"""One key of a vendor contract: how its value is made from possim's payment and read back.

A vendor profile (``firmware_fixtures/vendors/*.yaml``, declared in
:mod:`simulator.terminal.vendor_profile`) describes every key of a request or a
result as a :class:`KeyRule`: a constant, an attribute of the payment (through a
code map, a format or an amount encoding), a routing code taken from the
operation, a nested JSON object, or a signature over its siblings. The typed
value it renders is what the vendor's app puts in (or reads from) the Intent:
``String`` extras are :class:`str`, ``int``/``long`` extras :class:`int`,
``boolean`` extras :class:`bool` -- a request with the wrong Java type is misread
by the vendor's app (``getLongExtra`` on a String gives the default), so possim
refuses it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from simulator.errors import TerminalError

# possim's reasons a request is refused or a payment fails; each vendor answers
# each with its own code (the profile's `failures` table).
FAILURES = (
    "canceled",  # the cardholder or the cashier cancelled
    "timeout",  # no card / code / answer in time
    "declined",  # the host or channel said no
    "invalid_amount",  # the amount is missing, malformed or in the wrong unit
    "invalid_operation",  # the routing codes name no operation, or contradict each other
    "invalid_original",  # a void / refund without (or with a wrong) original transaction
    "invalid_request",  # any other key the vendor's app would refuse or misread
    "unsupported",  # the vendor's contract has no such operation
)
CANCEL_FAILURES = ("canceled",)

TYPES = ("string", "int", "long", "boolean")
JAVA_TYPES = {"string": "String", "int": "int", "long": "long", "boolean": "boolean"}
AMOUNTS = ("yuan", "fen")
SIGNATURES = ("md5_sorted",)
# Yuan as Newland and Lakala take it: "100.01" or "100" (pos-invoke/index.md, 交易金额
# 示例：100.01; its own samples send "100"); leading zeros are refused: a zero-padded
# fen amount ("000000010001") is the classic misreading.
_YUAN = re.compile(r"^(0|[1-9][0-9]{0,9})(\.[0-9]{1,2})?$")
_FEN = re.compile(r"^(0|[1-9][0-9]{0,11})$")


class ContractViolation(TerminalError):
    """An Intent or its result does not follow the vendor contract.

    ``failure`` is possim's reason (one of :data:`FAILURES`), which the vendor
    answers with its own refusal code.
    """

    def __init__(self, message: str, failure: str = "invalid_request") -> None:
        super().__init__(message)
        self.failure = failure


@attrs.frozen
class KeyRule:
    """One key: exactly one of value / source / route / children / signature says
    where its value comes from."""

    key: str
    type: str = "string"
    value: str | None = None  # a constant
    source: str | None = None  # an attribute of the payment (or the result)
    route: bool = False  # the operation's code for this key (the profile's operations)
    echo: str | None = None  # a result key repeating a request key
    mapping: Mapping[str, str] | None = None  # attribute value -> the vendor's code
    format: str | None = None  # a Python format spec ({:06d})
    amount: str | None = None  # yuan / fen
    children: tuple[KeyRule, ...] | None = None  # a nested object ...
    as_json: bool = False  # ... sent as one JSON string
    signature: str | None = None  # md5_sorted over the sibling keys
    required: bool = False
    max_chars: int | None = None
    help: str = ""

    @property
    def failure(self) -> str:
        if self.amount is not None:
            return "invalid_amount"
        if self.source is not None and self.source.startswith("orig_"):
            return "invalid_original"
        return "invalid_request"

    # -- rendering ------------------------------------------------------------------

    def typed(self, text: str) -> Any:
        """``text`` (as written in the profile) as this key's Java type."""
        if self.type in ("int", "long"):
            return int(text)
        if self.type == "boolean":
            return text.lower() == "true"
        return text

    def render(self, raw: Any) -> Any:
        """The extra for the attribute value ``raw``."""
        if self.mapping is not None:
            text = str(raw)
            if text not in self.mapping:
                raise ContractViolation(
                    f"{self.key}: {text!r} has no code in the contract", self.failure
                )
            return self.typed(self.mapping[text])
        if self.amount is not None:
            fen = int(raw)
            text = f"{fen // 100}.{fen % 100:02d}" if self.amount == "yuan" else str(fen)
            return fen if self.type in ("int", "long") else text
        if self.format is not None:
            return self.typed(self.format.format(raw))
        if self.type == "boolean":
            return bool(raw)
        if self.type in ("int", "long"):
            return int(raw)
        return str(raw)

    # -- reading --------------------------------------------------------------------

    def check_type(self, value: Any, source: str) -> None:
        """``value`` must be of this key's Java type, as the vendor's app reads it."""
        expected = JAVA_TYPES[self.type]
        ok = {
            "string": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "long": isinstance(value, int) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
        }[self.type]
        if not ok:
            got = type(value).__name__
            raise ContractViolation(
                f"{self.key}={value!r}: expected a {expected} extra, got {got} ({source})",
                self.failure,
            )
        if self.max_chars is not None and isinstance(value, str) and len(value) > self.max_chars:
            raise ContractViolation(
                f"{self.key}: {len(value)} characters, at most {self.max_chars} ({source})",
                self.failure,
            )

    def parse(self, value: Any, source: str) -> Any:
        """The attribute value for the extra ``value`` (already type-checked)."""
        if self.mapping is not None:
            reverse = {code: name for name, code in self.mapping.items()}
            text = str(value)
            if text not in reverse:
                codes = ", ".join(sorted(reverse))
                raise ContractViolation(
                    f"{self.key}={text!r} is not one of {codes} ({source})", self.failure
                )
            return reverse[text]
        if self.amount is not None:
            return parse_amount(self, value, source)
        if self.format is not None and self.format.endswith("d}"):
            text = str(value)
            if not text.isdigit():
                raise ContractViolation(f"{self.key}={text!r} must be digits ({source})")
            return int(text)
        return value


def parse_amount(rule: KeyRule, value: Any, source: str) -> int:
    """Fen from a yuan or fen extra; the wrong unit is refused, not guessed."""
    if rule.type in ("int", "long"):
        if value < 0:
            raise ContractViolation(
                f"{rule.key}={value}: expected fen >= 0 ({source})", "invalid_amount"
            )
        return int(value)
    text = str(value)
    if rule.amount == "yuan":
        if not _YUAN.match(text):
            raise ContractViolation(
                f"{rule.key}={text!r}: expected yuan like '100.01' or '100', without leading "
                f"zeros ({source})",
                "invalid_amount",
            )
        try:
            return int(Decimal(text) * 100)
        except InvalidOperation:  # pragma: no cover - the pattern allows only decimals
            raise ContractViolation(
                f"{rule.key}={text!r}: not an amount", "invalid_amount"
            ) from None
    if not _FEN.match(text):
        raise ContractViolation(
            f"{rule.key}={text!r}: expected fen as digits like '10001' (RMB 100.01), without a "
            f"decimal point or leading zeros ({source})",
            "invalid_amount",
        )
    return int(text)


def md5_sorted(fields: Mapping[str, Any], key: str) -> str:
    """WangPOS's cashier signature: MD5 (lower-case hex) of the fields sorted by name,
    ``k=v&...&key=KEY`` (Vitaminzm/WangPos ``utils/CashierSign.java``, getSign)."""
    text = "".join(f"{name}={fields[name]}&" for name in sorted(fields)) + f"key={key}"
    return hashlib.md5(text.encode("utf-8")).hexdigest()
