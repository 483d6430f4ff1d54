"""Walking a vendor profile's key rules over Intent extras, nested JSON included.

:func:`flatten` reads what a request or result carries (type-checked against
its rule), :func:`sourced` turns it back into possim's values, :func:`render_result`
writes a result in the vendor's keys, and :func:`siblings_of` finds the object
that holds a key. :mod:`simulator.terminal.contract` builds its directions on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from simulator.terminal.contract_values import ContractViolation, KeyRule
from simulator.terminal.vendor_profile import all_keys


def render_result(
    rules: tuple[KeyRule, ...],
    values: Mapping[str, Any],
    request: Mapping[str, Any],
    reply: Mapping[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rule in rules:
        if rule.key in reply:
            out[rule.key] = rule.typed(reply[rule.key])
        elif rule.value is not None:
            out[rule.key] = rule.typed(rule.value)
        elif rule.echo is not None:
            if rule.echo in request:
                out[rule.key] = request[rule.echo]
        elif rule.children is not None:
            nested = render_result(rule.children, values, request, reply)
            out[rule.key] = json.dumps(nested, ensure_ascii=False) if rule.as_json else nested
        elif rule.source is not None and rule.source in values:
            out[rule.key] = rule.render(values[rule.source])
    return out


def flatten(
    rules: tuple[KeyRule, ...], extras: Mapping[str, Any], cite: str, *, strict: bool = True
) -> dict[str, Any]:
    """Every key present in ``extras`` (nested JSON opened), type-checked against its rule."""
    flat: dict[str, Any] = {}
    for rule in rules:
        if rule.key not in extras:
            continue
        value = extras[rule.key]
        if rule.children is not None:
            inner = value
            if rule.as_json and isinstance(value, str):
                try:
                    inner = json.loads(value)
                except ValueError:
                    inner = None
            if not isinstance(inner, Mapping):
                if not strict:
                    continue
                form = "a JSON object string" if rule.as_json else "an object"
                raise ContractViolation(f"{rule.key}: expected {form} ({cite})")
            flat.update(flatten(rule.children, inner, cite, strict=strict))
            continue
        if strict and rule.echo is None:  # an echo repeats the request's typed value
            rule.check_type(value, cite)
        flat[rule.key] = value
    return flat


def sourced(rules: tuple[KeyRule, ...], flat: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, rule in all_keys(rules).items():
        if rule.source is not None and key in flat:
            values[rule.source] = rule.parse(flat[key], "result")
    return values


def siblings_of(
    rules: tuple[KeyRule, ...], key: str, extras: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The object holding ``key`` in ``extras`` (nested JSON opened), or None."""
    for rule in rules:
        if rule.key == key:
            return dict(extras)
        if rule.children is not None and rule.key in extras:
            inner = extras[rule.key]
            if rule.as_json and isinstance(inner, str):
                try:
                    inner = json.loads(inner)
                except ValueError:
                    return None
            if isinstance(inner, Mapping):
                found = siblings_of(rule.children, key, inner)
                if found is not None:
                    return found
    return None
