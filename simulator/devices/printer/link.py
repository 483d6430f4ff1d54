"""How the terminal reaches the virtual printer: in process, USB, serial (pty) or TCP.

``sim://?profile=generic_58mm&transport=tcp`` (or ``possim run
--printer-transport tcp``) still puts the :class:`VirtualPrinter` in the
:class:`SimulatedWorld` -- scenarios check its receipts and inject its faults
the same way -- but the terminal's driver reaches it through a real transport
and python-escpos's own printer class for it. :data:`TRANSPORTS` is the table:

=========  ===================================================  ======================
transport  what carries the bytes                               driver
=========  ===================================================  ======================
sim        a method call (:class:`~.inprocess.PortEscpos`)      in process
usb        the user-space pyusb backend (transports/usb.py)     ``escpos.printer.Usb``
pty        a pseudo-terminal (transports/pty.py)                ``escpos.printer.Serial``
tcp        a TCP 9100-style listener on loopback (transports/)  ``escpos.printer.Network``
=========  ===================================================  ======================

Every transport feeds the printer through its :class:`PrinterPort` (fault
injection). The server a transport starts belongs to the world
(:meth:`SimulatedWorld.own`), not to the driver: closing the driver leaves
the printer reachable until the world closes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from drivers.errors import DeviceURLError
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.printer.transports import open_serial_printer, open_tcp_printer, open_usb_printer
from drivers.registry import DeviceContext
from drivers.url import DeviceURL
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import PortEscpos
from simulator.devices.printer.port import PrinterPort
from simulator.devices.world import SimulatedWorld

# (the port, its world, the driver's context, the profile's name) -> the terminal's driver
Connect = Callable[[PrinterPort, SimulatedWorld, DeviceContext, str], EscposPrinter]


def _in_process(
    port: PrinterPort, world: SimulatedWorld, context: DeviceContext, profile_name: str
) -> EscposPrinter:
    return EscposPrinter(PortEscpos(port), profile=port.profile, name="sim://")


def _over_usb(
    port: PrinterPort, world: SimulatedWorld, context: DeviceContext, profile_name: str
) -> EscposPrinter:
    from simulator.devices.printer.transports.usb import VirtualUsbPrinterBackend, usb_url

    backend = VirtualUsbPrinterBackend(port)
    world.usb_backend = backend
    world.printer_server = backend
    url = DeviceURL.parse(usb_url(backend, profile_name))
    return open_usb_printer(url, context, backend=backend)


def _over_pty(
    port: PrinterPort, world: SimulatedWorld, context: DeviceContext, profile_name: str
) -> EscposPrinter:
    from simulator.devices.printer.transports.pty import PtyPrinter

    pty = PtyPrinter(port)
    world.own(pty.close)
    world.printer_server = pty
    return open_serial_printer(DeviceURL.parse(f"{pty.url}?profile={profile_name}"), context)


def _over_tcp(
    port: PrinterPort, world: SimulatedWorld, context: DeviceContext, profile_name: str
) -> EscposPrinter:
    from simulator.devices.printer.transports.tcp import TcpPrinter

    server = TcpPrinter(port)
    world.own(server.close)
    world.printer_server = server
    return open_tcp_printer(DeviceURL.parse(f"{server.url}?profile={profile_name}"), context)


TRANSPORTS: Mapping[str, Connect] = MappingProxyType(
    {"sim": _in_process, "usb": _over_usb, "pty": _over_pty, "tcp": _over_tcp}
)
PRINTER_TRANSPORTS = tuple(TRANSPORTS)


def open_virtual_printer(
    world: SimulatedWorld,
    context: DeviceContext,
    *,
    profile_name: str,
    transport: str = "sim",
) -> EscposPrinter:
    """A virtual printer in ``world``, and the terminal's driver for it over ``transport``."""
    connect = TRANSPORTS.get(transport)
    if connect is None:
        raise DeviceURLError(
            f"unknown printer transport {transport!r}: expected one of "
            + ", ".join(PRINTER_TRANSPORTS)
        )
    profile = PrinterProfile.load(profile_name)
    printer = VirtualPrinter(profile)
    port = PrinterPort(printer)
    world.printer = printer
    world.printer_port = port
    return connect(port, world, context, profile_name)
