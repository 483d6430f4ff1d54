"""The cashier-app <-> acquiring-app contract of one terminal vendor, as data.

Smart-POS vendors publish (or their calling apps show) how a merchant's cashier
app starts their acquiring app and what comes back: an activity result, a
result broadcast, one JSON extra, or a signed call to a cashier service. possim
keeps each vendor's contract in ``firmware_fixtures/vendors/`` (the format:
:mod:`simulator.terminal.vendor_profile`); :class:`IntentContract` builds and
reads both directions against it, so a request the vendor's app would refuse or
misread is refused with the vendor's own code and a one-line
:class:`ContractViolation` naming the key, the rule and the source. A malformed
profile raises :class:`FixtureError` naming the file, the line and the rule.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

from simulator.terminal.contract_keys import flatten, render_result, siblings_of, sourced
from simulator.terminal.contract_values import (
    CANCEL_FAILURES,
    FAILURES,
    ContractViolation,
    KeyRule,
    md5_sorted,
)
from simulator.terminal.vendor_names import VENDORS
from simulator.terminal.vendor_profile import Operation, VendorProfile, all_keys, read_profile

__all__ = [
    "FAILURES",
    "VENDORS",
    "ContractViolation",
    "IntentContract",
    "IntentRequest",
    "IntentResult",
    "PaymentOrder",
    "PaymentOutcome",
    "TransactionDetail",
    "profile_for",
]

QR_METHODS = ("scan", "wechat", "alipay", "unionpay_qr", "qr")


@attrs.frozen
class PaymentOrder:
    """What the cashier app asks the acquiring app to do."""

    method: str  # card / scan (QR, channel from the code) / wechat / alipay / unionpay_qr / qr
    operation: str  # sale / scan_pay / void / refund / settle / query / preauth /
    # preauth_completion / preauth_void / preauth_completion_void
    amount_fen: int  # 0 on a void or a QR refund in full: the original's amount
    order_no: str
    timestamp: str  # yyyyMMddHHmmss
    print_info: str = ""
    # A void or refund: the order it undoes (a QR payment's out_trade_no); a
    # pre-auth follow-up: the pre-auth's (or the completion's) order number.
    orig_order_no: str = ""
    # A card void: the sale's voucher number (STAN), as Newland's systraceno.
    orig_stan: str = ""
    # A card refund: the sale's RRN and date (MMDD), as Sunmi's oriReferenceNo.
    orig_rrn: str = ""
    # A void: the sale's batch number and voucher number (Newland's, Lakala's batchbillno).
    orig_batch_bill: str = ""
    caller: str = "com.possim.cashier"  # the cashier app's package
    # What is sold, in the caller's words (Lakala's order_info, WangPOS's body).
    description: str = ""
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
    merchant_name: str = ""
    # debit / credit / prepaid / other; empty for QR (Newland's cardtype 00-04).
    card_type: str = ""


ORDER_FIELDS = tuple(attrs.fields_dict(PaymentOrder))
_REQUIRED_DETAIL = tuple(
    field.name for field in attrs.fields(TransactionDetail) if field.default is attrs.NOTHING
)
DETAIL_FIELDS = tuple(attrs.fields_dict(TransactionDetail))
# What a result key may carry: the detail, and the answer itself.
RESULT_FIELDS = (*DETAIL_FIELDS, "reason", "failure_code", "failure_text", "timestamp")


@attrs.frozen
class PaymentOutcome:
    approved: bool
    reason: str = ""
    detail: TransactionDetail | None = None
    # Why it was not approved: one of FAILURES (the vendor answers with its own code).
    failure: str = "declined"


@attrs.frozen
class IntentRequest:
    """What a cashier app puts in the Intent: its addressing and its typed extras."""

    extras: Mapping[str, Any]
    component: str | None = None
    action: str | None = None
    uri: str | None = None

    def to_json(self) -> dict[str, Any]:
        address = {k: v for k, v in attrs.asdict(self).items() if k != "extras" and v}
        return {**address, "extras": dict(self.extras)}

    @classmethod
    def from_json(cls, document: Any) -> IntentRequest:
        """``{component|action|uri: ..., extras: {...}}`` (what :meth:`to_json` gives);
        a ContractViolation names what is wrong with the shape."""
        if not isinstance(document, Mapping):
            raise ContractViolation("expected a JSON object with an address and extras")
        unknown = sorted(set(document) - {"component", "action", "uri", "extras"})
        if unknown:
            raise ContractViolation(
                f"unknown key {unknown[0]!r}; expected component, action, uri, extras"
            )
        extras = document.get("extras", {})
        if not isinstance(extras, Mapping):
            raise ContractViolation("extras: expected a JSON object of typed extras")
        address = {}
        for key in ("component", "action", "uri"):
            value = document.get(key)
            if value is not None and not isinstance(value, str):
                raise ContractViolation(f"{key}: expected a string")
            address[key] = value
        if not any(address.values()):
            raise ContractViolation("expected a component, an action or a uri")
        return cls(dict(extras), **address)


@attrs.frozen
class IntentResult:
    """What the acquiring app answers: an activity result code (or the call's code)
    and extras, or a result broadcast (``broadcast``: its action).

    ``slip`` is possim's own view of the payment -- on a terminal the acquiring app
    prints the bank slip itself; possim's cashier app prints it from this. It is
    not part of the vendor's result (``to_json`` leaves it out)."""

    result_code: str | None
    extras: Mapping[str, Any]
    broadcast: str | None = None
    slip: PaymentOutcome | None = attrs.field(default=None, eq=False, repr=False)

    def to_json(self) -> dict[str, Any]:
        """The vendor's result as JSON: ``{result_code, extras}`` or ``{broadcast, extras}``."""
        if self.broadcast is not None:
            return {"broadcast": self.broadcast, "extras": dict(self.extras)}
        return {"result_code": self.result_code, "extras": dict(self.extras)}


@attrs.frozen
class IntentContract:
    profile: VendorProfile

    @classmethod
    def load(cls, name_or_path: str = "newland") -> IntentContract:
        return cls(read_profile(name_or_path, ORDER_FIELDS, RESULT_FIELDS))

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def component(self) -> str:
        """How the Intent names the app (component, action or URI), for events."""
        p = self.profile
        return p.component or p.action or p.uri or ""

    @property
    def cite(self) -> str:
        return self.profile.source

    def addresses(self, request: IntentRequest) -> bool:
        """Whether ``request`` is addressed to this vendor's app."""
        p = self.profile
        return any(
            given is not None and given == mine
            for given, mine in (
                (request.component, p.component),
                (request.action, p.action),
                (request.uri, p.uri),
            )
        )

    def request(self, extras: Mapping[str, Any]) -> IntentRequest:
        p = self.profile
        return IntentRequest(extras, component=p.component, action=p.action, uri=p.uri)

    # -- cashier side -------------------------------------------------------------

    def build_request(self, order: PaymentOrder) -> IntentRequest:
        """The Intent for ``order``; an operation the vendor lacks is a ContractViolation
        with failure ``unsupported``."""
        op = self.operation_for(order.operation, order.method)
        if op is None:
            raise ContractViolation(
                f"{self.name} has no {order.method} {order.operation} ({self.cite})", "unsupported"
            )
        return self.request(self._render_request(self.profile.request, order, op))

    def operation_for(self, operation: str, method: str) -> Operation | None:
        for op in self.profile.operations:
            if op.operation != operation:
                continue
            if op.method == method or (op.method == "qr" and method in QR_METHODS):
                return op
        return None

    def _render_request(
        self, rules: tuple[KeyRule, ...], order: PaymentOrder, op: Operation
    ) -> dict[str, Any]:
        extras: dict[str, Any] = {}
        for rule in rules:
            if rule.route:
                if rule.key in op.codes and op.codes[rule.key][0] != "":
                    extras[rule.key] = rule.typed(op.codes[rule.key][0])
            elif rule.value is not None:
                extras[rule.key] = rule.typed(rule.value)
            elif rule.children is not None:
                nested = self._render_request(rule.children, order, op)
                extras[rule.key] = (
                    json.dumps(nested, ensure_ascii=False) if rule.as_json else nested
                )
            elif rule.signature is not None:
                extras[rule.key] = md5_sorted(extras, self.profile.sign_key)
            elif rule.source is not None:
                source = op.keys.get(rule.key, rule.source)
                raw = getattr(order, source)
                if rule.amount is not None:
                    if op.amount == "absent":
                        continue
                    if op.amount == "optional" and not raw:
                        extras[rule.key] = ""  # empty: the whole original amount
                        continue
                if raw == "" and not rule.required:
                    continue
                extras[rule.key] = rule.render(raw)
        return extras

    def parse_result(self, result: IntentResult) -> PaymentOutcome:
        """The outcome a cashier app reads from the vendor's result."""
        flat = flatten(self.profile.approved + self.profile.failed, result.extras, "result")
        codes = self.profile.result_codes
        if codes and result.result_code not in codes.values():
            raise ContractViolation(f"unknown result code {result.result_code!r}")
        approved = (not codes or result.result_code == codes.get("approved")) and all(
            str(flat.get(key, "")) == equals for key, equals in self.profile.approved_if
        )
        values = sourced(self.profile.approved if approved else self.profile.failed, flat)
        if not approved:
            code = str(values.get("failure_code", ""))
            failure = next(
                (k for k, f in self.profile.failures.items() if f.code == code and code), "declined"
            )
            if result.result_code == codes.get("canceled") != codes.get("failed"):
                failure = "canceled"
            return PaymentOutcome(False, str(values.get("reason", "")), failure=failure)
        known = {k: v for k, v in values.items() if k in DETAIL_FIELDS}
        # What the vendor does not give back stays empty (0 for the amount).
        defaults = {k: 0 if k == "amount_fen" else "" for k in _REQUIRED_DETAIL}
        return PaymentOutcome(True, detail=TransactionDetail(**{**defaults, **known}))

    # -- acquiring side -----------------------------------------------------------

    def parse_request(self, request: IntentRequest | Mapping[str, Any]) -> PaymentOrder:
        """The order in ``request``, or a ContractViolation naming the key and the rule."""
        extras = request.extras if isinstance(request, IntentRequest) else request
        flat = flatten(self.profile.request, extras, self.cite)
        rules = all_keys(self.profile.request)
        for rule in rules.values():
            if rule.signature is not None:
                self._check_signature(rule, extras)
        op = self._operation_in(flat)
        values: dict[str, Any] = {"method": op.method, "operation": op.operation}
        for key in op.requires:
            if flat.get(key) in (None, ""):
                raise ContractViolation(
                    f"{key}: required for {op.title} ({self.cite})", rules[key].failure
                )
        for key, rule in rules.items():
            if rule.required and key not in flat:
                raise ContractViolation(f"missing extra {key!r} ({self.cite})", rule.failure)
            if (
                rule.value is not None
                and rule.type != "boolean"  # an option: either value is the vendor's
                and key in flat
                and flat[key] != rule.typed(rule.value)
            ):
                raise ContractViolation(
                    f"{key} must be {rule.value!r}, got {flat[key]!r} ({self.cite})", rule.failure
                )
            if rule.source is None or key not in flat:
                if rule.amount is not None and op.amount == "required":
                    raise ContractViolation(
                        f"{key}: required for {op.title} ({self.cite})", "invalid_amount"
                    )
                continue
            if rule.amount is not None and flat[key] == "" and op.amount != "required":
                continue  # empty: in full (a QR refund) or none (a void)
            if rule.amount is not None and op.amount == "absent":
                continue
            values[op.keys.get(key, rule.source)] = rule.parse(flat[key], self.cite)
        values.setdefault("amount_fen", 0)
        values.setdefault("order_no", "")
        values.setdefault("timestamp", "")
        return PaymentOrder(**values)

    def _operation_in(self, flat: Mapping[str, Any]) -> Operation:
        def matches(op: Operation, key: str) -> bool:
            return str(flat.get(key, "")) in op.codes[key]

        ops = self.profile.operations
        for op in ops:
            if all(matches(op, key) for key in op.codes):
                return op
        # Diagnose: an unknown code, or codes that contradict each other.
        for key in dict.fromkeys(k for op in ops for k in op.codes):
            known = {c for op in ops if key in op.codes for c in op.codes[key]}
            if str(flat.get(key, "")) not in known:
                shown = ", ".join(sorted(known - {""}))
                raise ContractViolation(
                    f"{key}={flat.get(key, '')!r} is not one of {shown} ({self.cite})",
                    "invalid_operation",
                )
        primary = [op for op in ops if matches(op, next(iter(op.codes)))]
        op = primary[0]
        first = next(iter(op.codes))
        wrong = next(key for key in op.codes if not matches(op, key))
        allowed = " / ".join(sorted({repr(c) for o in primary for c in o.codes.get(wrong, ())}))
        raise ContractViolation(
            f"{wrong}={flat.get(wrong, '')!r} contradicts {first}={flat.get(first)!r} "
            f"({op.title}): expected {allowed} ({self.cite})",
            "invalid_operation",
        )

    def _check_signature(self, rule: KeyRule, extras: Mapping[str, Any]) -> None:
        siblings = siblings_of(self.profile.request, rule.key, extras)
        if siblings is None:
            return
        given = siblings.get(rule.key)
        fields = {k: v for k, v in siblings.items() if k != rule.key}
        if given != md5_sorted(fields, self.profile.sign_key):
            raise ContractViolation(
                f"{rule.key}: does not match the MD5 of the sorted fields and the key "
                f"({self.cite})",
                "invalid_request",
            )

    def build_result(
        self,
        outcome: PaymentOutcome,
        request: IntentRequest | Mapping[str, Any] | None = None,
        order: PaymentOrder | None = None,
    ) -> IntentResult:
        """The vendor's answer for ``outcome`` to ``request`` (echoed keys come from it)."""
        extras = request.extras if isinstance(request, IntentRequest) else (request or {})
        flat_request = flatten(self.profile.request, extras, self.cite, strict=False)
        status = _status(outcome)
        codes = self.profile.result_codes
        code = codes.get(status) or codes.get("failed" if status != "approved" else status)
        values: dict[str, Any] = {"reason": outcome.reason}
        if not outcome.approved:
            failure = self.profile.failures[outcome.failure]
            values.update(failure_code=failure.code, failure_text=failure.text)
        reply: Mapping[str, str] = {}
        if order is not None:
            op = self.operation_for(order.operation, order.method)
            reply = op.reply if op is not None else {}
        if outcome.detail is not None:
            values.update(attrs.asdict(outcome.detail))
            year = order.timestamp[:4] if order is not None else ""
            values["timestamp"] = f"{year}{outcome.detail.date}{outcome.detail.time}"
        rules = self.profile.approved if outcome.approved else self.profile.failed
        rendered = render_result(rules, values, flat_request, reply)
        broadcast = self.profile.result_action if self.profile.transport == "broadcast" else None
        return IntentResult(
            None if broadcast else code, rendered, broadcast=broadcast, slip=outcome
        )

    def refusal(
        self, violation: ContractViolation, request: IntentRequest | Mapping[str, Any]
    ) -> IntentResult:
        """The vendor's own refusal of a request it would refuse or misread."""
        failure = self.profile.failures[violation.failure]
        outcome = PaymentOutcome(False, f"{failure.text}: {violation}", failure=violation.failure)
        return self.build_result(outcome, request)


def _status(outcome: PaymentOutcome) -> str:
    if outcome.approved:
        return "approved"
    if outcome.failure in CANCEL_FAILURES:
        return "canceled"
    if outcome.failure.startswith("invalid_") or outcome.failure == "unsupported":
        return "refused"
    return "failed"


def profile_for(request: IntentRequest, names: tuple[str, ...] = VENDORS) -> IntentContract | None:
    """The shipped vendor whose app ``request`` addresses (component, action or URI)."""
    for name in names:
        contract = IntentContract.load(name)
        if contract.addresses(request):
            return contract
    return None
