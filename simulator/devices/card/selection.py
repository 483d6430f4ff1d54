"""SELECT: the Payment System Environment and the applications, by name.

``SELECT`` by DF name (P1 ``04``): ``1PAY.SYS.DDF01`` selects the PSE (when
the image has one; its FCI names the directory's SFI; not in a reader's field),
``2PAY.SYS.DDF01`` the PPSE (only in a reader's field, :mod:`.contactless`), an AID or a prefix of
one selects the first matching application (P2 ``00``) or the next one after
the last match (P2 ``02``, "next occurrence").
An application's FCI carries its label, priority, PDOL, language and
preferred name; a blocked application is selected with ``62 83``, a blocked
card answers every SELECT ``6A 81``. Selecting ends the transaction in
progress.
"""

from __future__ import annotations

from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.contactless import ppse_fci
from simulator.devices.card.responses import ResponseBuffer
from simulator.devices.card.state import Transaction
from simulator.devices.card.status import (
    SW_APP_BLOCKED,
    SW_CARD_BLOCKED,
    SW_FILE_NOT_FOUND,
    SW_OK,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
)
from simulator.devices.card_image import PSE_SFI, Application


class Selection(ResponseBuffer):
    """SELECT of the PSE and of applications (see the module docstring)."""

    def _select(self, command: CommandApdu) -> bytes:
        if self.image.blocked:
            return SW_CARD_BLOCKED
        if command.p1 != 0x04 or command.p2 not in (0x00, 0x02):
            return SW_WRONG_P1P2
        name = command.data
        if not 1 <= len(name) <= 16:
            return SW_WRONG_LENGTH
        if name == cmd.PPSE_NAME and command.p2 == 0x00:
            if not self.in_field:
                return SW_FILE_NOT_FOUND
            self._selected = None
            self._pse_selected = False
            self._txn = Transaction()
            return self._answer(command, ppse_fci(self.image.applications))
        if name == cmd.PSE_NAME and command.p2 == 0x00:
            if not self.image.pse or self.in_field:
                return SW_FILE_NOT_FOUND
            self._selected = None
            self._pse_selected = True
            self._txn = Transaction()
            return self._answer(command, self._pse_fci())
        start = 0
        if command.p2 == 0x02:
            if self._last_select is None or self._last_select[0] != name:
                return SW_FILE_NOT_FOUND
            start = self._last_select[1] + 1
        apps = self.image.applications
        for index in range(start, len(apps)):
            app = apps[index]
            if self.in_field and app.kernel_id is None:
                continue  # not offered over contactless
            if app.aid.startswith(name):
                self._last_select = (name, index)
                self._selected = app
                self._pse_selected = False
                self._txn = Transaction()
                sw = SW_APP_BLOCKED if app.blocked else SW_OK
                return self._answer(command, self._app_fci(app), sw)
        return SW_FILE_NOT_FOUND

    def _pse_fci(self) -> bytes:
        proprietary = (
            tlv.pack("88", bytes([PSE_SFI]))
            + tlv.pack("5F2D", self.image.language.encode("ascii"))
            + tlv.pack("9F11", b"\x01")
        )
        return tlv.pack("6F", tlv.pack("84", cmd.PSE_NAME) + tlv.pack("A5", proprietary))

    def _app_fci(self, app: Application) -> bytes:
        proprietary = tlv.pack("50", app.label.encode("ascii"))
        if app.priority:
            proprietary += tlv.pack("87", bytes([app.priority]))
        if app.pdol:
            proprietary += tlv.pack("9F38", app.pdol)
        proprietary += tlv.pack("5F2D", self.image.language.encode("ascii"))
        proprietary += tlv.pack("9F11", b"\x01")
        if app.preferred_name:
            proprietary += tlv.pack("9F12", app.preferred_name.encode("ascii"))
        return tlv.pack("6F", tlv.pack("84", app.aid) + tlv.pack("A5", proprietary))
