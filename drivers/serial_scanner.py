"""Barcode / QR scanners on a serial line or USB-CDC port, over pyserial.

=======================================================================  =====================
URL                                                                      transport
=======================================================================  =====================
``serial:///dev/ttyACM0?baud=9600&suffix=CR&prefix=&profile=generic_cdc``  ``serial.Serial``
``socket://HOST:PORT?suffix=CRLF``                                       pyserial ``socket://``
=======================================================================  =====================

A scanner sends each code as ``prefix + code + suffix``. The framing comes from
a scanner profile (``firmware_fixtures/scanners/<profile>.yaml``, default
``generic_cdc``); ``prefix``, ``suffix``, ``baud`` and ``max_length`` in the URL
override it. ``suffix`` is one of ``CR``, ``LF``, ``CRLF``, ``TAB`` or ``none``
(``none``: a code ends when the line has been idle for ``gap`` ms, default 50).

The driver never dedupes (a doubled scan gives two codes; that is the app's
call) and never crashes on what the wire carries: a frame that is not
printable text, lacks the prefix or is longer than ``max_length`` is skipped
and reported as a :class:`ScanError` (see :meth:`SerialScanner.take_errors`).
Empty frames and stray CR / LF around a code (a scanner sending CRLF to a
driver told ``CR``) are ignored silently.

A background thread reads the port in short slices and wakes the context
clock when a code is complete; :meth:`SerialScanner.read_code` waits on the
clock with :func:`~drivers.clock.poll_until`, since a real port never notifies
a clock. The ``none`` suffix's idle gap is a property of the wire, so it is
measured on the wall clock (pyserial's read timeout).
"""

from __future__ import annotations

import errno
import os
from collections import deque
from pathlib import Path
from typing import Any

import attrs

from drivers import fixtures
from drivers.clock import Clock
from drivers.errors import DeviceUnavailable, DeviceURLError, DriverError
from drivers.fixtures import FixtureFileError
from drivers.params import UrlParam
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.scanner import MAX_QUEUED_CODES, READ_SLICE, Scanner, ThreadedScanner
from drivers.url import DeviceURL

CATEGORY = "scanners"
SUFFIXES = (".yaml", ".yml")
DEFAULT_PROFILE = "generic_cdc"
DEFAULT_GAP_MS = 50
SUFFIX_BYTES: dict[str, bytes] = {
    "CR": b"\r",
    "LF": b"\n",
    "CRLF": b"\r\n",
    "TAB": b"\t",
    "none": b"",
}
PROFILE = UrlParam(
    "profile",
    str,
    DEFAULT_PROFILE,
    help="the scanner profile in `firmware_fixtures/scanners/` (its framing, below, and "
    "speed) or a path to a `.yaml` file",
)
SUFFIX: UrlParam[str | None] = UrlParam(
    "suffix",
    str,
    None,
    choices=tuple(SUFFIX_BYTES),
    ignore_case=True,
    default_doc="the profile's",
    help="what ends a code; `none`: a code ends when the line has been idle for `gap` ms",
)
PREFIX: UrlParam[str | None] = UrlParam(
    "prefix",
    str,
    None,
    default_doc="the profile's",
    help="stripped from each code (a frame without it is skipped and reported); "
    "percent-encode control characters (`%02` for STX)",
)
BAUD: UrlParam[int | None] = UrlParam(
    "baud",
    int,
    None,
    positive=True,
    default_doc="the profile's",
    help="the line speed (USB-CDC and `socket://` ignore it)",
)
MAX_LENGTH: UrlParam[int | None] = UrlParam(
    "max_length",
    int,
    None,
    positive=True,
    unit="characters",
    default_doc="the profile's",
    help="a longer frame is skipped and reported",
)
GAP = UrlParam(
    "gap",
    int,
    DEFAULT_GAP_MS,
    positive=True,
    unit="milliseconds",
    help="with `suffix=none`, the idle time that ends a code (wall-clock: a property of "
    "the wire, not of the simulation)",
)
URL_PARAMS = (PROFILE, SUFFIX, PREFIX, BAUD, MAX_LENGTH, GAP)


class ScannerProfileError(DriverError, FixtureFileError):
    """A scanner profile is missing, unknown or malformed (``path:line: problem``)."""


@attrs.frozen
class ScannerProfile:
    """How one scanner model frames its codes."""

    name: str
    prefix: str = ""
    suffix: str = "CR"
    baud: int = 9600
    max_length: int = 512
    vendor: str = "Generic"
    notes: str = ""
    source: Path | None = attrs.field(default=None, eq=False)

    @property
    def suffix_bytes(self) -> bytes:
        return SUFFIX_BYTES[self.suffix]

    @classmethod
    def load(cls, name_or_path: str | Path) -> ScannerProfile:
        path = fixtures.locate(
            CATEGORY, name_or_path, SUFFIXES, "scanner profile", ScannerProfileError
        )
        data = fixtures.load(path, error=ScannerProfileError)
        return cls.from_mapping(data, source=path)

    @classmethod
    def from_mapping(cls, data: Any, *, source: Path | str = "<profile>") -> ScannerProfile:
        path = Path(source)

        def fail(key: str | None, problem: str) -> ScannerProfileError:
            line = fixtures.line_at(data, key) if key else fixtures.line_of(data)
            return ScannerProfileError(
                path, f"field {key}: {problem}" if key else problem, line=line
            )

        if not isinstance(data, dict):
            raise fail(None, f"expected a mapping of fields, got {type(data).__name__}")
        allowed = {"name", "vendor", "notes", "prefix", "suffix", "baud", "max_length"}
        for key in data:
            if key not in allowed:
                raise fail(key, f"unknown field; expected one of {', '.join(sorted(allowed))}")
        for key in ("name", "vendor", "notes", "prefix"):
            if key in data and not isinstance(data[key], str):
                raise fail(key, f"expected a string, got {data[key]!r}")
        suffix = data.get("suffix", "CR")
        if suffix not in SUFFIX_BYTES:
            raise fail("suffix", f"expected one of {', '.join(SUFFIX_BYTES)}, got {suffix!r}")
        for key in ("baud", "max_length"):
            value = data.get(key, 1)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise fail(key, f"expected a positive integer, got {value!r}")
        return cls(
            name=data.get("name", path.stem),
            prefix=data.get("prefix", ""),
            suffix=suffix,
            baud=data.get("baud", 9600),
            max_length=data.get("max_length", 512),
            vendor=data.get("vendor", "Generic"),
            notes=data.get("notes", "").strip(),
            source=path,
        )


def available_profiles() -> list[str]:
    return fixtures.names(CATEGORY, SUFFIXES)


@attrs.frozen
class ScanError:
    """A frame the driver skipped: ``kind`` is ``not_text``, ``not_printable``,
    ``no_prefix``, ``too_long`` or ``port_failed``; ``raw`` the bytes dropped."""

    kind: str
    detail: str
    raw: bytes = b""


class SerialScanner(ThreadedScanner):
    """A scanner on an open pyserial port (see the module docstring)."""

    def __init__(
        self,
        port: Any,
        *,
        clock: Clock,
        prefix: str = "",
        suffix: bytes = b"\r",
        max_length: int = 512,
        name: str = "scanner",
    ) -> None:
        super().__init__(clock=clock, name=name, thread_name="possim-scanner")
        self._port = port
        self._prefix = prefix
        self._suffix = suffix
        self._max_length = max_length
        self._errors: deque[ScanError] = deque()
        self._pending = bytearray()
        self._discarding = False
        self._thread.start()

    def take_errors(self) -> list[ScanError]:
        """The frames skipped since the last call, oldest first."""
        with self._lock:
            errors = list(self._errors)
            self._errors.clear()
            return errors

    def _close_device(self) -> None:
        self._port.close()

    # -- the reader thread ----------------------------------------------------

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                waiting = self._port.in_waiting
                data = self._port.read(max(1, waiting))
            except Exception as exc:  # unplugged, socket closed: report, never crash
                if not self._stopping.is_set():
                    with self._lock:
                        self._fail(f"port failed: {exc}")
                        self._errors.append(ScanError("port_failed", str(exc)))
                    self._clock.notify()
                return
            with self._lock:
                if data:
                    self._feed(data)
                elif not self._suffix and self._pending:
                    self._frame(bytes(self._pending))  # suffix none: an idle gap ends a code
                    self._pending.clear()
            self._clock.notify()

    def _feed(self, data: bytes) -> None:
        self._pending += data
        if not self._suffix:
            return
        while True:
            end = self._pending.find(self._suffix)
            if end < 0:
                break
            frame = bytes(self._pending[:end])
            del self._pending[: end + len(self._suffix)]
            if self._discarding:
                self._discarding = False
                continue
            self._frame(frame)
        limit = len(self._prefix.encode()) + self._max_length + 2  # + stray CR/LF
        if len(self._pending) > limit:
            if not self._discarding:
                self._errors.append(
                    ScanError(
                        "too_long",
                        f"no suffix within {limit} bytes; skipping to the next suffix",
                        bytes(self._pending[:64]),
                    )
                )
            self._discarding = True
            self._pending.clear()

    def _frame(self, frame: bytes) -> None:
        frame = frame.strip(b"\r\n")
        if not frame:
            return
        try:
            text = frame.decode("utf-8")
        except UnicodeDecodeError:
            self._errors.append(ScanError("not_text", "not UTF-8 text", frame))
            return
        if self._prefix:
            if not text.startswith(self._prefix):
                self._errors.append(
                    ScanError("no_prefix", f"does not start with {self._prefix!r}", frame)
                )
                return
            text = text[len(self._prefix) :]
        if not text.isprintable():
            self._errors.append(ScanError("not_printable", "control characters in code", frame))
            return
        if len(text) > self._max_length:
            self._errors.append(
                ScanError("too_long", f"{len(text)} characters > {self._max_length}", frame)
            )
            return
        if text and not self._deliver(text):
            self._errors.append(
                ScanError("queue_full", f"more than {MAX_QUEUED_CODES} codes not read", frame)
            )


# -- registration and opening --------------------------------------------------------


def register(registry: DeviceRegistry) -> None:
    registry.register(
        Scanner,
        "serial",
        open_serial_scanner,
        params=URL_PARAMS,
        usage="serial:///dev/ttyACM0",
        help="a USB-CDC or RS-232 scanner gun: pyserial `serial.Serial`",
    )
    registry.register(
        Scanner,
        "socket",
        open_serial_scanner,
        params=URL_PARAMS,
        usage="socket://HOST:PORT",
        help="a scanner behind TCP (a serial-to-Ethernet box, a test server): pyserial's "
        "`socket://` handler",
    )


def _framing(url: DeviceURL) -> tuple[str, bytes, int, int]:
    profile = ScannerProfile.load(PROFILE.value(url))
    suffix = SUFFIX.value(url) or profile.suffix  # the profile's was checked on loading
    max_length = MAX_LENGTH.value(url) or profile.max_length
    baud = BAUD.value(url) or profile.baud
    prefix = PREFIX.value(url)
    return profile.prefix if prefix is None else prefix, SUFFIX_BYTES[suffix], max_length, baud


def open_serial_scanner(url: DeviceURL, context: DeviceContext) -> SerialScanner:
    """``serial:///dev/ttyACM0?...`` or ``socket://HOST:PORT?...`` (see the module doc)."""
    prefix, suffix, max_length, baud = _framing(url)
    gap = GAP.value(url) / 1000
    timeout = gap if not suffix else READ_SLICE
    try:
        import serial
    except ImportError:
        raise DeviceUnavailable(
            f"{url.raw}: scanners need pyserial: pip install pyserial"
        ) from None
    if url.scheme == "socket":
        if not url.target:
            raise DeviceURLError(f"{url.raw}: expected socket://HOST:PORT")
        try:
            port = serial.serial_for_url(f"socket://{url.target}", timeout=timeout)
        except (serial.SerialException, ValueError) as exc:
            raise DeviceUnavailable(f"cannot reach scanner {url.raw}: {exc}") from exc
    else:
        port = _open_serial(url, serial, baud, timeout)
    if context.recorder is not None:  # record= (docs/replay.md): the recorder wraps the port
        port = context.recorder.serial_port(
            port, url, prefix=prefix, suffix=suffix.hex(), max_length=max_length, timeout=timeout
        )
    return SerialScanner(
        port, clock=context.clock, prefix=prefix, suffix=suffix, max_length=max_length, name=url.raw
    )


def _open_serial(url: DeviceURL, serial: Any, baud: int, timeout: float) -> Any:
    path = url.target
    if not path:
        raise DeviceURLError(f"{url.raw}: expected serial:///dev/ttyACM0?baud=N")
    if not os.path.exists(path):
        raise DeviceUnavailable(
            f"no serial device {path} for scanner {url.raw}; serial ports present: "
            f"{_serial_ports_present() or 'none'}; check the cable (USB-CDC scanners appear "
            "as /dev/ttyACM*, USB-serial adapters as /dev/ttyUSB*)"
        )
    denied = (
        f"permission denied opening {path} for scanner {url.raw}; add your user to the "
        "dialout group (sudo usermod -aG dialout $USER) and log in again"
    )
    if not os.access(path, os.R_OK | os.W_OK):
        raise DeviceUnavailable(denied)
    try:
        return serial.Serial(path, baud, timeout=timeout)
    except serial.SerialException as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise DeviceUnavailable(denied) from exc
        raise DeviceUnavailable(f"cannot open scanner {url.raw}: {exc}") from exc


def _serial_ports_present() -> str:
    try:
        from serial.tools import list_ports

        return ", ".join(sorted(port.device for port in list_ports.comports()))
    except Exception:  # only a hint
        return "(cannot list)"
