"""The keyboard-wedge scanner: key events -> codes, evdev://, the simulated wedge,
record/replay and the recorded fixture (docs/scanner.md, "Keyboard wedges")."""

from __future__ import annotations

import errno
import itertools
import os
import random
import time
from pathlib import Path

import pytest

from drivers.errors import DeviceUnavailable, DeviceURLError
from drivers.registry import DeviceContext, open_device, registry
from drivers.scanner import Scanner
from drivers.traffic.trace import Trace
from drivers.wedge_keys import (
    EV_KEY,
    EV_MSC,
    EV_SYN,
    MSC_SCAN,
    SYN_DROPPED,
    SYN_REPORT,
    US_KEYMAP,
    InputEvent,
    KeyDecoder,
    WedgeBurstDetector,
)
from drivers.wedge_scanner import WedgeScanner
from simulator.clock import VirtualClock
from simulator.devices.wedge import (
    GUN_KEY_DELAY,
    PERSON_KEY_DELAY,
    WedgeHand,
    key_events,
)
from simulator.devices.world import SimulatedWorld
from tests.wedge_helpers import SCANNED, event_stream, write_trace

FIXTURE = "replay://traces/wedge_scan/scanner.jsonl"
FIXTURE_FILE = Path(__file__).parent.parent / "firmware_fixtures/traces/wedge_scan/scanner.jsonl"
# The codes scanned when the fixture was made (tests/wedge_helpers.py), written out
# here so that a change of the helper cannot change what the test expects.
FIXTURE_CODES = [
    "134567890123456789",
    "287654321098765432",
    "6901234567892",
    "https://qr.alipay.com/FKX04419GE8ETWJFVHPW7B",
]


def decode(events: list[InputEvent], detector: WedgeBurstDetector | None = None) -> list[str]:
    keys, detector = KeyDecoder(), detector or WedgeBurstDetector()
    codes = []
    for event in events:
        key = keys.feed(event)
        if key is not None:
            codes.extend(detector.feed(key, event.t))
    return codes + detector.flush(float("inf"))


def gun(text: str, start: float = 10.0, seed: int = 1) -> list[InputEvent]:
    return key_events(text, start, random.Random(seed), GUN_KEY_DELAY)


def person(text: str, start: float = 10.0, seed: int = 1) -> list[InputEvent]:
    return key_events(text, start, random.Random(seed), PERSON_KEY_DELAY)


# -- the key map and the detector --------------------------------------------------


def test_key_codes_are_the_kernels() -> None:
    # <linux/input-event-codes.h>, as python-evdev reads it from the kernel headers.
    ecodes = pytest.importorskip("evdev.ecodes", reason="python-evdev (possim[wedge])")
    names = {"1": "KEY_1", "q": "KEY_Q", "a": "KEY_A", "\\": "KEY_BACKSLASH", "/": "KEY_SLASH"}
    names.update({"=": "KEY_EQUAL", "`": "KEY_GRAVE", "\r": "KEY_ENTER", " ": "KEY_SPACE"})
    plain = {pair[0]: code for code, pair in sorted(US_KEYMAP.items(), reverse=True)}
    for char, name in names.items():
        assert plain[char] == ecodes.ecodes[name], char
    assert ecodes.EV_KEY == EV_KEY and ecodes.EV_MSC == EV_MSC and ecodes.MSC_SCAN == MSC_SCAN
    assert ecodes.SYN_DROPPED == SYN_DROPPED and ecodes.SYN_REPORT == SYN_REPORT
    assert US_KEYMAP[ecodes.KEY_KP7] == ("7", "7")


def test_every_printable_character_round_trips_with_shift() -> None:
    text = "".join(chr(c) for c in range(0x20, 0x7F))
    assert decode(gun(text + "\r")) == [text]


def test_a_person_typing_is_not_a_scan() -> None:
    assert decode(person("6901234567892\r")) == []


def test_a_gun_burst_between_a_persons_keys() -> None:
    events = person("12") + gun("134567890123456789\r", start=20.0) + person("ok\r", start=30)
    assert decode(events) == ["134567890123456789"]


def test_a_burst_without_its_suffix_is_skipped_and_reported() -> None:
    detector = WedgeBurstDetector()
    assert decode(gun("134567890123456789") + person("1\r", start=20.0), detector) == []
    errors = detector.take_errors()
    assert [(e.kind, e.length) for e in errors] == [("no_suffix", 18)]


def test_suffix_none_ends_a_code_at_a_pause() -> None:
    detector = WedgeBurstDetector(suffix="")
    assert decode(gun("ABCD1234") + gun("5678ZZZZ", start=11.0), detector) == [
        "ABCD1234",
        "5678ZZZZ",
    ]


def test_a_burst_longer_than_max_length_is_skipped_in_bounded_memory() -> None:
    detector = WedgeBurstDetector(max_length=16)
    long = "9" * 10_000
    assert decode(gun(long + "\r") + gun("1234567890\r", start=200.0), detector) == ["1234567890"]
    assert [(e.kind, e.length) for e in detector.take_errors()] == [("too_long", 10_000)]
    assert len(detector._keys) == 0


def test_prefix_is_stripped_and_required() -> None:
    detector = WedgeBurstDetector(prefix="]Q1")
    assert decode(gun("]Q1CODE42\r") + gun("NOPREFIX\r", start=20.0), detector) == ["CODE42"]
    assert [e.kind for e in detector.take_errors()] == ["no_prefix"]


def test_dropped_events_break_the_burst() -> None:
    events = gun("1234567890\r")
    events.insert(9, InputEvent(events[9].t, EV_SYN, SYN_DROPPED, 0))
    detector = WedgeBurstDetector()
    assert decode(events, detector) == []
    assert [e.kind for e in detector.take_errors()] == ["dropped"]


def test_auto_repeat_is_not_typing() -> None:
    events = gun("1234\r")
    repeat = InputEvent(events[0].t + 0.001, EV_KEY, events[1].code, 2)
    detector = WedgeBurstDetector()
    assert decode([*events[:3], repeat, *events[3:]], detector) == []
    assert [e.kind for e in detector.take_errors()] == ["not_a_character"]


def test_the_gap_is_configurable() -> None:
    slow_gun = key_events("12345678\r", 1.0, random.Random(3), (0.040, 0.050))
    assert decode(slow_gun) == []
    assert decode(slow_gun, WedgeBurstDetector(gap=0.060)) == ["12345678"]


def test_timestamps_going_back_start_a_new_burst() -> None:
    detector = WedgeBurstDetector()
    assert detector.feed_all([("1", 5.0), ("2", 5.004), ("3", 4.0)]) == []
    assert detector.feed_all([(k, 4.0 + i * 0.003) for i, k in enumerate("4567\r", 1)]) == ["34567"]


def test_the_tui_hook_characters_and_times() -> None:
    # What a Textual key event gives: event.character ("\r" for Enter), event.time.
    detector = WedgeBurstDetector()
    presses = [("1", 100.0), ("2", 100.2), ("\r", 100.5)]
    presses += [(c, 101.0 + i * 0.005) for i, c in enumerate("28765432109876543\r")]
    assert detector.feed_all(presses) == ["28765432109876543"]


# -- the recorded fixture ----------------------------------------------------------


def test_the_fixture_decodes_to_exactly_the_scanned_codes() -> None:
    scanner = open_device(Scanner, FIXTURE)
    assert isinstance(scanner, WedgeScanner)
    try:
        assert [scanner.read_code(5.0) for _ in FIXTURE_CODES] == FIXTURE_CODES
        assert scanner.read_code(0.0) is None
        assert scanner.take_errors() == []
    finally:
        scanner.close()  # raises if the driver left recorded events unread


def test_the_fixture_is_a_hid_keyboards_event_stream() -> None:
    trace = Trace.load(FIXTURE_FILE)
    assert trace.device["transport"] == "evdev"
    events = [
        (message.extra["us"], message.summary)
        for message in trace.messages
        if message.op == "input"
    ]
    # Every report: MSC_SCAN, the key, SYN_REPORT, stamped alike (hid-input's order).
    assert len(events) % 3 == 0
    for i in range(0, len(events), 3):
        (t1, scan), (t2, key), (t3, syn) = events[i : i + 3]
        assert (scan, syn) == ("MSC_SCAN", "SYN_REPORT") and key.startswith("key ")
        assert t1 == t2 == t3
    presses = [t for t, summary in events if summary == "key press"]
    gaps = [(b - a) / 1000 for a, b in itertools.pairwise(presses)]
    assert sum(1 for g in gaps if g < 10) > 60  # the gun's keys, ms apart
    # ... or a person's, but for one rollover of two keys 15 ms apart.
    assert [round(g) for g in gaps if 10 <= g <= 90] == [15]
    assert list(SCANNED) == FIXTURE_CODES


def test_the_fixture_is_reproducible(tmp_path: Path) -> None:
    # The sealed bytes differ from one writing to the next (a fresh key and salt);
    # what they hold does not.
    write_trace(tmp_path / "again.jsonl")
    again = open_device(Scanner, f"replay://{tmp_path / 'again.jsonl'}")
    try:
        assert [again.read_code(5.0) for _ in FIXTURE_CODES] == FIXTURE_CODES
    finally:
        again.close()
    assert decode(event_stream()) == FIXTURE_CODES


# -- the simulated wedge, through the registry -------------------------------------


def _world() -> tuple[SimulatedWorld, DeviceContext]:
    clock = VirtualClock()
    world = SimulatedWorld(clock=clock)
    return world, DeviceContext(clock=clock, simulation=world)


def test_sim_wedge_scans_and_ignores_typing() -> None:
    world, context = _world()
    scanner = open_device(Scanner, "sim://?transport=wedge", context)
    try:
        hand = world.scanner
        assert isinstance(hand, WedgeHand)
        hand.type_text("99.00\r")
        hand.scan("134567890123456789")
        hand.scan("Pay:ABC", times=2)
        assert [scanner.read_code(1.0) for _ in range(3)] == [
            "134567890123456789",
            "Pay:ABC",
            "Pay:ABC",
        ]
        assert scanner.take_scan() is None
    finally:
        scanner.close()


def test_sim_wedge_records_and_replays(tmp_path: Path) -> None:
    trace = tmp_path / "wedge.jsonl"
    world, context = _world()
    scanner = open_device(Scanner, f"sim://?transport=wedge&record={trace}", context)
    try:
        assert isinstance(world.scanner, WedgeHand)
        world.scanner.scan("287654321098765432")
        world.scanner.type_text("hello\r")
        world.scanner.scan("6901234567892")
        assert scanner.read_code(1.0) == "287654321098765432"
    finally:
        scanner.close()
    # record= comes off the URL without losing the // of an empty host
    assert Trace.load(trace).header["url"] == "sim://?transport=wedge"
    assert scanner.driver.name == "sim://?transport=wedge"  # type: ignore[attr-defined]
    replayed = open_device(Scanner, f"replay://{trace}")
    try:
        assert replayed.read_code(5.0) == "287654321098765432"
        assert replayed.read_code(5.0) == "6901234567892"
    finally:
        replayed.close()


def test_replay_hand_checks_the_scenario_scans_the_recorded_code() -> None:
    from drivers.traffic.trace import TraceDivergence

    world, context = _world()
    scanner = open_device(Scanner, FIXTURE, context)
    try:
        hand = world.scanner
        hand.scan(FIXTURE_CODES[0])  # type: ignore[union-attr]
        assert scanner.read_code(1.0) == FIXTURE_CODES[0]
        with pytest.raises(TraceDivergence, match="code"):
            hand.scan("000000000000000000")  # type: ignore[union-attr]
    finally:
        scanner.close()


def test_sim_wedge_is_a_scanner_transport() -> None:
    from simulator.devices.scanner_link import SCANNER_TRANSPORTS

    assert "wedge" in SCANNER_TRANSPORTS


# -- evdev:// ----------------------------------------------------------------------


def test_evdev_url_errors_are_one_line() -> None:
    with pytest.raises(DeviceURLError, match="not both"):
        open_device(Scanner, "evdev:///dev/input/event0?name=Gun")
    with pytest.raises(DeviceURLError, match="gap"):
        registry.check(Scanner, "evdev:///dev/input/event0?gap=0")
    with pytest.raises(DeviceURLError, match="did you mean 'suffix'"):
        registry.check(Scanner, "evdev:///dev/input/event0?sufix=ENTER")
    with pytest.raises(DeviceUnavailable, match="no input device /dev/input/event99"):
        open_device(Scanner, "evdev:///dev/input/event99")


def _uinput_problem() -> str | None:
    try:
        import evdev  # noqa: F401
    except ImportError:
        return "python-evdev is not installed (pip install 'possim[wedge]')"
    if not os.path.exists("/dev/uinput"):
        return "no /dev/uinput: the kernel's uinput module is not loaded (modprobe uinput)"
    try:
        os.close(os.open("/dev/uinput", os.O_WRONLY | os.O_NONBLOCK))
    except OSError as exc:
        reason = "needs root" if exc.errno in (errno.EACCES, errno.EPERM) else exc.strerror
        return f"/dev/uinput is not usable: {reason}"
    return None


# uinput is the kernel's (a module, a device node, root), not a system package: the
# test skips without it even under POSSIM_REQUIRE_SYSTEM=1.
@pytest.mark.skipif(_uinput_problem() is not None, reason=str(_uinput_problem()))
def test_a_uinput_keyboard_through_the_real_evdev_node() -> None:
    import evdev
    from evdev import UInput, ecodes

    keys = sorted({code for code in US_KEYMAP} | {ecodes.KEY_LEFTSHIFT})
    name = f"possim test wedge {os.getpid()}"
    with UInput({ecodes.EV_KEY: keys, ecodes.EV_MSC: [ecodes.MSC_SCAN]}, name=name) as device:
        deadline = time.monotonic() + 10
        while not os.path.exists(device.device.path) and time.monotonic() < deadline:
            time.sleep(0.05)  # udev creates the node: poll for it with a deadline
        # gap=2000: the kernel stamps each event when it is written, and this loaded
        # machine may pause between writes; the timing rule is tested above.
        url = f"evdev://?name={name.replace(' ', '%20')}&gap=2000"
        scanner = open_device(Scanner, url)
        try:
            other = evdev.InputDevice(device.device.path)
            try:
                with pytest.raises(OSError):  # grabbed: nobody else gets the keys
                    other.grab()
            finally:
                other.close()
            for event in gun("Pay:134567890123456789\r", start=1.0):
                if event.type == EV_KEY:  # each key as its own report, SYN_REPORT after it
                    device.write(event.type, event.code, event.value)
                    device.syn()
            assert scanner.read_code(10.0) == "Pay:134567890123456789"
        finally:
            scanner.close()


@pytest.mark.parametrize("name", ["qr_wechat", "qr_duplicate_scan", "qr_scan_noise"])
def test_library_scenarios_scan_through_the_wedge(name: str, tmp_path: Path) -> None:
    from simulator import cli

    scenario = str(Path(__file__).parent.parent / "scenarios" / f"{name}.yaml")
    out = str(tmp_path / "runs")
    assert cli.main(["run", scenario, "--scanner-transport", "wedge", "--out", out]) == 0


class _FakeEvent:
    def __init__(self, event: InputEvent) -> None:
        self._t, self.type, self.code, self.value = event.t, event.type, event.code, event.value

    def timestamp(self) -> float:
        return self._t


class _FakeInputDevice:
    """python-evdev's InputDevice as the driver uses it, on a pipe (for machines without
    uinput; the uinput test above runs the real one)."""

    grabbed_by_other = False
    opened: list[_FakeInputDevice] = []  # noqa: RUF012 - the test's record
    queued: list[InputEvent] = []  # noqa: RUF012

    def __init__(self, path: str) -> None:
        self.path = path
        self.name = {"/dev/input/event3": "HID 0581:0115 Keyboard"}.get(path, "AT keyboard")
        self._read, self._write = os.pipe()
        self.fd = self._read
        self.grabbed = self.closed = False
        if _FakeInputDevice.queued and path == "/dev/input/event3":
            os.write(self._write, b"x")
        _FakeInputDevice.opened.append(self)

    def grab(self) -> None:
        if _FakeInputDevice.grabbed_by_other:
            raise OSError(errno.EBUSY, "Device or resource busy")
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def read(self) -> list[_FakeEvent]:
        os.read(self._read, 1)
        events, _FakeInputDevice.queued = _FakeInputDevice.queued, []
        return [_FakeEvent(e) for e in events]

    def close(self) -> None:
        if not self.closed:
            os.close(self._read)
            os.close(self._write)
        self.closed = True


class _FakeEvdev:
    InputDevice = _FakeInputDevice

    @staticmethod
    def list_devices() -> list[str]:
        return ["/dev/input/event0", "/dev/input/event3"]


@pytest.fixture
def fake_evdev(monkeypatch: pytest.MonkeyPatch) -> type[_FakeInputDevice]:
    import sys

    monkeypatch.setitem(sys.modules, "evdev", _FakeEvdev)
    _FakeInputDevice.opened = []
    _FakeInputDevice.queued = []
    _FakeInputDevice.grabbed_by_other = False
    return _FakeInputDevice


def test_evdev_by_name_grabs_decodes_and_lets_go(fake_evdev: type[_FakeInputDevice]) -> None:
    fake_evdev.queued = person("5\r", start=1.0) + gun("134567890123456789\r", start=3.0)
    scanner = open_device(Scanner, "evdev://?name=0581:0115")
    chosen = [d for d in fake_evdev.opened if d.path == "/dev/input/event3"]
    others = [d for d in fake_evdev.opened if d.path != "/dev/input/event3"]
    try:
        assert chosen[0].grabbed and all(d.closed for d in others)
        assert scanner.read_code(5.0) == "134567890123456789"
    finally:
        scanner.close()
    assert not chosen[0].grabbed and chosen[0].closed


def test_evdev_refusals_say_what_to_do(fake_evdev: type[_FakeInputDevice]) -> None:
    with pytest.raises(DeviceUnavailable, match="several input devices named 'keyboard'"):
        open_device(Scanner, "evdev://?name=keyboard")
    with pytest.raises(DeviceUnavailable, match=r"no input device named 'Zebra'.*event3: HID"):
        open_device(Scanner, "evdev://?name=Zebra")
    fake_evdev.grabbed_by_other = True
    with pytest.raises(DeviceUnavailable, match=r"another program holds it.*grab=0"):
        open_device(Scanner, "evdev://?name=HID%200581:0115%20Keyboard")
    shared = open_device(Scanner, "evdev://?name=HID%200581:0115%20Keyboard&grab=0")
    shared.close()
    assert all(d.closed for d in fake_evdev.opened)


def test_the_tui_hook_in_a_textual_app() -> None:
    # The one line the TUI adds to its App.on_key, in a bare Textual app driven by
    # Textual's pilot (gap=2 s: pilot's keys are as fast as this loaded machine allows).
    import asyncio

    from textual import events
    from textual.app import App

    class Till(App[None]):
        def __init__(self) -> None:
            super().__init__()
            self.wedge = WedgeBurstDetector(gap=2.0)
            self.scanned: list[str] = []

        def on_key(self, event: events.Key) -> None:
            self.scanned.extend(self.wedge.feed(event.character or event.key, event.time))

    async def scan() -> list[str]:
        app = Till()
        async with app.run_test() as pilot:
            await pilot.press(*"134567890123456789", "enter")
            await pilot.pause()
        return app.scanned

    assert asyncio.run(scan()) == ["134567890123456789"]


def test_a_replay_released_slowly_ends_bursts_where_the_recording_does() -> None:
    # The reader thread may find nothing to read between two released events (a loaded
    # machine): the time it then flushes the burst with is the next recorded event's,
    # never "the end of time", so a burst is never cut before its Enter.
    from drivers.traffic.evdev import ReplaySource
    from drivers.traffic.replay_scheme import _cursor, find_trace
    from drivers.url import DeviceURL

    source = ReplaySource(_cursor(DeviceURL.parse(FIXTURE), "scanner", DeviceContext()))
    trace = Trace.load(find_trace(DeviceURL.parse(FIXTURE)))
    assert source.release(40) == 40
    assert source.now() is None  # released and not read: read them first
    assert len(source.read(0)) == 40
    assert source.now() == trace.messages[40].extra["us"] / 1e6
    while source.release(1000):
        source.read(0)
    assert source.now() == float("inf")
