"""The ``possim.devices`` entry point: possim's own device URL schemes, behind the package check.

:func:`register` registers every scheme in :data:`SCHEMES` in a
:class:`drivers.registry.DeviceRegistry`, after :func:`possim.guard.check` has
made sure ``simulator`` and ``drivers`` are possim's own (else the registry
reports :class:`possim.guard.ShadowedPackage`'s one line). Another distribution
adds a scheme with an entry point of its own in the same group.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from possim.guard import check

if TYPE_CHECKING:
    from drivers.registry import DeviceRegistry

# Each scheme's registration function, imported only when the registry first opens a device.
SCHEMES = (
    "simulator.devices.sim_scheme:register",
    "drivers.pcsc_scheme:register",
    "drivers.printer.transports:register_usb",
    "drivers.printer.transports:register_serial",
    "drivers.printer.transports:register_tcp",
    "drivers.printer.transports:register_file",
    "drivers.serial_scanner:register",
    "drivers.wedge_scanner:register",
    "drivers.espeak_scheme:register",
    "drivers.traffic.replay_scheme:register",
)


def register(registry: DeviceRegistry) -> None:
    check()
    for target in SCHEMES:
        module, _, function = target.partition(":")
        getattr(importlib.import_module(module), function)(registry)
