"""GET PROCESSING OPTIONS, READ RECORD and GET DATA: starting a transaction, reading the card.

* GET PROCESSING OPTIONS (once per selection) checks the PDOL data's length
  (command template ``83``), counts the transaction -- the ATC is incremented
  here and only here (see the package docstring) -- and answers the AIP and
  AFL (format 2, template ``77``), or the image's own GPO response;
* READ RECORD reads the PSE's directory record (its SFI, record 1) while the
  PSE is selected, else the selected application's records (``6A 83`` no
  such record in a file the card has, ``6A 82`` no such file);
* GET DATA answers the PIN try counter (``9F17``), the ATC (``9F36``) and the
  last online ATC (``9F13``).
"""

from __future__ import annotations

from drivers.wire import ber_tlv as tlv
from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.contactless import Contactless
from simulator.devices.card.status import (
    SW_CONDITIONS,
    SW_DATA_NOT_FOUND,
    SW_FILE_NOT_FOUND,
    SW_RECORD_NOT_FOUND,
    SW_WRONG_DATA,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
)
from simulator.devices.card_image import PSE_SFI, QUICK_KERNELS


class Records(Contactless):
    """GPO, READ RECORD and GET DATA (see the module docstring)."""

    def _gpo(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        app = self._selected
        if app is None or self._txn.gpo_done or app.blocked:
            return SW_CONDITIONS
        data = command.data
        if len(data) < 2:
            return SW_WRONG_LENGTH
        if data[0] != 0x83:
            return SW_WRONG_DATA
        if data[1] != len(data) - 2 or data[1] != tlv.dol_length(app.pdol):
            return SW_WRONG_LENGTH
        if self.in_field and app.kernel in QUICK_KERNELS:
            return self._quick_gpo(command, app, data[2:])
        if self.atc >= 0xFFFF:
            return SW_CONDITIONS  # ATC exhausted: the card can start no more transactions
        self.atc += 1
        self._txn.gpo_done = True
        if app.gpo_response is not None:
            return self._answer(command, app.gpo_response)
        body = tlv.pack("82", app.aip) + tlv.pack("94", app.afl)
        return self._answer(command, tlv.pack("77", body))

    def _read_record(self, command: CommandApdu) -> bytes:
        if command.p1 == 0 or command.p2 & 0x07 != 0x04:
            return SW_WRONG_P1P2
        if command.data:
            return SW_WRONG_LENGTH
        sfi, number = command.p2 >> 3, command.p1
        if self._pse_selected:
            if sfi != PSE_SFI:
                return SW_FILE_NOT_FOUND
            if number != 1:
                return SW_RECORD_NOT_FOUND
            return self._answer(command, self._directory_record())
        app = self._selected
        if app is None:
            return SW_CONDITIONS
        record = app.records.get((sfi, number))
        if record is None:
            if any(key[0] == sfi for key in app.records):
                return SW_RECORD_NOT_FOUND
            return SW_FILE_NOT_FOUND
        return self._answer(command, record)

    def _directory_record(self) -> bytes:
        entries = b""
        for app in self.image.applications:
            entry = tlv.pack("4F", app.aid) + tlv.pack("50", app.label.encode("ascii"))
            if app.preferred_name:
                entry += tlv.pack("9F12", app.preferred_name.encode("ascii"))
            if app.priority:
                entry += tlv.pack("87", bytes([app.priority]))
            entries += tlv.pack("61", entry)
        return tlv.pack("70", entries)

    def _get_data(self, command: CommandApdu) -> bytes:
        if command.data:
            return SW_WRONG_LENGTH
        if self._selected is None:
            return SW_CONDITIONS
        tag = (command.p1 << 8) | command.p2
        if tag == 0x9F17:
            value = tlv.pack("9F17", bytes([self.pin_tries_left]))
        elif tag == 0x9F36:
            value = tlv.pack("9F36", self.atc.to_bytes(2, "big"))
        elif tag == 0x9F13:
            value = tlv.pack("9F13", self.last_online_atc.to_bytes(2, "big"))
        else:
            return SW_DATA_NOT_FOUND
        return self._answer(command, value)
