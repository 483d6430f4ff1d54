"""Turning recording on: ``?record=PATH.jsonl`` on a device URL, or a recording session.

The registry calls :data:`RECORDING` (its recording hook, registered with the
``replay://`` scheme) around every open, which calls :func:`attach_recorder`
before the factory and :func:`check_tapped` after it. When the
URL carries ``record=PATH`` (or :func:`recording_session` is active), the
factory gets the URL without that parameter and a context whose ``recorder``
is a :class:`Recorder`; the transports that can be tapped (``pcsc://``,
``usb://``, ``serial://``, ``tcp://``, ``file://``, ``socket://``, ``evdev://``,
and ``sim://`` devices reached over one of those or as a wedge) hand what they
open to the recorder (:meth:`Recorder.scard`, :meth:`Recorder.tap_escpos`,
:meth:`Recorder.serial_port`, :meth:`Recorder.input_events`). A device that no
transport tapped fails to open when ``record=`` asked for it (nothing would be
recorded); a session just skips it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import attrs

from drivers.params import RECORD
from drivers.registry import DeviceContext
from drivers.traffic.tape import Tape
from drivers.traffic.trace import TraceRecordingError
from drivers.url import DeviceURL

RECORD_PARAM = RECORD.name
RECORDED_KINDS = ("card_reader", "printer", "scanner")

_session_lock = threading.Lock()
_session: Path | None = None
# The session's files by name -> the URL recorded into it: a second device of one
# kind (a dual reader's contact and contactless sides) gets ``<kind>-2.jsonl``.
_session_files: dict[str, str] = {}


class Recorder:
    """One device's trace-to-be: created when the device is opened, written from its
    first tapped transport on."""

    def __init__(self, path: Path, kind: str, url: str, context: DeviceContext) -> None:
        self.path = path
        self.kind = kind
        self.url = url
        self._context = context
        self.tapes: list[Tape] = []

    def tape(self, url: str, **device: Any) -> Tape:
        """Start the trace for the transport named by ``url`` (the innermost one: a
        ``sim://?transport=usb`` printer is recorded as the ``usb://`` device it is)."""
        if self.tapes:
            raise TraceRecordingError(f"{self.path}: one trace records one device")
        tape = Tape(self.path, self.kind, url, self._context.clock, device)
        self.tapes.append(tape)
        return tape

    # The transports call these four with what they opened: the device modules
    # import nothing of drivers.traffic (which replays through them).

    def scard(self, scard: Any, url: DeviceURL, **device: Any) -> Any:
        """pyscard's ``scard`` module with the card traffic recorded (``pcsc://``)."""
        from drivers.traffic.pcsc import RecordingScard

        return RecordingScard(scard, self.tape(url.raw, **device))

    def tap_escpos(self, escpos: Any, url: DeviceURL, **device: Any) -> None:
        """Record what a python-escpos device writes and reads (patched in place)."""
        from drivers.traffic.escpos import tap_escpos

        tap_escpos(escpos, self.tape(url.raw, **device))

    def serial_port(self, port: Any, url: DeviceURL, **device: Any) -> Any:
        """A pyserial port with its traffic recorded (``serial://``, ``socket://``)."""
        from drivers.traffic.serial import RecordingPort

        return RecordingPort(port, self.tape(url.raw, **device))

    def input_events(self, source: Any, url: DeviceURL, **device: Any) -> Any:
        """A keyboard wedge's input source with its events recorded (``evdev://``)."""
        from drivers.traffic.evdev import RecordingSource

        return RecordingSource(source, self.tape(url.raw, **device))

    @property
    def tapped(self) -> bool:
        return bool(self.tapes)


@contextlib.contextmanager
def recording_session(folder: Path) -> Iterator[Path]:
    """Record every card reader, printer and scanner opened meanwhile to
    ``folder/<kind>.jsonl`` (``possim trace record``); a second device of a kind, at
    another URL, to ``folder/<kind>-2.jsonl`` and so on."""
    global _session
    with _session_lock:
        if _session is not None:
            raise TraceRecordingError(f"already recording into {_session}")
        _session = folder
        _session_files.clear()
    try:
        yield folder
    finally:
        with _session_lock:
            _session = None


def strip_param(url: DeviceURL, name: str) -> DeviceURL:
    parts = urlsplit(url.raw)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, True) if k != name])
    raw = urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))
    if not parts.netloc:  # urlunsplit would drop the // of sim://?... and serial:///dev/...
        raw = f"{parts.scheme}://{parts.path}" + (f"?{query}" if query else "")
        raw += f"#{parts.fragment}" if parts.fragment else ""
    params: Mapping[str, str] = {k: v for k, v in url.params.items() if k != name}
    return attrs.evolve(url, raw=raw, params=params)


def attach_recorder(
    kind: str, url: DeviceURL, context: DeviceContext
) -> tuple[DeviceURL, DeviceContext, Recorder | None, bool]:
    """(URL to open, context to open it with, the recorder, whether it must tap)."""
    explicit = url.params.get(RECORD_PARAM)
    if explicit is not None:
        url = strip_param(url, RECORD_PARAM)
        if not explicit:
            raise TraceRecordingError(f"{url.raw}: record= needs a file, e.g. record=card.jsonl")
        if kind not in RECORDED_KINDS:
            raise TraceRecordingError(f"{url.raw}: a {kind} cannot be recorded")
        recorder = Recorder(Path(explicit), kind, url.raw, context)
        return url, attrs.evolve(context, recorder=recorder), recorder, True
    if context.recorder is not None or kind not in RECORDED_KINDS:
        return url, context, None, False  # an inner open of a device already being recorded
    with _session_lock:
        folder = _session
        if folder is None:
            return url, context, None, False
        name, number = f"{kind}.jsonl", 2
        while _session_files.setdefault(name, url.raw) != url.raw:
            name, number = f"{kind}-{number}.jsonl", number + 1
    recorder = Recorder(folder / name, kind, url.raw, context)
    return url, attrs.evolve(context, recorder=recorder), recorder, False


class Recording:
    """The registry's recording hook (:class:`drivers.registry.RecordingHook`)."""

    def attach(
        self, kind: str, url: DeviceURL, context: DeviceContext
    ) -> tuple[DeviceURL, DeviceContext, Callable[[object], None]]:
        url, context, recorder, required = attach_recorder(kind, url, context)

        def check(device: object) -> None:
            if recorder is not None:
                check_tapped(recorder, required, device)

        return url, context, check


RECORDING = Recording()


def check_tapped(recorder: Recorder, required: bool, device: object) -> None:
    if recorder.tapped or not required:
        return
    close = getattr(device, "close", None)
    if callable(close):
        with contextlib.suppress(Exception):
            close()
    raise TraceRecordingError(
        f"{recorder.url}: record= works on real transports (pcsc, usb, serial, tcp, file, "
        "socket, or sim:// with transport=usb/pty/tcp); this device has none to record"
    )
