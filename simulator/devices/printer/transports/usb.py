"""A user-space pyusb backend presenting the virtual printer as a USB printer.

:class:`VirtualUsbPrinterBackend` implements ``usb.backend.IBackend`` (no
libusb, no kernel): ``usb.core.find(backend=...)`` enumerates one device, a
USB printer class device (interface class 7, subclass 1, protocol 2
"bidirectional") with a bulk OUT endpoint whose data feeds the
:class:`~simulator.devices.printer.port.PrinterPort` and a bulk IN endpoint
that returns the printer's status replies. So the unchanged
``escpos.printer.Usb(vid, pid, usb_args={"backend": backend})`` prints to it::

    backend = VirtualUsbPrinterBackend(port)
    printer = escpos.printer.Usb(0x0416, 0x5011, usb_args={"backend": backend})

It also answers what a host asks a printer on endpoint 0: the standard
descriptors and strings (``usb.util.get_string``), and the printer class
requests GET_DEVICE_ID (an IEEE 1284 device id), GET_PORT_STATUS (paper
empty / select / not error) and SOFT_RESET.

A bulk IN read with no reply queued fails at once with ``USBTimeoutError`` (a
real device NAKs until the timeout: waiting would only cost real time).
:meth:`unplug` makes every later transfer fail with ``ENODEV`` as a pulled
cable does; :meth:`plug_in` brings the device back.
"""

from __future__ import annotations

import array
import errno
import threading

import attrs
import usb.backend
import usb.core

from simulator.devices.printer.port import PrinterPort

DEFAULT_VID = 0x0416
DEFAULT_PID = 0x5011
DEFAULT_IN_EP = 0x82
DEFAULT_OUT_EP = 0x01
USB_CLASS_PRINTER = 7
PRINTER_SUBCLASS = 1
PROTOCOL_BIDIRECTIONAL = 2
BULK = 0x02  # bmAttributes transfer type
MAX_PACKET = 64
LANGID_EN_US = 0x0409

# bmRequestType / bRequest values the backend answers on endpoint 0.
_GET_DESCRIPTOR = 0x06
_GET_STATUS = 0x00
_DESC_DEVICE, _DESC_CONFIG, _DESC_STRING = 1, 2, 3
_PRINTER_GET_DEVICE_ID = 0x00
_PRINTER_GET_PORT_STATUS = 0x01
_PRINTER_SOFT_RESET = 0x02
_PORT_PAPER_EMPTY = 0x20
_PORT_SELECT = 0x10
_PORT_NOT_ERROR = 0x08

_LIBUSB_ERROR_TIMEOUT = -7
_LIBUSB_ERROR_NO_DEVICE = -4
_LIBUSB_ERROR_PIPE = -9
_LIBUSB_ERROR_NOT_FOUND = -5


@attrs.define
class _DeviceDescriptor:
    idVendor: int
    idProduct: int
    bLength: int = 18
    bDescriptorType: int = _DESC_DEVICE
    bcdUSB: int = 0x0200
    bDeviceClass: int = 0
    bDeviceSubClass: int = 0
    bDeviceProtocol: int = 0
    bMaxPacketSize0: int = MAX_PACKET
    bcdDevice: int = 0x0100
    iManufacturer: int = 1
    iProduct: int = 2
    iSerialNumber: int = 3
    bNumConfigurations: int = 1
    address: int = 1
    bus: int = 1
    port_number: int = 1
    port_numbers: tuple[int, ...] = (1,)
    speed: int = 3  # usb.util.SPEED_HIGH


@attrs.define
class _ConfigurationDescriptor:
    bLength: int = 9
    bDescriptorType: int = _DESC_CONFIG
    wTotalLength: int = 9 + 9 + 7 + 7
    bNumInterfaces: int = 1
    bConfigurationValue: int = 1
    iConfiguration: int = 0
    bmAttributes: int = 0xC0
    bMaxPower: int = 1
    extra_descriptors: list[int] = attrs.field(factory=list)


@attrs.define
class _InterfaceDescriptor:
    bLength: int = 9
    bDescriptorType: int = 4
    bInterfaceNumber: int = 0
    bAlternateSetting: int = 0
    bNumEndpoints: int = 2
    bInterfaceClass: int = USB_CLASS_PRINTER
    bInterfaceSubClass: int = PRINTER_SUBCLASS
    bInterfaceProtocol: int = PROTOCOL_BIDIRECTIONAL
    iInterface: int = 0
    extra_descriptors: list[int] = attrs.field(factory=list)


@attrs.define
class _EndpointDescriptor:
    bEndpointAddress: int
    bLength: int = 7
    bDescriptorType: int = 5
    bmAttributes: int = BULK
    wMaxPacketSize: int = MAX_PACKET
    bInterval: int = 0
    bRefresh: int = 0
    bSynchAddress: int = 0
    extra_descriptors: list[int] = attrs.field(factory=list)


class _Handle:
    """What open_device returns; pyusb treats it as opaque."""

    def __init__(self, device: object) -> None:
        self.device = device
        self.claimed: set[int] = set()


class VirtualUsbPrinterBackend(usb.backend.IBackend):  # type: ignore[misc]  # pyusb is untyped
    """One virtual USB printer on a pyusb backend (see the module docstring)."""

    def __init__(
        self,
        port: PrinterPort,
        *,
        vid: int = DEFAULT_VID,
        pid: int = DEFAULT_PID,
        in_ep: int = DEFAULT_IN_EP,
        out_ep: int = DEFAULT_OUT_EP,
        manufacturer: str = "possim",
        product: str = "possim virtual receipt printer",
        serial_number: str = "POSSIM0001",
    ) -> None:
        if not in_ep & 0x80 or out_ep & 0x80:
            raise ValueError("in_ep needs bit 7 set (0x81-0x8F), out_ep clear (0x01-0x0F)")
        self.port = port
        self.vid, self.pid = vid, pid
        self.in_ep, self.out_ep = in_ep, out_ep
        self._device = _DeviceDescriptor(idVendor=vid, idProduct=pid)
        self._strings = {1: manufacturer, 2: product, 3: serial_number}
        self._endpoints = (_EndpointDescriptor(out_ep), _EndpointDescriptor(in_ep))
        self._plugged = True
        # Device state, kept across handles; libusb's reset restores it too.
        self._configuration = 0
        self._lock = threading.Lock()
        self.transfers = 0  # bulk transfers served (for tests and traces)

    # -- the cable ----------------------------------------------------------------

    def unplug(self) -> None:
        self._plugged = False

    def plug_in(self) -> None:
        self._plugged = True

    @property
    def plugged(self) -> bool:
        return self._plugged

    def _check(self) -> None:
        if not self._plugged:
            raise usb.core.USBError(
                "No such device (it may have been disconnected)",
                _LIBUSB_ERROR_NO_DEVICE,
                errno.ENODEV,
            )

    # -- enumeration and descriptors ------------------------------------------------

    def enumerate_devices(self) -> list[object]:
        return [self._device] if self._plugged else []

    def get_parent(self, dev: object) -> None:
        return None

    def get_device_descriptor(self, dev: object) -> _DeviceDescriptor:
        return self._device

    def get_configuration_descriptor(self, dev: object, config: int) -> _ConfigurationDescriptor:
        if config != 0:
            raise IndexError("configuration index out of range")
        return _ConfigurationDescriptor()

    def get_interface_descriptor(
        self, dev: object, intf: int, alt: int, config: int
    ) -> _InterfaceDescriptor:
        if config != 0 or intf != 0 or alt != 0:
            raise IndexError("interface index out of range")
        return _InterfaceDescriptor()

    def get_endpoint_descriptor(
        self, dev: object, ep: int, intf: int, alt: int, config: int
    ) -> _EndpointDescriptor:
        if config != 0 or intf != 0 or alt != 0 or not 0 <= ep < len(self._endpoints):
            raise IndexError("endpoint index out of range")
        return self._endpoints[ep]

    # -- device handle --------------------------------------------------------------

    def open_device(self, dev: object) -> _Handle:
        self._check()
        return _Handle(dev)

    def close_device(self, dev_handle: _Handle) -> None:
        dev_handle.claimed.clear()

    def set_configuration(self, dev_handle: _Handle, config_value: int) -> None:
        self._check()
        if config_value not in (0, 1):
            raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)
        self._configuration = config_value

    def get_configuration(self, dev_handle: _Handle) -> int:
        self._check()
        return self._configuration

    def set_interface_altsetting(self, dev_handle: _Handle, intf: int, altsetting: int) -> None:
        self._check()
        if intf != 0 or altsetting != 0:
            raise usb.core.USBError("Entity not found", _LIBUSB_ERROR_NOT_FOUND, errno.ENOENT)

    def claim_interface(self, dev_handle: _Handle, intf: int) -> None:
        self._check()
        dev_handle.claimed.add(intf)

    def release_interface(self, dev_handle: _Handle, intf: int) -> None:
        dev_handle.claimed.discard(intf)

    def clear_halt(self, dev_handle: _Handle, ep: int) -> None:
        self._check()

    def reset_device(self, dev_handle: _Handle) -> None:
        self._check()

    def is_kernel_driver_active(self, dev_handle: _Handle, intf: int) -> bool:
        return False

    def detach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        pass

    def attach_kernel_driver(self, dev_handle: _Handle, intf: int) -> None:
        pass

    # -- transfers ------------------------------------------------------------------

    def bulk_write(
        self, dev_handle: _Handle, ep: int, intf: int, data: array.array[int], timeout: int
    ) -> int:
        self._check()
        if ep != self.out_ep:
            raise usb.core.USBError("Pipe error", _LIBUSB_ERROR_PIPE, errno.EPIPE)
        payload = bytes(data)
        with self._lock:
            self.transfers += 1
            self.port.feed(payload)
        return len(payload)

    def bulk_read(
        self, dev_handle: _Handle, ep: int, intf: int, buff: array.array[int], timeout: int
    ) -> int:
        self._check()
        if ep != self.in_ep:
            raise usb.core.USBError("Pipe error", _LIBUSB_ERROR_PIPE, errno.EPIPE)
        with self._lock:
            self.transfers += 1
            reply = self.port.read_reply(len(buff))
        if not reply:
            raise usb.core.USBTimeoutError(
                "Operation timed out", _LIBUSB_ERROR_TIMEOUT, errno.ETIMEDOUT
            )
        buff[: len(reply)] = array.array("B", reply)
        return len(reply)

    def ctrl_transfer(
        self,
        dev_handle: _Handle,
        bmRequestType: int,
        bRequest: int,
        wValue: int,
        wIndex: int,
        data: array.array[int],
        timeout: int,
    ) -> int:
        self._check()
        reply = self._control_reply(bmRequestType, bRequest, wValue)
        if bmRequestType & 0x80 == 0:  # host to device: accepted
            if bmRequestType & 0x60 == 0x20 and bRequest == _PRINTER_SOFT_RESET:
                self.port.printer.power_cycle()
            return len(data)
        if reply is None:
            raise usb.core.USBError("Pipe error", _LIBUSB_ERROR_PIPE, errno.EPIPE)
        reply = reply[: len(data)]
        data[: len(reply)] = array.array("B", reply)
        return len(reply)

    def _control_reply(self, request_type: int, request: int, value: int) -> bytes | None:
        kind = request_type & 0x60
        if kind == 0x00 and request == _GET_DESCRIPTOR:
            return self._descriptor(value >> 8, value & 0xFF)
        if kind == 0x00 and request == _GET_STATUS:
            return b"\x01\x00"  # self powered
        if kind == 0x20 and request == _PRINTER_GET_DEVICE_ID:
            profile = self.port.profile
            device_id = (
                f"MFG:{self._strings[1]};CMD:ESC/POS;MDL:{profile.name};CLS:PRINTER;"
                f"DES:{self._strings[2]};"
            ).encode("ascii", errors="replace")
            length = len(device_id) + 2
            return length.to_bytes(2, "big") + device_id
        if kind == 0x20 and request == _PRINTER_GET_PORT_STATUS:
            faults = self.port.printer.faults
            status = 0
            if faults.paper_out:
                status |= _PORT_PAPER_EMPTY
            if not faults.offline:
                status |= _PORT_SELECT
            if not (faults.paper_out or faults.cover_open or faults.offline):
                status |= _PORT_NOT_ERROR
            return bytes([status])
        return None

    def _descriptor(self, kind: int, index: int) -> bytes | None:
        if kind == _DESC_STRING:
            if index == 0:
                return bytes([4, _DESC_STRING]) + LANGID_EN_US.to_bytes(2, "little")
            text = self._strings.get(index)
            if text is None:
                return None
            encoded = text.encode("utf-16-le")
            return bytes([2 + len(encoded), _DESC_STRING]) + encoded
        if kind == _DESC_DEVICE:
            d = self._device
            return (
                bytes([18, _DESC_DEVICE, 0x00, 0x02, 0, 0, 0, MAX_PACKET])
                + d.idVendor.to_bytes(2, "little")
                + d.idProduct.to_bytes(2, "little")
                + bytes([0x00, 0x01, 1, 2, 3, 1])
            )
        return None


def usb_url(backend: VirtualUsbPrinterBackend, profile: str) -> str:
    """The ``usb://`` URL that reaches ``backend``'s device."""
    return (
        f"usb://{backend.vid:04x}:{backend.pid:04x}"
        f"?in_ep=0x{backend.in_ep:02x}&out_ep=0x{backend.out_ep:02x}&profile={profile}"
    )
