"""A private pcscd for the simulation: possim's virtual cards on the real PC/SC stack.

:class:`PrivatePcscd` runs its own ``pcscd`` with vsmartcard's vpcd reader
driver, so the terminal's ``pcsc://`` driver, pcsc-lite and vpcd all run for
real while the card is :class:`~simulator.devices.card.VirtualCard`:

* **its own mount namespace**: pcscd's socket path is fixed at
  ``/run/pcscd/pcscd.comm``; a private ``/run/pcscd`` (a bind mount of a temp
  folder, seen only by that pcscd) lets it run next to the system's pcscd, and
  clients find it through ``PCSCLITE_CSOCK_NAME``;
* **its own network namespace**: vpcd listens for the card on *every*
  interface (it binds INADDR_ANY). In a namespace holding only its own
  loopback, nothing outside can reach that port; possim's card connects from
  a thread that joins the namespace just long enough to open its socket
  (:meth:`PrivatePcscd.connect_vpcd`).

Why vpcd listens and the card connects, not the other way round: vpcd has a
"reversed" mode (``DEVICENAME host:port`` makes it connect to the card), but
the vsmartcard 3.3 build in Debian/Ubuntu treats a lost connection in that
mode as a listening socket ``-1`` and pcscd aborts (``bit out of range 0 -
FD_SETSIZE``) on the next poll. A card that comes and goes drops the link, so
only the forward mode can model insertion and removal.

Both namespaces need root (``unshare``). ``PCSCLITE_CSOCK_NAME`` is read by
libpcsclite once per process, at its first PC/SC call, so a process can use
only one pcscd: :func:`shared_private_pcscd` starts one per process and every
simulation in it shares it (it has :data:`SLOTS` card slots).

One module per concern:

=====================  ========================================================
:mod:`.requirements`   what the machine needs (:func:`missing_requirements`)
:mod:`.daemon`         starting and stopping pcscd, one per process
:mod:`.slots`          the vpcd card slots and who holds them
:mod:`.namespace`      a socket to vpcd, a command, inside the namespace
:mod:`.readers`        waiting on pcscd for a card to come or go
:mod:`.vicc`           vsmartcard's own card ``vicc``, as Debian ships it
=====================  ========================================================
"""

from __future__ import annotations

from simulator.pcscd.daemon import SOCKET_ENV, PrivatePcscd, shared_private_pcscd
from simulator.pcscd.errors import PcscdError
from simulator.pcscd.readers import wait_for_reader_state, watch_reader
from simulator.pcscd.requirements import find_vpcd_driver, missing_requirements
from simulator.pcscd.slots import SLOTS, VpcdSlot
from simulator.pcscd.vicc import vicc_command

__all__ = [
    "SLOTS",
    "SOCKET_ENV",
    "PcscdError",
    "PrivatePcscd",
    "VpcdSlot",
    "find_vpcd_driver",
    "missing_requirements",
    "shared_private_pcscd",
    "vicc_command",
    "wait_for_reader_state",
    "watch_reader",
]
