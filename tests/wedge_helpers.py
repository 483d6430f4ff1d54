"""The keyboard-wedge fixture: how firmware_fixtures/traces/wedge_scan/scanner.jsonl is made.

    .venv/bin/python tests/wedge_helpers.py firmware_fixtures/traces/wedge_scan/scanner.jsonl

A till's classic wedge sits between the keyboard and the PC, so one input device
carries both the gun's codes and the cashier's typing. The stream below is
that: a person keys an amount (with a two-key rollover, the fastest a person
types), the gun scans a WeChat payment code, the person types a note, the gun
scans an Alipay code, a product barcode and a static-QR URL (Shift for ``:``
and capitals). The events are those the Linux hid-input driver emits for a USB
HID keyboard (``simulator.devices.wedge.key_events``: ``MSC_SCAN`` with the HID
usage, ``EV_KEY``, ``SYN_REPORT`` per report), seeded timing: 2-8 ms a key for
the gun, 120-300 ms for the person. They are written through the same
``RecordingSource`` an ``evdev://...?record=`` URL uses, so the file is a trace
like any recording (key events sealed, ``SYN_REPORT`` in clear, ``us`` the
kernel timestamp).
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from drivers.registry import DeviceContext
from drivers.traffic.recording import Recorder
from drivers.url import DeviceURL
from drivers.wedge_keys import InputEvent
from simulator.devices.wedge import GUN_KEY_DELAY, PERSON_KEY_DELAY, SimWedgeSource, key_events

URL = "sim://?transport=wedge"
WECHAT_CODE = "134567890123456789"
ALIPAY_CODE = "287654321098765432"
EAN13 = "6901234567892"
STATIC_QR = "https://qr.alipay.com/FKX04419GE8ETWJFVHPW7B"
SCANNED = (WECHAT_CODE, ALIPAY_CODE, EAN13, STATIC_QR)
SEED = 20  # issue 20


def event_stream(seed: int = SEED) -> list[InputEvent]:
    """The whole stream, timestamps from 1000 s (a kernel clock is never at zero)."""
    rng = random.Random(seed)
    events: list[InputEvent] = []

    def person(text: str) -> None:
        start = events[-1].t + 0.8 if events else 1000.0
        events.extend(key_events(text, start, rng, PERSON_KEY_DELAY))

    def gun(code: str) -> None:
        events.extend(key_events(code + "\r", events[-1].t + 0.6, rng, GUN_KEY_DELAY))

    person("12.50\r")
    # A rollover: the person's "o" and "k" 15 ms apart -- faster than the gap, but two
    # keys are no scan (min_length).
    events.extend(key_events("ok", events[-1].t + 0.5, rng, (0.015, 0.016)))
    gun(WECHAT_CODE)
    person("table 7\r")
    gun(ALIPAY_CODE)
    person("2")
    gun(EAN13)
    gun(STATIC_QR)
    person("\r")
    return events


def write_trace(path: Path, seed: int = SEED) -> None:
    recorder = Recorder(path, "scanner", URL, DeviceContext())
    device = SimWedgeSource()
    recording = recorder.input_events(
        device,
        DeviceURL.parse(URL),
        transport="evdev",
        device_name="possim wedge (USB HID keyboard events, simulated)",
        gap=30,
        suffix="ENTER",
        prefix="",
        max_length=512,
        min_length=4,
    )
    device.push(event_stream(seed))
    recording.read(0)
    recording.close()


if __name__ == "__main__":
    write_trace(Path(sys.argv[1]))
