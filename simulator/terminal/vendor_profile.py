"""The vendor profile format (``firmware_fixtures/vendors/*.yaml``), declared once.

Every field of a profile is a :class:`~simulator.fixture_fields.FieldSpec` below:
the reader, its ``file:line: field: problem`` errors and the reference table in
each vendor's docs page (``possim docs vendors``) all come from these
declarations. :class:`VendorProfile` is what a profile reads into;
:mod:`simulator.terminal.contract` builds and reads Intents with it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs

from drivers.fixtures import LineDict, LineList, TextLineLoader, yaml_lines
from simulator.errors import FixtureError
from simulator.fixture_fields import (
    Boolean,
    FieldReader,
    Fields,
    FieldSpec,
    Integer,
    Kind,
    ListOf,
    Node,
    OneOf,
    Section,
    Text,
    child,
    find_fixture,
)
from simulator.terminal.contract_values import AMOUNTS, FAILURES, SIGNATURES, TYPES, KeyRule

TRANSPORTS = ("activity_result", "broadcast", "json_extra", "signed_service")
# PaymentOrder.operation: what the cashier app asks for (h-preauth adds the family's
# four to the terminal; a profile maps them where the vendor's contract has them).
OPERATIONS = (
    "sale",
    "scan_pay",
    "void",
    "refund",
    "query",
    "settle",
    "reprint",
    "preauth",
    "preauth_completion",
    "preauth_void",
    "preauth_completion_void",
)
# PaymentOrder.method; "qr" undoes a QR payment whatever its channel.
METHODS = ("card", "scan", "wechat", "alipay", "unionpay_qr", "qr")
STATUSES = ("approved", "canceled", "failed", "refused")
AMOUNT_USES = ("required", "optional", "absent")
DEFAULT_SIGN_KEY = "possim-test-cashier-key"


@attrs.frozen
class MappingOf(Kind[dict[str, Any]]):
    """A mapping of free keys (extras, codes) to values read by ``item``."""

    noun: str
    item: Kind[Any]

    @property
    def expected(self) -> str:
        return f"a mapping of {self.noun}"

    def read(self, node: Node, where: str, reader: FieldReader) -> dict[str, Any]:
        if not isinstance(node.value, LineDict):
            reader.fail(node, where, f"expected {self.expected}")
        mapping: LineDict = node.value
        return {
            str(key): self.item.read(child(mapping, key), f"{where}.{key}", reader)
            for key in mapping
        }


@attrs.frozen
class Codes(Kind[tuple[str, ...]]):
    """A code, or a list of the codes accepted (the first is the one sent)."""

    expected: str = "a code or a list of codes"

    def read(self, node: Node, where: str, reader: FieldReader) -> tuple[str, ...]:
        if isinstance(node.value, LineList):
            return tuple(reader.scalar(Node(v, node.line), where, "a code") for v in node.value)
        return (reader.scalar(node, where, self.expected),)


@attrs.frozen
class Later(Kind[Any]):
    """A kind declared further down (a key rule's nested keys are key rules)."""

    expected: str
    target: Any  # a zero-argument callable giving the kind

    def read(self, node: Node, where: str, reader: FieldReader) -> Any:
        kind: Kind[Any] = self.target()
        return kind.read(node, where, reader)


def _format_ok(value: str, _: Mapping[str, Any]) -> str | None:
    try:
        list(string.Formatter().parse(value))
        value.format(0)
    except (ValueError, IndexError, KeyError) as exc:
        return f"not a format like '{{:06d}}': {exc}"
    return None


def key_fields(attributes: tuple[str, ...], nested: Any) -> tuple[FieldSpec, ...]:
    """The fields of one key of a request or a result (``from`` one of ``attributes``)."""
    keys = MappingOf("key: {rule} lines", Later("a mapping of keys", nested))
    return (
        FieldSpec("type", OneOf("one of " + ", ".join(TYPES), TYPES), "its Java type", "string"),
        FieldSpec("value", Text("a constant"), "a constant the key always holds", None),
        FieldSpec(
            "from",
            OneOf("one of " + ", ".join(attributes), attributes),
            "the payment's attribute it carries",
            None,
        ),
        FieldSpec(
            "route", Boolean(), "its value is the operation's code (`operations[].codes`)", False
        ),
        FieldSpec("echo", Text("a request key"), "a result key repeating a request key", None),
        FieldSpec("map", MappingOf("name: code lines", Text()), "the attribute's codes", None),
        FieldSpec(
            "format", Text("a format"), "a Python format, `{:06d}`", None, rules=(_format_ok,)
        ),
        FieldSpec(
            "amount", OneOf("yuan or fen", AMOUNTS), "an amount, in yuan (`100.01`) or fen", None
        ),
        FieldSpec("object", keys, "a nested object of keys", None),
        FieldSpec("json", keys, "a nested object of keys, sent as one JSON string", None),
        FieldSpec(
            "sign",
            OneOf("md5_sorted", SIGNATURES),
            "a signature over its sibling keys (`md5_sorted`: WangPOS's)",
            None,
        ),
        FieldSpec("required", Boolean(), "a request without it is refused", False),
        FieldSpec(
            "max_chars", Integer("a length", range(1, 10_000)), "longest value accepted", None
        ),
        FieldSpec("help", Text(), "what the vendor's document says it is", ""),
    )


_SOURCES = ("value", "from", "route", "echo", "object", "json", "sign")


def key_rule(fields: Fields, key: str) -> KeyRule:
    given = [name for name in _SOURCES if fields[name] not in (None, False)]
    if len(given) != 1:
        fields.fail(
            None,
            "expected exactly one of value, from, route, echo, object, json, sign; got "
            + (", ".join(given) or "none"),
        )
    nested = fields["object"] if fields["object"] is not None else fields["json"]
    return KeyRule(
        key=key,
        type=fields["type"],
        value=fields["value"],
        source=fields["from"],
        route=fields["route"],
        echo=fields["echo"],
        mapping=fields["map"],
        format=fields["format"],
        amount=fields["amount"],
        children=None if nested is None else tuple(nested.values()),
        as_json=fields["json"] is not None,
        signature=fields["sign"],
        required=fields["required"],
        max_chars=fields["max_chars"],
        help=fields["help"],
    )


@attrs.frozen
class KeyRuleKind(Kind[KeyRule]):
    """A key's rule, read from its section and checked as a whole."""

    section: Section
    expected: str = "{value: ...}, {from: ...}, {route: true} ... (a mapping)"

    def read(self, node: Node, where: str, reader: FieldReader) -> KeyRule:
        if not isinstance(node.value, LineDict):
            reader.fail(node, where, f"expected {self.expected}")
        fields = self.section.read(node, where, reader)
        return key_rule(fields, where.rsplit(".", 1)[-1])


def rule_kind(attributes: tuple[str, ...]) -> KeyRuleKind:
    holder: list[KeyRuleKind] = []
    kind = KeyRuleKind(Section(key_fields(attributes, lambda: holder[0])))
    holder.append(kind)
    return kind


@attrs.frozen
class Operation:
    """One operation of the vendor's contract and the codes that select it."""

    operation: str
    method: str
    title: str
    codes: Mapping[str, tuple[str, ...]]
    amount: str
    requires: tuple[str, ...]
    keys: Mapping[str, str]
    reply: Mapping[str, str]


OPERATION_FIELDS = (
    FieldSpec("operation", OneOf("one of " + ", ".join(OPERATIONS), OPERATIONS), "possim's name"),
    FieldSpec(
        "method", OneOf("one of " + ", ".join(METHODS), METHODS), "card, scan, a channel, qr"
    ),
    FieldSpec("title", Text(), "the vendor's name for it"),
    FieldSpec(
        "codes",
        MappingOf("key: code lines", Codes()),
        "the routing keys' codes (a list: every code accepted, the first sent)",
    ),
    FieldSpec(
        "amount",
        OneOf("required, optional (empty: in full) or absent", AMOUNT_USES),
        "whether the request carries an amount",
        "required",
    ),
    FieldSpec("requires", ListOf("keys", Text()), "keys a request must carry", ()),
    FieldSpec(
        "keys", MappingOf("key: attribute lines", Text()), "keys carrying another attribute", {}
    ),
    FieldSpec("reply", MappingOf("key: value lines", Text()), "result keys it sets", {}),
)


@attrs.frozen
class Failure:
    code: str
    text: str


@attrs.frozen
class VendorProfile:
    name: str
    title: str
    source: str
    transport: str
    component: str | None
    action: str | None
    uri: str | None
    result_action: str | None
    request: tuple[KeyRule, ...]
    operations: tuple[Operation, ...]
    result_codes: Mapping[str, str]
    approved_if: tuple[tuple[str, str], ...]
    approved: tuple[KeyRule, ...]
    failed: tuple[KeyRule, ...]
    failures: Mapping[str, Failure]
    tables: Mapping[str, Mapping[str, str]]
    sign_key: str
    notes: str
    path: Path


ADDRESS_FIELDS = (
    FieldSpec("component", Text(), "explicit component package/class", None),
    FieldSpec("action", Text(), "implicit Intent action", None),
    FieldSpec("uri", Text(), "URI the Intent opens", None),
    FieldSpec("result_action", Text(), "the result broadcast's action", None),
)
CONDITION_FIELDS = (
    FieldSpec("key", Text(), "a result key (a.b: inside a nested object)"),
    FieldSpec("equals", Text(), "the value meaning approved"),
)
FAILURE_FIELDS = (
    FieldSpec("code", Text(), "the vendor's code"),
    FieldSpec("text", Text(), "the vendor's words"),
)


def result_fields(rule: KeyRuleKind) -> tuple[FieldSpec, ...]:
    return (
        FieldSpec(
            "codes",
            MappingOf("status: code lines", Text()),
            "the Android result code (or the call's code) by status: " + ", ".join(STATUSES),
            {},
        ),
        FieldSpec(
            "approved_if",
            ListOf("conditions", Section(CONDITION_FIELDS)),
            "result keys that say approved (when no result code does)",
            (),
        ),
        FieldSpec("approved", MappingOf("key: {rule} lines", rule), "the keys of an approval"),
        FieldSpec("failed", MappingOf("key: {rule} lines", rule), "the keys of a refusal"),
    )


def profile_fields(order: tuple[str, ...], result: tuple[str, ...]) -> tuple[FieldSpec, ...]:
    request_rule = rule_kind(order)
    result_rule = rule_kind(result)
    return (
        FieldSpec("name", Text(), "the profile's name (terminal config `vendor`)"),
        FieldSpec("title", Text(), "the vendor and its app"),
        FieldSpec(
            "source", Text(), "where the contract is published, or the apps it was rebuilt from"
        ),
        FieldSpec(
            "transport",
            OneOf("one of " + ", ".join(TRANSPORTS), TRANSPORTS),
            "how the app is called and answers",
        ),
        FieldSpec("address", Section(ADDRESS_FIELDS), "how the Intent names the app"),
        FieldSpec("request", MappingOf("key: {rule} lines", request_rule), "the request's keys"),
        FieldSpec("operations", ListOf("operations", Section(OPERATION_FIELDS)), "what it does"),
        FieldSpec("result", Section(result_fields(result_rule)), "what comes back"),
        FieldSpec(
            "failures",
            MappingOf("failure: {code, text} lines", Section(FAILURE_FIELDS)),
            "the vendor's refusal for each of possim's failures: " + ", ".join(FAILURES),
        ),
        FieldSpec(
            "tables",
            MappingOf("name: {code: meaning} lines", MappingOf("code: meaning", Text())),
            "the vendor's code tables (docs)",
            {},
        ),
        FieldSpec(
            "sign_key", Text(), "the signing key possim's cashier app uses", DEFAULT_SIGN_KEY
        ),
        FieldSpec("notes", Text(), "what the docs page adds", ""),
    )


def read_profile(
    name_or_path: str, order: tuple[str, ...], result_attributes: tuple[str, ...]
) -> VendorProfile:
    """The profile ``name_or_path``; every problem is a FixtureError with file and line."""
    path = find_fixture("vendors", name_or_path, "vendor profile")
    document = yaml_lines.load(path, loader=TextLineLoader, error=FixtureError)
    reader = FieldReader(path)
    if isinstance(document, LineDict) and "announcements" in document:
        # The contract is app-to-app fields only; what the cashier app says is
        # its own data (simulator/terminal/announcements.py).
        raise FixtureError(
            path,
            "announcements: moved out of vendor profiles to firmware_fixtures/announcements/ "
            "(see `possim docs speaker`); delete this section",
            document.line_of("announcements"),
        )
    node = Node(document, yaml_lines.line_of(document) or 1)
    fields = Section(profile_fields(order, result_attributes), what="vendor profile").read(
        node, "", reader
    )
    address: Fields = fields["address"]
    if not any(address[name] for name in ("component", "action", "uri")):
        address.fail(None, "expected a component, an action or a uri")
    if fields["transport"] == "broadcast" and not address["result_action"]:
        address.fail(None, "a broadcast transport needs result_action")
    for failure in fields["failures"]:
        if failure not in FAILURES:
            fields.fail("failures", f"unknown failure {failure!r}; expected {', '.join(FAILURES)}")
    missing = [failure for failure in FAILURES if failure not in fields["failures"]]
    if missing:
        fields.fail("failures", f"missing {', '.join(missing)}")
    result: Fields = fields["result"]
    for status in result["codes"]:
        if status not in STATUSES:
            result.fail("codes", f"unknown status {status!r}; expected {', '.join(STATUSES)}")
    if not result["codes"] and not result["approved_if"]:
        result.fail(None, "expected codes or approved_if: how a cashier app tells an approval")
    request: dict[str, KeyRule] = fields["request"]
    operations = tuple(_operation(op, request) for op in fields["operations"])
    return VendorProfile(
        name=fields["name"],
        title=fields["title"],
        source=fields["source"],
        transport=fields["transport"],
        component=address["component"],
        action=address["action"],
        uri=address["uri"],
        result_action=address["result_action"],
        request=tuple(request.values()),
        operations=operations,
        result_codes=result["codes"],
        approved_if=tuple((c["key"], c["equals"]) for c in result["approved_if"]),
        approved=tuple(result["approved"].values()),
        failed=tuple(result["failed"].values()),
        failures={k: Failure(v["code"], v["text"]) for k, v in fields["failures"].items()},
        tables=fields["tables"],
        sign_key=fields["sign_key"],
        notes=fields["notes"],
        path=path,
    )


def _all_keys(rules: tuple[KeyRule, ...] | list[KeyRule]) -> dict[str, KeyRule]:
    found: dict[str, KeyRule] = {}
    for rule in rules:
        found[rule.key] = rule
        if rule.children:
            found.update(_all_keys(rule.children))
    return found


def _operation(fields: Fields, request: Mapping[str, KeyRule]) -> Operation:
    known = _all_keys(list(request.values()))
    for field in ("codes", "keys"):
        for key in fields[field]:
            if key not in known:
                fields.fail(field, f"{key!r} is not a request key")
            if field == "codes" and not known[key].route:
                fields.fail(field, f"{key!r} is not a routing key (route: true)")
    for key in fields["requires"]:
        if key not in known:
            fields.fail("requires", f"{key!r} is not a request key")
    return Operation(
        operation=fields["operation"],
        method=fields["method"],
        title=fields["title"],
        codes=fields["codes"],
        amount=fields["amount"],
        requires=fields["requires"],
        keys=fields["keys"],
        reply=fields["reply"],
    )


def all_keys(rules: tuple[KeyRule, ...]) -> dict[str, KeyRule]:
    """Every key of ``rules``, nested ones too, by name."""
    return _all_keys(rules)
