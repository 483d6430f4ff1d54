"""The cashier-app <-> acquiring-app contract, read from a vendor profile.

Smart-POS vendors publish how a merchant's cashier app starts their acquiring
app (Intent extras) and what comes back. possim keeps each vendor's contract as
data in ``firmware_fixtures/vendors/``; this module builds and parses both
directions against it, so a malformed request is refused with a reason rather
than half-processed.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import yaml

import firmware_fixtures
from simulator.errors import FixtureError, TerminalError


class ContractViolation(TerminalError):
    """An Intent or its result does not follow the vendor contract."""


@attrs.frozen
class PaymentOrder:
    """What the cashier app asks the acquiring app to do."""

    method: str  # card / wechat / alipay / unionpay_qr
    operation: str  # sale / void / refund / ...
    amount_fen: int
    order_no: str
    timestamp: str  # yyyyMMddHHmmss
    print_info: str = ""


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


def _rules(path: Path, section: Mapping[str, Any], where: str) -> tuple[_Rule, ...]:
    rules = []
    for key, spec in section.items():
        if not isinstance(spec, Mapping) or ("value" in spec) == ("from" in spec):
            raise FixtureError(path, f"{where}.{key}: expected {{value: ...}} or {{from: ...}}")
        fmt = spec.get("format")
        if fmt is not None:
            try:
                list(string.Formatter().parse(fmt))
            except ValueError as exc:
                raise FixtureError(path, f"{where}.{key}.format: {exc}") from None
        rules.append(
            _Rule(
                key=str(key),
                value=None if spec.get("value") is None else str(spec["value"]),
                source=spec.get("from"),
                mapping={str(k): str(v) for k, v in spec["map"].items()} if "map" in spec else None,
                format=fmt,
            )
        )
    return tuple(rules)


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
    announcements: Mapping[str, str]

    @classmethod
    def load(cls, name_or_path: str = "newland") -> IntentContract:
        path = firmware_fixtures.find("vendors", name_or_path, (".yaml", ".yml"))
        if path is None:
            known = ", ".join(firmware_fixtures.names("vendors", (".yaml", ".yml")))
            raise FixtureError(name_or_path, f"no vendor profile of that name (known: {known})")
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            line = exc.problem_mark.line + 1 if getattr(exc, "problem_mark", None) else None
            raise FixtureError(path, f"not valid YAML: {exc}", line) from None
        try:
            result = doc["result"]
            return cls(
                name=str(doc["name"]),
                component=str(doc["component"]),
                request_rules=_rules(path, doc["request"], "request"),
                detail_rules=_rules(path, result["detail"], "result.detail"),
                ok_code=str(result["ok"]),
                canceled_code=str(result["canceled"]),
                reason_key=str(result["reason_key"]),
                detail_key=str(result["detail_key"]),
                announcements={str(k): str(v) for k, v in doc.get("announcements", {}).items()},
            )
        except (KeyError, TypeError) as exc:
            raise FixtureError(path, f"missing or malformed section {exc}") from None

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

    def announcement(self, method: str) -> str:
        return self.announcements.get(method, "收款成功，{amount_zh}")

    @staticmethod
    def _parse(rules: tuple[_Rule, ...], extras: Mapping[str, Any]) -> list[tuple[str, Any]]:
        parsed = []
        for rule in rules:
            attribute, value = rule.parse(extras)
            if attribute is not None:
                parsed.append((attribute, value))
        return parsed
