"""Declared ``?key=value`` options of device URLs.

Each scheme declares its parameters once, as :class:`UrlParam` values (name,
type, default, choices, help). From that one declaration:

* the registry checks a URL before opening it (:func:`check_params`): an unknown
  parameter is a one-line error with a did-you-mean and the known ones, a bad
  value says what was expected;
* factories read typed values (``BAUD.value(url)`` is an ``int``);
* ``possim check`` validates the device URLs of terminal configurations;
* docs/devices.md lists every scheme's parameters (:func:`reference_table`).

>>> from drivers.url import DeviceURL
>>> BAUD = UrlParam("baud", int, 9600, positive=True, help="line speed")
>>> BAUD.value(DeviceURL.parse("serial:///dev/ttyS0?baud=115200"))
115200
>>> try:
...     check_params(DeviceURL.parse("serial:///dev/ttyS0?bau=1"), [BAUD])
... except DeviceURLError as exc:
...     print(exc)
serial:///dev/ttyS0?bau=1: unknown parameter 'bau': did you mean 'baud'? (known: baud)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Generic, TypeVar

import attrs

from drivers.errors import DeviceURLError, did_you_mean
from drivers.url import DeviceURL

T = TypeVar("T", covariant=True)  # a UrlParam[int] is a UrlParam[object]


_TYPE_WORDS: Mapping[type, tuple[str, str]] = {
    # type: (what a value is, what the parse failure says it is not)
    int: ("a whole number", "an integer"),
    float: ("a number", "a number"),
    str: ("text", "text"),
}


@attrs.frozen
class UrlParam(Generic[T]):
    """One ``?name=value`` option of a device URL scheme.

    ``type`` reads the text: ``str``, ``int`` (decimal or ``0x`` hex) or ``float``.
    ``default`` is the value when the URL does not give one (``None``: "not given",
    e.g. "the profile's"). ``choices``, ``minimum``/``maximum`` (inclusive),
    ``positive`` (above zero) and ``needs`` (a value may not be empty: what it
    names, e.g. "a folder") constrain the value; ``example`` shows one in errors
    and docs.
    """

    name: str
    type: type[str] | type[int] | type[float]
    default: T
    choices: tuple[str, ...] = ()
    help: str = ""
    unit: str = ""  # "seconds": "a positive number of seconds"
    minimum: float | None = None
    maximum: float | None = None
    positive: bool = False
    needs: str = ""
    example: str = ""
    ignore_case: bool = False  # choices match regardless of case (CRLF, crlf)
    default_doc: str = ""  # the docs' words for the default ("the profile's", "0x82")

    def __attrs_post_init__(self) -> None:
        if self.type not in _TYPE_WORDS:
            raise TypeError(f"UrlParam {self.name!r}: type must be str, int or float")

    @property
    def expected(self) -> str:
        """What a value must be, as the errors and the docs say it."""
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.needs:
            return self.needs
        what = _TYPE_WORDS[self.type][0]
        if self.positive:
            what = "a positive " + what.split(" ", 1)[1]
        if self.minimum is not None and self.maximum is not None:
            what += f" from {_number(self.minimum)} to {_number(self.maximum)}"
            return f"{what} {self.unit}" if self.unit else what
        return f"{what} of {self.unit}" if self.unit else what

    def convert(self, url: DeviceURL | str, text: str) -> T:
        """``text`` as this parameter's value, or a DeviceURLError naming ``url``."""
        raw = url if isinstance(url, str) else url.raw
        if self.needs and not text:
            example = f", e.g. {self.name}={self.example}" if self.example else ""
            raise DeviceURLError(f"{raw}: {self.name}= needs {self.needs}{example}")
        if self.choices:
            return self._choice(raw, text)  # type: ignore[return-value]
        if self.type is str:
            return text  # type: ignore[return-value]
        try:
            number = int(text, 0) if self.type is int else float(text)
        except ValueError:
            not_a = _TYPE_WORDS[self.type][1]
            raise DeviceURLError(
                f"{raw}: {self.name}={text!r} is not {not_a}; expected {self.expected}"
            ) from None
        if (
            not math.isfinite(number)
            or (self.positive and number <= 0)
            or (self.minimum is not None and number < self.minimum)
            or (self.maximum is not None and number > self.maximum)
        ):
            raise DeviceURLError(f"{raw}: {self.name}={text}: expected {self.expected}")
        return number  # type: ignore[return-value]

    def _choice(self, raw: str, text: str) -> str:
        for choice in self.choices:
            if text == choice or (self.ignore_case and text.lower() == choice.lower()):
                return choice
        raise DeviceURLError(
            f"{raw}: {self.name}={text!r}{did_you_mean(text, self.choices)}; "
            f"expected {self.expected}"
        )

    def value(self, url: DeviceURL) -> T:
        """The URL's value of this parameter (checked), or the default."""
        text = url.params.get(self.name)
        return self.default if text is None else self.convert(url, text)

    def given(self, url: DeviceURL) -> bool:
        return self.name in url.params

    def reference_default(self) -> str:
        if self.default_doc:
            return self.default_doc
        if self.default is None or self.default == "":
            return ""
        return f"`{self.default}`"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


# Every URL may carry ``record=PATH.jsonl``: the registry records the device's
# traffic there (drivers/traffic/recording.py, docs/replay.md) and hands the
# factory the URL without it.
RECORD: UrlParam[str | None] = UrlParam(
    "record",
    str,
    None,
    help="record the device's traffic to this JSONL trace (card readers, printers and "
    "scanners on a real transport; docs/replay.md)",
    needs="a file",
    example="card.jsonl",
)
COMMON_PARAMS: tuple[UrlParam[object], ...] = (RECORD,)


def check_params(
    url: DeviceURL, params: Iterable[UrlParam[object]], *, common: bool = True
) -> None:
    """Refuse a parameter ``params`` does not declare, and every value they refuse.

    ``common``: the URL is a device's, so it may also carry :data:`COMMON_PARAMS`.
    """
    declared = {param.name: param for param in (*params, *(COMMON_PARAMS if common else ()))}
    for name, text in url.params.items():
        param = declared.get(name)
        if param is None:
            own = sorted(set(declared) - {p.name for p in COMMON_PARAMS})
            if own:
                known = f"known: {', '.join(own)}"
            elif common:
                known = f"{url.scheme}:// takes no parameters but record"
            else:
                known = f"{url.scheme}:// takes no parameters"
            hint = did_you_mean(name, declared)
            raise DeviceURLError(f"{url.raw}: unknown parameter {name!r}{hint} ({known})")
        param.convert(url, text)


def reference_table(params: Iterable[UrlParam[object]]) -> str:
    """The Markdown table of a scheme's parameters: parameter | default | value | meaning."""
    rows = ["| parameter | default | value | meaning |", "|---|---|---|---|"]
    for param in params:
        default = param.reference_default() or "-"
        rows.append(f"| `{param.name}` | {default} | {param.expected} | {param.help} |")
    return "\n".join(rows)
