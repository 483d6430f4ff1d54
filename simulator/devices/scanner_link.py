"""The virtual scanner reached over a pty: ``sim://?transport=pty``.

The world's side (:class:`PtyScannerHand`, what a scenario's ``scan_code``
holds) writes each scan to a :class:`~simulator.devices.scanner_pty.PtyScanner`;
the terminal's side is the real ``serial://`` driver reading the pty slave.
A scan on the wire is *work in flight* on the clock from the write until the
driver has the whole code, so virtual time cannot move while the bytes travel
through the kernel: like the in-process scanner, ``scan`` returns with the code
queued in the driver, and every run sees it at the same instant.
"""

from __future__ import annotations

from drivers.clock import Clock
from drivers.errors import DeviceUnavailable
from drivers.registry import DeviceContext, open_device
from drivers.scanner import Scanner
from drivers.serial_scanner import SUFFIX_BYTES, ScannerProfile, SerialScanner
from simulator.devices.scanner_pty import PtyScanner

# How the terminal reaches the virtual scanner: in process, or over a pty into
# the real serial:// driver (this module), or as a keyboard wedge's input events into
# the real evdev:// driver (simulator/devices/wedge.py).
SCANNER_TRANSPORTS = ("sim", "pty", "wedge")
HOST_OPEN_WAIT = 5.0  # real seconds for the driver to open the pty
ARRIVAL_WAIT = 5.0  # real seconds for a scan to cross the pty into the driver


class PtyScannerHand:
    """The hand that scans: ``scan(code)`` like the in-process VirtualScanner."""

    def __init__(self, pty: PtyScanner, clock: Clock, driver: SerialScanner) -> None:
        self.pty = pty
        self._clock = clock
        self._driver = driver

    def scan(self, code: str, times: int = 1) -> None:
        """Deliver ``code``; ``times`` > 1: a doubled scan, the frames in one write."""
        before = self._driver.received()
        self._clock.work_begun()
        try:
            if not self.pty.host_open():  # no host has the port open: the scan is lost
                self.pty.lost.extend([code] * times)
                return
            self.pty.write(self.pty.frame(code) * times)
            # Real time: the kernel and the driver's reader thread carry it.
            self._driver.wait_received(before + times, ARRIVAL_WAIT)
        finally:
            self._clock.work_done()
            self._clock.notify()

    def noise(self, data: bytes) -> None:
        """Write ``data`` and a suffix on the line (a scenario's scan_noise); the driver
        drops what is not a code. Not waited for: the next scan follows it on the wire."""
        if self.pty.host_open():
            self.pty.garbage(data + SUFFIX_BYTES[self.pty.profile.suffix])


class PtyScannerLink(Scanner):
    """The terminal's scanner: the serial driver, closing the pty with it."""

    def __init__(self, driver: SerialScanner, pty: PtyScanner) -> None:
        self._driver = driver
        self._pty = pty

    def read_code(self, timeout: float) -> str | None:
        return self._driver.read_code(timeout)

    def take_scan(self) -> str | None:
        return self._driver.take_scan()

    def close(self) -> None:
        self._driver.close()
        self._pty.close()


def open_pty_scanner(context: DeviceContext, profile: str) -> tuple[PtyScannerLink, PtyScannerHand]:
    pty = PtyScanner(ScannerProfile.load(profile))
    try:
        driver = open_device(SerialScanner, pty.url, context)
        if not pty.wait_host_open(HOST_OPEN_WAIT):
            driver.close()
            raise DeviceUnavailable(f"the scanner driver did not open {pty.path}")
    except BaseException:
        pty.close()
        raise
    return PtyScannerLink(driver, pty), PtyScannerHand(pty, context.clock, driver)
