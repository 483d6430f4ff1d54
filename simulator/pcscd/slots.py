"""The private pcscd's card slots: which vpcd reader and port each is, who holds it.

One ``reader.conf`` entry for vpcd gives :data:`SLOTS` readers, named
:data:`READER_NAME` and the numbers pcscd appends, whose cards connect to
:data:`VPCD_PORT` and the ports after it, in reader-name order.
A simulation that puts its card behind pcscd takes a slot from the
:class:`SlotPool` and gives it back when it closes: two simulations in one
process never share a reader. All slots taken is a :class:`PcscdError` that
says what to close.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import attrs

from simulator.pcscd.errors import PcscdError

VPCD_PORT = 35963  # vpcd's default; private to the namespace, so never in conflict
READER_NAME = "possim vpcd"
SLOTS = 2  # vpcd opens two slots per reader.conf entry: ports VPCD_PORT and VPCD_PORT + 1
# The contactless side: a second vpcd entry named as pcscd names a real dual
# reader's PICC interface (ACS: "ACS ACR1252 Dual Reader [ACR1252 Dual Reader PICC] 00 00").
PICC_READER_NAME = "possim Dual Reader [possim Dual Reader PICC]"
PICC_PORT = VPCD_PORT + SLOTS


@attrs.frozen
class VpcdSlot:
    """One vpcd card slot: the reader name pcscd shows and the port the card connects to,
    and the PICC reader paired with it (where cards are tapped) and its port."""

    reader: str
    port: int
    picc_reader: str = ""
    picc_port: int = 0


def vpcd_readers(names: Iterable[str]) -> list[str]:
    """pcscd's vpcd readers among its reader ``names``, in slot order."""
    return sorted(name for name in names if name.startswith(READER_NAME))


def picc_readers(names: Iterable[str]) -> list[str]:
    """pcscd's vpcd PICC readers among its reader ``names``, in slot order."""
    return sorted(name for name in names if name.startswith(PICC_READER_NAME))


def slots_of(readers: Sequence[str], piccs: Sequence[str] = ()) -> list[VpcdSlot]:
    """The first :data:`SLOTS` vpcd readers as slots, each with the port its card uses
    and its PICC reader (when ``piccs`` lists them)."""
    return [
        VpcdSlot(
            name,
            VPCD_PORT + index,
            piccs[index] if index < len(piccs) else "",
            PICC_PORT + index if index < len(piccs) else 0,
        )
        for index, name in enumerate(readers[:SLOTS])
    ]


class SlotPool:
    """The free slots of one private pcscd, handed out one simulation at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: list[VpcdSlot] = []
        self.slots: list[VpcdSlot] = []

    def fill(self, slots: list[VpcdSlot]) -> None:
        with self._lock:
            self.slots = slots
            self._free = list(slots)

    def acquire(self) -> VpcdSlot:
        with self._lock:
            if not self._free:
                raise PcscdError(
                    f"all {SLOTS} vpcd slots of the private pcscd are in use: close a "
                    "simulation with card_transport='pcsc' before starting another"
                )
            return self._free.pop(0)

    def release(self, slot: VpcdSlot) -> None:
        with self._lock:
            if slot in self.slots and slot not in self._free:
                self._free.append(slot)
                self._free.sort(key=lambda s: s.port)
