from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.card_reader import CardReader
from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.kinds import DEVICE_KINDS
from drivers.params import UrlParam, check_params
from drivers.printer import Printer
from drivers.printer.escpos import EscposPrinter
from drivers.registry import DeviceContext, DeviceRegistry, registry
from drivers.scanner import Scanner
from drivers.serial_scanner import SerialScanner
from drivers.speaker import Speaker
from drivers.url import DeviceURL

BAUD = UrlParam("baud", int, 9600, positive=True, help="line speed")
SUFFIX = UrlParam("suffix", str, "LF", choices=("CR", "LF", "CRLF"), ignore_case=True)
TIMEOUT = UrlParam("timeout", float, 5.0, unit="seconds", positive=True)


def test_url_parsing_and_declared_parameters() -> None:
    url = DeviceURL.parse("serial:///dev/ttyACM0?baud=9600&suffix=crlf")
    assert (url.scheme, url.target) == ("serial", "/dev/ttyACM0")
    assert BAUD.value(url) == 9600
    assert SUFFIX.value(url) == "CRLF"  # the declared spelling, whatever the case given
    assert TIMEOUT.value(url) == 5.0  # the default
    assert DeviceURL.parse("pcsc://Virtual%20PCD%2000%2000").target == "Virtual PCD 00 00"


@pytest.mark.parametrize("bad", ["ttyACM0", "://x", ""])
def test_malformed_urls_are_refused(bad: str) -> None:
    with pytest.raises(DeviceURLError):
        DeviceURL.parse(bad)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("baud=fast", "baud='fast' is not an integer; expected a positive whole number"),
        ("baud=0", "baud=0: expected a positive whole number"),
        ("suffix=CRCR", "suffix='CRCR': did you mean 'CR'?; expected one of CR, LF, CRLF"),
        ("timeout=-1", "timeout=-1: expected a positive number of seconds"),
        ("timeout=nan", "timeout=nan: expected a positive number of seconds"),
        ("bad=1", "unknown parameter 'bad': did you mean 'baud'? (known: baud, suffix, timeout)"),
    ],
)
def test_a_bad_parameter_is_one_line_saying_what_was_expected(query: str, message: str) -> None:
    url = DeviceURL.parse(f"serial:///dev/x?{query}")
    with pytest.raises(DeviceURLError) as caught:
        check_params(url, [BAUD, SUFFIX, TIMEOUT])
    assert str(caught.value) == f"serial:///dev/x?{query}: {message}"
    assert "\n" not in str(caught.value)


def test_record_is_a_parameter_of_every_scheme() -> None:
    check_params(DeviceURL.parse("pcsc://?record=card.jsonl"), [])
    with pytest.raises(DeviceURLError, match=r"record= needs a file, e\.g\. record=card\.jsonl"):
        check_params(DeviceURL.parse("pcsc://?record="), [])
    with pytest.raises(DeviceURLError, match=r"pcsc:// takes no parameters but record"):
        check_params(DeviceURL.parse("pcsc://?recrd=x"), [])


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(DeviceURLError, match=r"no printer driver for 'lpt://1'.*sim://"):
        registry.open(Printer, "lpt://1", DeviceContext())


def test_sim_scheme_comes_from_the_entry_point_for_every_kind() -> None:
    for protocol in DEVICE_KINDS.values():
        assert "sim" in registry.schemes(protocol)


def test_sim_devices_need_a_simulated_world() -> None:
    with pytest.raises(DeviceUnavailable, match="simulated world"):
        registry.open(Speaker, "sim://", DeviceContext())


def test_a_scheme_cannot_be_registered_twice() -> None:
    local = DeviceRegistry(load_entry_points=False)

    def factory(url: DeviceURL, context: DeviceContext) -> object:
        return object()

    local.register(Printer, "x", factory)
    with pytest.raises(DeviceURLError, match="already registered"):
        local.register(Printer, "x", lambda url, context: None)


class _Hook:
    """A recording hook that renames the URL and remembers what it saw."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.checked: list[object] = []

    def attach(
        self, kind: str, url: DeviceURL, context: DeviceContext
    ) -> tuple[DeviceURL, DeviceContext, Callable[[object], None]]:
        return DeviceURL.parse(f"{url.scheme}://{self.name}"), context, self.checked.append


def test_the_registry_opens_through_the_recording_hook_it_is_given() -> None:
    local = DeviceRegistry(load_entry_points=False)
    opened: list[str] = []

    def factory(url: DeviceURL, context: DeviceContext) -> object:
        opened.append(url.target)
        return url.target

    local.register(object, "x", factory)  # any device will do
    assert local.open(object, "x://plain", DeviceContext()) == "plain"  # no hook

    own, per_open = _Hook("registry"), _Hook("context")
    local.recording = own
    assert local.open(object, "x://a", DeviceContext()) == "registry"
    assert local.open(object, "x://b", DeviceContext(recording=per_open)) == "context"
    assert (own.checked, per_open.checked) == (["registry"], ["context"])
    assert opened == ["plain", "registry", "context"]


def test_the_traffic_plug_in_registers_the_recording_hook() -> None:
    from drivers.traffic.recording import RECORDING

    assert registry.schemes(Printer)  # entry points loaded
    assert registry.recording is RECORDING


class _Closable:
    closed = False

    def close(self) -> None:
        self.closed = True


def test_a_factory_making_the_wrong_type_is_refused_by_name() -> None:
    """labgrid's get_driver / OpenHTF's issubclass check: the lookup is typed."""
    made = _Closable()
    local = DeviceRegistry(load_entry_points=False)
    local.register(Printer, "odd", lambda url, context: made)
    with pytest.raises(DeviceURLError) as caught:
        local.open(Printer, "odd://x", DeviceContext())
    assert str(caught.value) == "odd://x: the odd:// factory made a _Closable, not a Printer"
    assert made.closed  # not leaked


def test_open_finds_the_scheme_of_a_base_protocol_and_checks_the_subclass() -> None:
    """open(SerialScanner, ...) uses the Scanner's serial:// factory, and insists on
    getting a SerialScanner back."""
    local = DeviceRegistry(load_entry_points=False)
    local.register(Scanner, "fake", lambda url, context: _Closable())
    assert local.schemes(SerialScanner) == ["fake"]
    with pytest.raises(DeviceURLError, match="made a _Closable, not a SerialScanner"):
        local.open(SerialScanner, "fake://", DeviceContext())


def test_parameters_are_checked_before_the_factory_runs() -> None:
    calls: list[DeviceURL] = []
    local = DeviceRegistry(load_entry_points=False)
    local.register(Printer, "x", lambda url, context: calls.append(url), params=[BAUD])
    with pytest.raises(DeviceURLError, match="unknown parameter 'flow'"):
        local.open(Printer, "x://?flow=none", DeviceContext())
    with pytest.raises(DeviceURLError, match="baud='x' is not an integer"):
        local.check(Printer, "x://?baud=x")
    assert calls == []


@pytest.mark.parametrize(
    ("protocol", "url", "message"),
    [
        (Printer, "sim://?profile=generic_58mm&transport=usbb", "transport='usbb'"),
        (Printer, "sim://?profle=generic_58mm", "did you mean 'profile'?"),
        (Scanner, "sim://?transport=tcp", "expected one of sim, pty"),
        (Speaker, "sim://?wav=", "wav= needs a folder"),
        (Printer, "usb://0416:5011?in_ep=0x100", "in_ep=0x100: expected a whole number from 0"),
        (Printer, "serial:///dev/ttyS0?flow=rts", "expected one of dsrdtr, xonxoff, none"),
        (Printer, "tcp://127.0.0.1?timeout=0", "timeout=0: expected a positive number"),
        (Printer, "file:///tmp/x?timeout=2", "unknown parameter 'timeout' (known: profile)"),
        (Scanner, "socket://127.0.0.1:7000?suffix=CRR", "did you mean 'CR'?"),
        (Speaker, "espeak://en?rate=5000", "80 to 450 words per minute"),
        (CardReader, "pcsc://?reader=x", "pcsc:// takes no parameters but record"),
        (CardReader, "replay://t.jsonl?x=1", "replay:// takes no parameters"),
    ],
)
def test_every_scheme_declares_its_parameters(
    protocol: type[object], url: str, message: str
) -> None:
    with pytest.raises(DeviceURLError) as caught:
        registry.check(protocol, url)
    assert message in str(caught.value)


def test_good_urls_pass_the_check() -> None:
    for protocol, url in [
        (Printer, "sim://?profile=generic_80mm&transport=tcp"),
        (Scanner, "sim://?transport=pty&profile=honeywell_serial"),
        (Printer, "usb://0416:5011?in_ep=0x81&out_ep=3&timeout=2.5&record=p.jsonl"),
        (Scanner, "serial:///dev/ttyACM0?suffix=crlf&prefix=&baud=115200&gap=20"),
        (Speaker, "espeak://en?rate=150&wav=out/"),
        (CardReader, "pcsc://ACS ACR39U"),
    ]:
        registry.check(protocol, url)


def test_open_returns_the_type_asked_for() -> None:
    printer = registry.open(EscposPrinter, "file:///dev/null", DeviceContext())
    try:
        assert isinstance(printer, EscposPrinter)
    finally:
        printer.close()
