"""Receipt printers by URL, over python-escpos's own transports.

=====================================================  ============================
URL                                                    python-escpos class
=====================================================  ============================
``usb://VID:PID[?in_ep=0x82&out_ep=0x01&timeout=S]``   ``escpos.printer.Usb`` (pyusb)
``serial:///dev/ttyUSB0[?baud=9600&flow=dsrdtr]``      ``escpos.printer.Serial``
``tcp://HOST[:9100][?timeout=S]``                      ``escpos.printer.Network``
``file:///dev/usb/lp0``                                ``escpos.printer.File``
=====================================================  ============================

Every URL also takes ``profile=NAME`` (a printer profile in
``firmware_fixtures/printers/``, default ``generic_58mm``); each scheme's
parameters are declared below (:class:`~drivers.params.UrlParam`, listed in
docs/devices.md). The factories open
the device at once and ask for its status, so a wrong URL fails at start-up
with :class:`~drivers.errors.DeviceUnavailable` saying what to do -- not at the
first receipt.

Status (``DLE EOT``) needs a transport that reads: USB, serial and TCP do;
``file://`` is write-only, so its printer's state is unknown and reported as
ready (see :class:`~drivers.printer.escpos.EscposPrinter`).

A simulation may hand the ``usb`` factory a user-space pyusb backend (its
``SimulatedWorld.usb_backend``): the unchanged ``escpos.printer.Usb`` then
finds the virtual USB printer on it instead of on libusb.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposLibraryError

from drivers.errors import DeviceUnavailable, DeviceURLError, PrinterError
from drivers.params import UrlParam
from drivers.printer import Printer
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.registry import DeviceContext, DeviceRegistry
from drivers.url import DeviceURL

DEFAULT_PROFILE = "generic_58mm"
DEFAULT_TCP_PORT = 9100
DEFAULT_BAUD = 9600
DEFAULT_TIMEOUT = 5.0  # seconds: connect, write and status replies
USB_PRINTER_CLASS = 7
SERIAL_FLOW = ("dsrdtr", "xonxoff", "none")

PROFILE = UrlParam(
    "profile",
    str,
    DEFAULT_PROFILE,
    help="the printer profile in `firmware_fixtures/printers/` (paper width, characters per "
    "line, Chinese, native QR) or a path to a `.yaml` file",
)
TIMEOUT = UrlParam(
    "timeout",
    float,
    DEFAULT_TIMEOUT,
    unit="seconds",
    positive=True,
    help="how long to wait to connect, to send and for a status reply",
)
IN_EP = UrlParam(
    "in_ep",
    int,
    0x82,
    minimum=0,
    maximum=0xFF,
    default_doc="`0x82`",
    help="the bulk IN endpoint (`lsusb -v -d VID:PID` lists them; many POS-58 printers use `0x81`)",
)
OUT_EP = UrlParam(
    "out_ep",
    int,
    0x01,
    minimum=0,
    maximum=0xFF,
    default_doc="`0x01`",
    help="the bulk OUT endpoint (many POS-58 printers use `0x03`)",
)
BAUD = UrlParam("baud", int, DEFAULT_BAUD, positive=True, help="the line speed")
FLOW = UrlParam(
    "flow", str, "dsrdtr", choices=SERIAL_FLOW, help="flow control (python-escpos's default)"
)
USB_PARAMS = (PROFILE, IN_EP, OUT_EP, TIMEOUT)
SERIAL_PARAMS = (PROFILE, BAUD, FLOW, TIMEOUT)
TCP_PARAMS = (PROFILE, TIMEOUT)
FILE_PARAMS = (PROFILE,)

_USB_HINT = (
    "check the cable and `lsusb`; on Linux a non-root user needs a udev rule "
    '(SUBSYSTEM=="usb", ATTR{idVendor}=="VVVV", MODE="0666"; see `possim docs printer`)'
)


def register(registry: DeviceRegistry) -> None:
    """Register all four printer schemes (usb, serial, tcp, file)."""
    register_usb(registry)
    register_serial(registry)
    register_tcp(registry)
    register_file(registry)


def register_usb(registry: DeviceRegistry) -> None:
    registry.register(
        Printer,
        "usb",
        open_usb_printer,
        params=USB_PARAMS,
        usage="usb://VID:PID",
        help="a USB printer (ids in hex, as `lsusb` shows them): python-escpos `Usb` over pyusb",
    )


def register_serial(registry: DeviceRegistry) -> None:
    registry.register(
        Printer,
        "serial",
        open_serial_printer,
        params=SERIAL_PARAMS,
        usage="serial:///dev/ttyUSB0",
        help="an RS-232 or USB-serial printer: python-escpos `Serial` over pyserial",
    )


def register_tcp(registry: DeviceRegistry) -> None:
    registry.register(
        Printer,
        "tcp",
        open_tcp_printer,
        params=TCP_PARAMS,
        usage="tcp://HOST[:9100]",
        help="a network printer on raw TCP (JetDirect, port 9100 by default): "
        "python-escpos `Network`",
    )


def register_file(registry: DeviceRegistry) -> None:
    registry.register(
        Printer,
        "file",
        open_file_printer,
        params=FILE_PARAMS,
        usage="file:///dev/usb/lp0",
        help="the kernel's usblp device, or a file to capture to: python-escpos `File`; "
        "write-only, so no status",
    )


def _profile(url: DeviceURL) -> PrinterProfile:
    return PrinterProfile.load(PROFILE.value(url))


def _cause(exc: BaseException) -> BaseException:
    """The OS-level error behind a python-escpos DeviceNotFoundError, if any."""
    inner = exc.__cause__ or exc.__context__
    return inner if inner is not None else exc


def _tap(
    device: Escpos, url: DeviceURL, context: DeviceContext, profile: PrinterProfile, status: bool
) -> None:
    """Record the device's traffic when the URL asked for it (docs/replay.md)."""
    if context.recorder is not None:  # the recorder taps the device; drivers.traffic is above us
        context.recorder.tap_escpos(device, url, profile=profile.name, status_on_open=status)


def _ready(device: Escpos, url: DeviceURL, profile: PrinterProfile) -> EscposPrinter:
    """Wrap an opened device and check it answers, turning link errors into DeviceUnavailable."""
    printer = EscposPrinter(device, profile=profile, name=url.raw)
    try:
        printer.status()
    except PrinterError as exc:
        _close_quietly(device)
        cause = _cause(exc)
        if isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM):
            raise DeviceUnavailable(
                f"permission denied talking to printer {url.raw}: {cause}; {_permission_hint(url)}"
            ) from exc
        raise DeviceUnavailable(f"printer {url.raw} does not work: {exc}") from exc
    return printer


def _permission_hint(url: DeviceURL) -> str:
    if url.scheme == "usb":
        return _USB_HINT
    if url.scheme == "serial":
        return (
            "add your user to the dialout group (sudo usermod -aG dialout $USER) and log in again"
        )
    return "add your user to the lp group (sudo usermod -aG lp $USER) and log in again"


def _close_quietly(device: Escpos) -> None:
    with contextlib.suppress(EscposLibraryError, OSError):
        device.close()


# -- usb:// -----------------------------------------------------------------------


def parse_usb_ids(url: DeviceURL) -> tuple[int, int]:
    """``usb://0416:5011`` -> (0x0416, 0x5011)."""
    vid, sep, pid = url.target.strip("/").partition(":")
    try:
        if not sep:
            raise ValueError
        ids = int(vid, 16), int(pid, 16)
    except ValueError:
        raise DeviceURLError(
            f"{url.raw}: expected usb://VID:PID with hexadecimal ids, e.g. usb://0416:5011"
        ) from None
    if not all(0 <= value <= 0xFFFF for value in ids):
        raise DeviceURLError(f"{url.raw}: USB ids are 4 hex digits each")
    return ids


def open_usb_printer(
    url: DeviceURL, context: DeviceContext, *, backend: Any = None
) -> EscposPrinter:
    """``usb://VID:PID``: python-escpos ``Usb`` over pyusb (or ``backend``, see module doc)."""
    vid, pid = parse_usb_ids(url)
    in_ep = IN_EP.value(url)
    out_ep = OUT_EP.value(url)
    timeout_ms = int(TIMEOUT.value(url) * 1000)
    profile = _profile(url)
    if backend is None:
        backend = getattr(context.simulation, "usb_backend", None)
    try:
        import usb.core
        from escpos.printer import Usb
    except ImportError:
        raise DeviceUnavailable(
            f"{url.raw}: USB printers need pyusb: pip install pyusb (and libusb-1.0)"
        ) from None
    usb_args: dict[str, Any] = {}
    if backend is not None:
        usb_args["backend"] = backend
    device = Usb(
        vid,
        pid,
        usb_args=usb_args,
        timeout=timeout_ms,
        in_ep=in_ep,
        out_ep=out_ep,
        profile=profile.escpos_profile,
    )
    try:
        device.open()
    except usb.core.NoBackendError:
        raise DeviceUnavailable(
            f"{url.raw}: pyusb found no USB library: install libusb-1.0 "
            "(apt-get install libusb-1.0-0)"
        ) from None
    except EscposLibraryError as exc:
        present = _usb_printers_present(backend)
        raise DeviceUnavailable(
            f"no USB device {vid:04x}:{pid:04x} for {url.raw}; USB printers present: "
            f"{present or 'none'}; {_USB_HINT}"
        ) from exc
    _tap(device, url, context, profile, status=True)
    return _ready(device, url, profile)


def _usb_printers_present(backend: Any) -> str:
    """``0416:5011 (POS58), ...`` -- USB printers (class 7) pyusb can see."""
    try:
        import usb.core

        found = []
        for dev in usb.core.find(find_all=True, backend=backend):
            if dev.bDeviceClass == USB_PRINTER_CLASS or any(
                intf.bInterfaceClass == USB_PRINTER_CLASS for cfg in dev for intf in cfg
            ):
                found.append(f"{dev.idVendor:04x}:{dev.idProduct:04x}")
        return ", ".join(found)
    except Exception:  # listing is only a hint; never mask the real error
        return "(cannot list)"


# -- serial:// --------------------------------------------------------------------


def _serial_class() -> type[Escpos]:
    from escpos.printer import Serial

    class _Serial(Serial):  # type: ignore[misc]  # python-escpos is untyped
        """``Serial`` whose status read returns as soon as the reply is in.

        python-escpos reads 16 bytes with the port timeout, so every one-byte
        status reply would cost the whole timeout; this reads the first byte
        (waiting up to the timeout) and then whatever else has arrived.
        """

        def _read(self) -> bytes:
            port = self.device
            first: bytes = port.read(1)
            if not first:
                return first
            waiting = port.in_waiting
            rest: bytes = port.read(min(waiting, 15)) if waiting else b""
            return first + rest

    return _Serial


def open_serial_printer(url: DeviceURL, context: DeviceContext) -> EscposPrinter:
    """``serial:///dev/ttyUSB0?baud=9600``: python-escpos ``Serial`` (pyserial)."""
    path = url.target
    if not path:
        raise DeviceURLError(f"{url.raw}: expected serial:///dev/ttyX?baud=N")
    baud = BAUD.value(url)
    timeout = TIMEOUT.value(url)
    flow = FLOW.value(url)
    profile = _profile(url)
    try:
        serial_class = _serial_class()
    except (ImportError, RuntimeError):
        raise DeviceUnavailable(
            f"{url.raw}: serial printers need pyserial: pip install pyserial"
        ) from None
    if not os.path.exists(path):
        raise DeviceUnavailable(
            f"no serial device {path} for {url.raw}; serial ports present: "
            f"{_serial_ports_present() or 'none'}; check the cable (USB-serial adapters "
            "appear as /dev/ttyUSB* or /dev/ttyACM*)"
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise DeviceUnavailable(
            f"permission denied opening {path} for {url.raw}; {_permission_hint(url)}"
        )
    device = serial_class(
        devfile=path,
        baudrate=baud,
        timeout=timeout,
        xonxoff=flow == "xonxoff",
        dsrdtr=flow == "dsrdtr",
        profile=profile.escpos_profile,
    )
    try:
        device.open()
    except EscposLibraryError as exc:
        raise DeviceUnavailable(f"cannot open serial printer {url.raw}: {_cause(exc)}") from exc
    _tap(device, url, context, profile, status=True)
    return _ready(device, url, profile)


def _serial_ports_present() -> str:
    try:
        from serial.tools import list_ports

        return ", ".join(sorted(port.device for port in list_ports.comports()))
    except Exception:  # only a hint
        return "(cannot list)"


# -- tcp:// -----------------------------------------------------------------------


def parse_tcp_address(url: DeviceURL) -> tuple[str, int]:
    parts = urlsplit(url.raw)
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise DeviceURLError(f"{url.raw}: the port must be a number 1-65535") from None
    if not host:
        raise DeviceURLError(f"{url.raw}: expected tcp://HOST[:PORT], e.g. tcp://192.168.1.50:9100")
    return host, DEFAULT_TCP_PORT if port is None else port


def open_tcp_printer(url: DeviceURL, context: DeviceContext) -> EscposPrinter:
    """``tcp://HOST:9100``: python-escpos ``Network`` (raw TCP, "JetDirect")."""
    host, port = parse_tcp_address(url)
    timeout = TIMEOUT.value(url)
    profile = _profile(url)
    from escpos.printer import Network

    device = Network(host, port, timeout=timeout, profile=profile.escpos_profile)
    try:
        device.open()
    except EscposLibraryError as exc:
        cause = _cause(exc)
        if isinstance(cause, ConnectionRefusedError):
            problem = (
                f"connection refused by {host}:{port}: nothing listens there; check the "
                "printer is on, its IP address (print its self-test page) and the port "
                "(network printers listen on 9100)"
            )
        elif isinstance(cause, (TimeoutError, socket.timeout)):
            problem = (
                f"no answer from {host}:{port} within {timeout:g} s: check the address and "
                "that the printer is on the same network"
            )
        elif isinstance(cause, socket.gaierror):
            problem = f"unknown host {host!r}: {cause}"
        else:
            problem = f"cannot connect to {host}:{port}: {cause}"
        raise DeviceUnavailable(f"printer {url.raw}: {problem}") from exc
    # A status query is a few bytes after a job: do not let Nagle hold it back.
    device.device.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    _tap(device, url, context, profile, status=True)
    return _ready(device, url, profile)


# -- file:// ----------------------------------------------------------------------


def open_file_printer(url: DeviceURL, context: DeviceContext) -> EscposPrinter:
    """``file:///dev/usb/lp0``: python-escpos ``File``. Write-only: no status."""
    path = url.target
    if not path:
        raise DeviceURLError(f"{url.raw}: expected file:///dev/usb/lp0 (or a file to capture to)")
    profile = _profile(url)
    if path.startswith("/dev/") and not os.path.exists(path):
        raise DeviceUnavailable(
            f"no printer device {path} for {url.raw}: is the printer plugged in and on? "
            "(the usblp kernel driver creates /dev/usb/lp0 for USB printers)"
        )
    if os.path.exists(path):
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise DeviceUnavailable(f"{url.raw}: {path} is a folder, not a printer device")
        if not os.access(path, os.W_OK):
            raise DeviceUnavailable(
                f"permission denied writing {path} for {url.raw}; {_permission_hint(url)}"
            )
    from escpos.printer import File

    device = File(path, profile=profile.escpos_profile)
    try:
        device.open()
    except EscposLibraryError as exc:
        raise DeviceUnavailable(f"cannot open printer {url.raw}: {_cause(exc)}") from exc
    _tap(device, url, context, profile, status=False)
    # File cannot read: EscposPrinter reports its status as unknown (assumed ready).
    return EscposPrinter(device, profile=profile, name=f"{url.raw} (write-only, no status)")


FACTORIES: dict[str, Callable[[DeviceURL, DeviceContext], EscposPrinter]] = {
    "usb": open_usb_printer,
    "serial": open_serial_printer,
    "tcp": open_tcp_printer,
    "file": open_file_printer,
}
