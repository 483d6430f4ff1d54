"""One card transaction's shared state and the checked ways to read card data.

Every stage module (selection, records, risk, cvm, generate_ac) works on a
:class:`Session`; the :class:`~simulator.terminal.emv.kernel.EmvKernel` facade
owns it. The parse helpers turn any malformed TLV into :class:`EmvProtocolError`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime

from drivers.card_reader import ApduResponse, CardReader
from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire.emv_tags import describe
from simulator.terminal.emv.config import TerminalEmvConfig
from simulator.terminal.emv.constants import NO_CVM_PERFORMED
from simulator.terminal.emv.errors import EmvProtocolError


class Session:
    def __init__(
        self,
        reader: CardReader,
        config: TerminalEmvConfig,
        rng: random.Random,
        when: Callable[[], datetime],
    ) -> None:
        self.reader = reader
        self.config = config
        self.rng = rng
        self.when = when
        self.tvr = bytearray(5)
        self.tsi = bytearray(2)
        self.cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
        self.terminal: dict[str, bytes] = {}  # terminal data elements (9F02, 9F37 ...)
        self.card: dict[str, bytes] = {}  # FCI, GPO and record data of the selected app
        self.record_tags: set[str] = set()  # from GPO and records: must not repeat
        self.aid = b""
        self.aip = b"\x00\x00"

    def send(self, apdu: bytes) -> ApduResponse:
        return self.reader.transmit(apdu)

    def dol_values(self) -> dict[str, bytes]:
        """Everything a PDOL/CDOL may ask for, terminal data winning over card data."""
        values = dict(self.card)
        values.update(self.terminal)
        values["95"] = bytes(self.tvr)
        values["9B"] = bytes(self.tsi)
        values["9F34"] = self.cvm_results
        return values

    def build_dol(self, dol: bytes, what: str) -> bytes:
        try:
            return tlv.build_dol_data(dol, self.dol_values())
        except EmvDataError as exc:
            raise EmvProtocolError(f"{what} is malformed: {exc}") from None


def set_bit(register: bytearray, bit: tuple[int, int]) -> None:
    register[bit[0]] |= bit[1]


def parse(data: bytes, what: str) -> list[tlv.TlvObject]:
    try:
        return tlv.parse(data)
    except EmvDataError as exc:
        raise EmvProtocolError(f"{what} is not valid TLV: {exc}") from None


def parse_template(data: bytes, tag: str, what: str) -> tlv.TlvObject:
    objects = parse(data, what)
    if len(objects) != 1 or objects[0].tag != tag or objects[0].children is None:
        found = ", ".join(obj.tag for obj in objects) or "nothing"
        raise EmvProtocolError(f"{what} should be one {describe(tag)} template, found {found}")
    return objects[0]


def primitives(template: tlv.TlvObject, what: str) -> dict[str, bytes]:
    tags: dict[str, bytes] = {}
    for obj in template.primitives():
        if obj.tag in tags:
            raise EmvProtocolError(f"{what} repeats {describe(obj.tag)}")
        tags[obj.tag] = obj.value
    return tags


def text(value: bytes) -> str:
    return value.decode("ascii", "replace")
