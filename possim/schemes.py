"""The ``possim.devices`` entry points: possim's device URL schemes, behind the package check.

Each function registers one scheme's factories in a
:class:`drivers.registry.DeviceRegistry`, after :func:`possim.guard.check` has
made sure ``simulator`` and ``drivers`` are possim's own (else the registry
reports :class:`possim.guard.ShadowedPackage`'s one line).
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING

from possim.guard import check

if TYPE_CHECKING:
    from drivers.registry import DeviceRegistry


@functools.cache
def _checked() -> None:
    check()


def _register(target: str, registry: DeviceRegistry) -> None:
    _checked()
    module, _, function = target.partition(":")
    getattr(importlib.import_module(module), function)(registry)


def sim(registry: DeviceRegistry) -> None:
    _register("simulator.devices.sim_scheme:register", registry)


def pcsc(registry: DeviceRegistry) -> None:
    _register("drivers.pcsc_scheme:register", registry)


def printer_usb(registry: DeviceRegistry) -> None:
    _register("drivers.escpos_transports:register_usb", registry)


def printer_serial(registry: DeviceRegistry) -> None:
    _register("drivers.escpos_transports:register_serial", registry)


def printer_tcp(registry: DeviceRegistry) -> None:
    _register("drivers.escpos_transports:register_tcp", registry)


def printer_file(registry: DeviceRegistry) -> None:
    _register("drivers.escpos_transports:register_file", registry)


def scanner_serial(registry: DeviceRegistry) -> None:
    _register("drivers.serial_scanner:register", registry)


def espeak(registry: DeviceRegistry) -> None:
    _register("drivers.espeak_scheme:register", registry)


def replay(registry: DeviceRegistry) -> None:
    _register("drivers.traffic.replay_scheme:register", registry)
