"""The virtual ESC/POS receipt printer (see :mod:`.interpreter`)."""

from simulator.devices.printer.interpreter import VirtualPrinter

__all__ = ["VirtualPrinter"]
