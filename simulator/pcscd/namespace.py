"""Reaching into pcscd's network namespace: a socket to vpcd, a command beside it.

vpcd listens for the card on every interface (it binds INADDR_ANY); inside
the private pcscd's network namespace that is only its own loopback, which
nothing outside can reach. ``setns`` moves only the calling thread, so
:func:`connect_inside` joins the namespace in a short-lived thread that
connects and ends -- the socket keeps its namespace, the caller's threads
stay where they are. :func:`command_inside` runs a program (vsmartcard's
``vicc``) in the namespace with ``nsenter``. Both need root, as the namespace
itself does.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from simulator.pcscd.requirements import find_program

_CLONE_NEWNET = 0x40000000


def connect_inside(pid: int, port: int, timeout: float) -> socket.socket:
    """A TCP connection to ``127.0.0.1:port`` inside process ``pid``'s network namespace."""
    result: list[socket.socket | BaseException] = []

    def join_and_connect() -> None:
        try:
            _enter_network_namespace(pid)
            result.append(socket.create_connection(("127.0.0.1", port), timeout=timeout))
        except BaseException as exc:
            result.append(exc)

    thread = threading.Thread(target=join_and_connect, name="vpcd-connect", daemon=True)
    thread.start()
    thread.join()
    outcome = result[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def command_inside(pid: int, argv: list[str]) -> list[str]:
    """``argv`` run inside process ``pid``'s network namespace."""
    return [find_program("nsenter") or "nsenter", f"--net=/proc/{pid}/ns/net", *argv]


def _enter_network_namespace(pid: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns into pcscd's network namespace: {os.strerror(errno)}")
    finally:
        os.close(fd)
