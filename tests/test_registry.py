from __future__ import annotations

from collections.abc import Callable

import pytest

from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.registry import DeviceContext, DeviceKind, DeviceRegistry, DeviceURL, registry


def test_url_parsing() -> None:
    url = DeviceURL.parse("serial:///dev/ttyACM0?baud=9600&suffix=CR")
    assert (url.scheme, url.target) == ("serial", "/dev/ttyACM0")
    assert url.int_param("baud", 115200) == 9600
    assert url.param("suffix", "LF") == "CR"
    assert DeviceURL.parse("pcsc://Virtual%20PCD%2000%2000").target == "Virtual PCD 00 00"


@pytest.mark.parametrize("bad", ["ttyACM0", "://x", ""])
def test_malformed_urls_are_refused(bad: str) -> None:
    with pytest.raises(DeviceURLError):
        DeviceURL.parse(bad)


def test_bad_integer_parameter_names_the_key() -> None:
    with pytest.raises(DeviceURLError, match="baud='fast'"):
        DeviceURL.parse("serial:///dev/x?baud=fast").int_param("baud", 9600)


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(DeviceURLError, match=r"no printer driver for 'lpt://1'.*sim://"):
        registry.open(DeviceKind.PRINTER, "lpt://1", DeviceContext())


def test_sim_scheme_comes_from_the_entry_point_for_every_kind() -> None:
    for kind in DeviceKind:
        assert "sim" in registry.schemes(kind)


def test_sim_devices_need_a_simulated_world() -> None:
    with pytest.raises(DeviceUnavailable, match="simulated world"):
        registry.open(DeviceKind.SPEAKER, "sim://", DeviceContext())


def test_a_scheme_cannot_be_registered_twice() -> None:
    local = DeviceRegistry(load_entry_points=False)

    def factory(url: DeviceURL, context: DeviceContext) -> object:
        return object()

    local.register(DeviceKind.PRINTER, "x", factory)
    with pytest.raises(DeviceURLError, match="already registered"):
        local.register(DeviceKind.PRINTER, "x", lambda url, context: None)


class _Hook:
    """A recording hook that renames the URL and remembers what it saw."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.checked: list[object] = []

    def attach(
        self, kind: DeviceKind, url: DeviceURL, context: DeviceContext
    ) -> tuple[DeviceURL, DeviceContext, Callable[[object], None]]:
        return DeviceURL.parse(f"{url.scheme}://{self.name}"), context, self.checked.append


def test_the_registry_opens_through_the_recording_hook_it_is_given() -> None:
    local = DeviceRegistry(load_entry_points=False)
    opened: list[str] = []

    def factory(url: DeviceURL, context: DeviceContext) -> object:
        opened.append(url.target)
        return url.target

    local.register(DeviceKind.PRINTER, "x", factory)
    assert local.open(DeviceKind.PRINTER, "x://plain", DeviceContext()) == "plain"  # no hook

    own, per_open = _Hook("registry"), _Hook("context")
    local.recording = own
    assert local.open(DeviceKind.PRINTER, "x://a", DeviceContext()) == "registry"
    assert local.open(DeviceKind.PRINTER, "x://b", DeviceContext(recording=per_open)) == "context"
    assert (own.checked, per_open.checked) == (["registry"], ["context"])
    assert opened == ["plain", "registry", "context"]


def test_the_traffic_plug_in_registers_the_recording_hook() -> None:
    from drivers.traffic.recording import RECORDING

    assert registry.schemes(DeviceKind.PRINTER)  # entry points loaded
    assert registry.recording is RECORDING
