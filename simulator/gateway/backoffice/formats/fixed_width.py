"""Fixed-width records, the way UnionPay's settlement files are laid out: every
field at a fixed column, numbers right-aligned and zero-padded, text
left-aligned and space-padded, one space between fields."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from simulator.gateway.backoffice.errors import StatementFormatError


@attrs.frozen
class Field:
    name: str
    width: int
    numeric: bool = False  # right-aligned, zero-padded digits


@attrs.frozen
class Layout:
    channel: str
    fields: tuple[Field, ...]

    @property
    def width(self) -> int:
        return sum(f.width for f in self.fields) + len(self.fields) - 1

    def format(self, values: Mapping[str, str]) -> str:
        parts = []
        for field in self.fields:
            value = values.get(field.name, "")
            if len(value) > field.width:
                raise StatementFormatError(
                    self.channel, f"{field.name} {value!r} is wider than {field.width}"
                )
            parts.append(
                value.rjust(field.width, "0") if field.numeric else value.ljust(field.width)
            )
        return " ".join(parts)

    def parse(self, line: str, number: int) -> dict[str, str]:
        if len(line) != self.width:
            raise StatementFormatError(
                self.channel, f"expected {self.width} characters, got {len(line)}", number
            )
        values: dict[str, str] = {}
        column = 0
        for field in self.fields:
            raw = line[column : column + field.width]
            end = column + field.width
            if end < len(line) and line[end] != " ":
                raise StatementFormatError(
                    self.channel, f"no separator after {field.name} (column {end + 1})", number
                )
            if field.numeric and not raw.isdigit():
                raise StatementFormatError(
                    self.channel, f"{field.name} {raw!r} is not {field.width} digits", number
                )
            values[field.name] = raw.strip() if not field.numeric else raw
            column = end + 1
        return values


def layout(channel: str, spec: Sequence[tuple[str, int, bool]]) -> Layout:
    return Layout(channel, tuple(Field(name, width, numeric) for name, width, numeric in spec))
