"""The gateway's listeners' life cycle (:mod:`simulator.service_thread`), raising
:class:`~simulator.errors.GatewayError`."""

from __future__ import annotations

from simulator import service_thread
from simulator.errors import GatewayError
from simulator.service_thread import is_loopback

__all__ = ["ServiceThread", "is_loopback"]


class ServiceThread(service_thread.ServiceThread):
    error = GatewayError
