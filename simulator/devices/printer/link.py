"""How the terminal reaches the virtual printer: in process, USB, serial (pty) or TCP.

``sim://?profile=generic_58mm&transport=tcp`` (or ``possim run
--printer-transport tcp``) still puts the :class:`VirtualPrinter` in the
:class:`SimulatedWorld` -- scenarios check its receipts and inject its faults
the same way -- but the terminal's driver reaches it through a real transport
and python-escpos's own printer class for it:

=========  ===================================================  ======================
transport  what carries the bytes                               driver
=========  ===================================================  ======================
sim        a method call (:class:`PortEscpos`)                  in process
usb        the user-space pyusb backend (usb_backend.py)        ``escpos.printer.Usb``
pty        a pseudo-terminal (printer_pty.py)                   ``escpos.printer.Serial``
tcp        a TCP 9100-style listener on loopback (printer_tcp)  ``escpos.printer.Network``
=========  ===================================================  ======================
"""

from __future__ import annotations

from drivers.errors import DeviceURLError
from drivers.printer.escpos import EscposPrinter
from drivers.printer.profile import PrinterProfile
from drivers.printer.transports import open_serial_printer, open_tcp_printer, open_usb_printer
from drivers.registry import DeviceContext, DeviceURL
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.inprocess import PortEscpos
from simulator.devices.printer.port import PrinterPort
from simulator.devices.world import SimulatedWorld

PRINTER_TRANSPORTS = ("sim", "usb", "pty", "tcp")


def open_virtual_printer(
    world: SimulatedWorld,
    context: DeviceContext,
    *,
    profile_name: str,
    transport: str = "sim",
) -> EscposPrinter:
    """A virtual printer in ``world``, and the terminal's driver for it over ``transport``."""
    if transport not in PRINTER_TRANSPORTS:
        raise DeviceURLError(
            f"unknown printer transport {transport!r}: expected one of "
            + ", ".join(PRINTER_TRANSPORTS)
        )
    profile = PrinterProfile.load(profile_name)
    printer = VirtualPrinter(profile)
    port = PrinterPort(printer)
    world.printer = printer
    world.printer_port = port
    if transport == "sim":
        return EscposPrinter(PortEscpos(port), profile=profile, name="sim://")
    query = f"?profile={profile_name}"
    if transport == "usb":
        from simulator.devices.printer.transports.usb import VirtualUsbPrinterBackend, usb_url

        backend = VirtualUsbPrinterBackend(port)
        world.usb_backend = backend
        world.printer_server = backend
        url = DeviceURL.parse(usb_url(backend, profile_name))
        return open_usb_printer(url, context, backend=backend)
    if transport == "pty":
        from simulator.devices.printer.transports.pty import PtyPrinter

        pty = PtyPrinter(port)
        world.printer_server = pty
        try:
            driver = open_serial_printer(DeviceURL.parse(pty.url + query), context)
        except BaseException:
            pty.close()
            raise
        driver.closers.append(pty.close)
        return driver
    from simulator.devices.printer.transports.tcp import TcpPrinter

    server = TcpPrinter(port)
    world.printer_server = server
    try:
        driver = open_tcp_printer(DeviceURL.parse(server.url + query), context)
    except BaseException:
        server.close()
        raise
    driver.closers.append(server.close)
    return driver
