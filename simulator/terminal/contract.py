"""The cashier-app <-> acquiring-app contract, read from a vendor profile.

Smart-POS vendors publish how a merchant's cashier app starts their acquiring
app (Intent extras) and what comes back. possim keeps each vendor's contract as
data in ``firmware_fixtures/vendors/``; this module builds and parses both
directions against it, so a malformed request is refused with a reason rather
than half-processed. A malformed profile raises :class:`FixtureError` naming
the file, the line and the rule.
"""

from __future__ import annotations

import json
import string
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.fixtures import line_of
from simulator.errors import FixtureError, TerminalError


class ContractViolation(TerminalError):
    """An Intent or its result does not follow the vendor contract."""


@attrs.frozen
class PaymentOrder:
    """What the cashier app asks the acquiring app to do."""

    method: str  # card / scan (QR, channel from the code) / wechat / alipay / unionpay_qr
    # sale / scan_pay / void / refund / ... / preauth / preauth_completion /
    # preauth_void / preauth_completion_void
    operation: str
    amount_fen: int
    order_no: str
    timestamp: str  # yyyyMMddHHmmss
    print_info: str = ""
    # A void or refund: the order it undoes (a QR payment's out_trade_no); a
    # pre-auth follow-up: the pre-auth's (or the completion's) order number.
    orig_order_no: str = ""
    # A completion may quote the pre-auth's auth code and date (MMDD), as the
    # vendors' contracts ask the cashier to; if given they must match.
    orig_auth_code: str = ""
    orig_date: str = ""


@attrs.frozen
class TransactionDetail:
    """What an approved payment reports back. The PAN is masked by construction."""

    merchant_id: str
    terminal_id: str
    batch_no: str
    stan: str
    order_no: str
    rrn: str
    auth_code: str
    amount_fen: int
    masked_pan: str
    date: str  # MMDD
    time: str  # hhmmss
    card_label: str
    response_code: str
    # How the cardholder was verified: pin, online_pin, signature or none
    # (the receipt asks for a signature only for "signature").
    cvm: str = "none"
    # QR payments: the channel that moved the money (wechat / alipay /
    # unionpay_qr) and its transaction id; empty for cards.
    channel: str = ""
    transaction_id: str = ""
    # Card voids and refunds: the sale undone (its voucher number, RRN, MM/DD).
    orig_stan: str = ""
    orig_rrn: str = ""
    orig_date: str = ""


_ORDER_FIELDS = frozenset(attrs.fields_dict(PaymentOrder))
_DETAIL_FIELDS = frozenset(attrs.fields_dict(TransactionDetail))


@attrs.frozen
class PaymentOutcome:
    approved: bool
    reason: str = ""
    detail: TransactionDetail | None = None


@attrs.frozen
class IntentResult:
    result_code: str
    extras: dict[str, Any]


@attrs.frozen
class _Rule:
    key: str
    value: str | None = None
    source: str | None = None
    mapping: Mapping[str, str] | None = None
    format: str | None = None

    def render(self, obj: object) -> str:
        if self.value is not None:
            return self.value
        assert self.source is not None
        raw = getattr(obj, self.source)
        if self.mapping is not None:
            if raw not in self.mapping:
                raise ContractViolation(f"{self.key}: {raw!r} has no code in the contract")
            return self.mapping[raw]
        return self.format.format(raw) if self.format else str(raw)

    def parse(self, extras: Mapping[str, Any]) -> tuple[str | None, Any]:
        """-> (attribute name or None for a constant, parsed value)."""
        if self.key not in extras:
            raise ContractViolation(f"missing extra {self.key!r}")
        text = str(extras[self.key])
        if self.value is not None:
            if text != self.value:
                raise ContractViolation(f"{self.key} must be {self.value!r}, got {text!r}")
            return None, text
        if self.mapping is not None:
            reverse = {code: name for name, code in self.mapping.items()}
            if text not in reverse:
                codes = ", ".join(sorted(reverse))
                raise ContractViolation(f"{self.key}={text!r} is not one of {codes}")
            return self.source, reverse[text]
        if self.format and self.format.endswith("d}"):
            if not text.isdigit():
                raise ContractViolation(f"{self.key}={text!r} must be digits")
            return self.source, int(text)
        return self.source, text


_RULE_FIELDS = ("value", "from", "map", "format")


def _rules(
    path: Path, section: Mapping[str, Any], where: str, attributes: Collection[str]
) -> tuple[_Rule, ...]:
    """The rules of one contract section; ``from`` must name one of ``attributes``."""
    rules = []
    for key, spec in section.items():
        here = f"{where}.{key}"
        if not isinstance(spec, Mapping) or ("value" in spec) == ("from" in spec):
            raise FixtureError(
                path, f"{here}: expected {{value: ...}} or {{from: ...}}", line_of(section, key)
            )
        unknown = sorted(str(field) for field in spec if field not in _RULE_FIELDS)
        if unknown:
            raise FixtureError(
                path,
                f"{here}: unknown field {unknown[0]!r}; expected {', '.join(_RULE_FIELDS)}",
                line_of(spec, unknown[0]),
            )
        value = spec.get("value")
        if "value" in spec and (value is None or isinstance(value, (Mapping, list))):
            raise FixtureError(path, f"{here}.value: expected a constant", line_of(spec, "value"))
        source = spec.get("from")
        if "from" in spec and (not isinstance(source, str) or source not in attributes):
            known = ", ".join(sorted(attributes))
            raise FixtureError(
                path, f"{here}.from: {source!r} is not one of {known}", line_of(spec, "from")
            )
        fmt = spec.get("format")
        if fmt is not None:
            try:
                if not isinstance(fmt, str):
                    raise ValueError(f"expected a format string like '{{:012d}}', got {fmt!r}")
                list(string.Formatter().parse(fmt))
            except ValueError as exc:
                raise FixtureError(path, f"{here}.format: {exc}", line_of(spec, "format")) from None
        codes = spec.get("map")
        if "map" in spec and not isinstance(codes, Mapping):
            raise FixtureError(
                path, f"{here}.map: expected a mapping of name: code", line_of(spec, "map")
            )
        rules.append(
            _Rule(
                key=str(key),
                value=None if value is None else str(value),
                source=source,
                mapping=None if codes is None else {str(k): str(v) for k, v in codes.items()},
                format=fmt,
            )
        )
    return tuple(rules)


def _section(path: Path, parent: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    """``parent[key]`` as a mapping, or a FixtureError at the line to fix."""
    if key not in parent:
        raise FixtureError(path, f"{where}: missing; expected a mapping", line_of(parent))
    value = parent[key]
    if not isinstance(value, Mapping):
        raise FixtureError(
            path, f"{where}: expected a mapping, got {value!r}", line_of(parent, key)
        )
    return value


def _text(path: Path, parent: Mapping[str, Any], key: str, where: str) -> str:
    """``parent[key]`` as text, or a FixtureError at the line to fix."""
    if key not in parent:
        raise FixtureError(path, f"{where}: missing; expected a value", line_of(parent))
    value = parent[key]
    if value is None or isinstance(value, (Mapping, list)):
        raise FixtureError(path, f"{where}: expected a value, got {value!r}", line_of(parent, key))
    return str(value)


@attrs.frozen
class IntentContract:
    name: str
    component: str
    request_rules: tuple[_Rule, ...]
    detail_rules: tuple[_Rule, ...]
    ok_code: str
    canceled_code: str
    reason_key: str
    detail_key: str

    @classmethod
    def load(cls, name_or_path: str = "newland") -> IntentContract:
        path = fixtures.locate(
            "vendors", name_or_path, (".yaml", ".yml"), "vendor profile", FixtureError
        )
        doc = fixtures.load(path, error=FixtureError)
        if not isinstance(doc, Mapping):
            raise FixtureError(
                path, "expected a mapping with name, component, request and result", line_of(doc)
            )
        result = _section(path, doc, "result", "result")
        if "announcements" in doc:
            # The contract is app-to-app fields only; what the cashier app says
            # is its own data (simulator/terminal/announcements.py).
            raise FixtureError(
                path,
                "announcements: moved out of vendor profiles to "
                "firmware_fixtures/announcements/ (see `possim docs speaker`); delete this section",
                line_of(doc, "announcements"),
            )
        return cls(
            name=_text(path, doc, "name", "name"),
            component=_text(path, doc, "component", "component"),
            request_rules=_rules(
                path, _section(path, doc, "request", "request"), "request", _ORDER_FIELDS
            ),
            detail_rules=_rules(
                path,
                _section(path, result, "detail", "result.detail"),
                "result.detail",
                _DETAIL_FIELDS,
            ),
            ok_code=_text(path, result, "ok", "result.ok"),
            canceled_code=_text(path, result, "canceled", "result.canceled"),
            reason_key=_text(path, result, "reason_key", "result.reason_key"),
            detail_key=_text(path, result, "detail_key", "result.detail_key"),
        )

    # -- cashier side ---------------------------------------------------------

    def build_request(self, order: PaymentOrder) -> dict[str, str]:
        return {rule.key: rule.render(order) for rule in self.request_rules}

    def parse_result(self, result: IntentResult) -> PaymentOutcome:
        if result.result_code == self.canceled_code:
            return PaymentOutcome(
                approved=False, reason=str(result.extras.get(self.reason_key, ""))
            )
        if result.result_code != self.ok_code:
            raise ContractViolation(f"unknown result code {result.result_code!r}")
        raw = result.extras.get(self.detail_key)
        detail_extras = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(detail_extras, Mapping):
            raise ContractViolation(f"{self.detail_key} must be a JSON object")
        values = dict(self._parse(self.detail_rules, detail_extras))
        try:
            detail = TransactionDetail(**values)
        except TypeError as exc:
            raise ContractViolation(f"{self.detail_key}: {exc}") from None
        return PaymentOutcome(approved=True, detail=detail)

    # -- acquiring side -------------------------------------------------------

    def parse_request(self, extras: Mapping[str, Any]) -> PaymentOrder:
        values = dict(self._parse(self.request_rules, extras))
        try:
            return PaymentOrder(**values)
        except TypeError as exc:
            raise ContractViolation(f"request: {exc}") from None

    def build_result(self, outcome: PaymentOutcome) -> IntentResult:
        if not outcome.approved or outcome.detail is None:
            return IntentResult(self.canceled_code, {self.reason_key: outcome.reason})
        detail = {rule.key: rule.render(outcome.detail) for rule in self.detail_rules}
        return IntentResult(self.ok_code, {self.detail_key: json.dumps(detail, ensure_ascii=False)})

    @staticmethod
    def _parse(rules: tuple[_Rule, ...], extras: Mapping[str, Any]) -> list[tuple[str, Any]]:
        parsed = []
        for rule in rules:
            attribute, value = rule.parse(extras)
            if attribute is not None:
                parsed.append((attribute, value))
        return parsed
