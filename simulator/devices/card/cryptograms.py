"""GENERATE AC and EXTERNAL AUTHENTICATE: the card's cryptograms and the issuer's ARPC.

An online-only card. The first GENERATE AC answers an ARQC to an ARQC or TC
request and an AAC to an AAC request (the transaction then ends); the second
(after an ARQC only) answers a TC when a TC is requested, the issuer's ARC
(tag ``8A``) approves (``00``) and the issuer's ARPC, if one came, verified
-- else an AAC (an application that requires issuer authentication also
declines without an ARPC). The ARPC (method 1: ``ARPC (8) || ARC (2)``) comes
in the second GENERATE AC's CDOL2 data (tag ``91``) or before it by EXTERNAL
AUTHENTICATE (``63 00`` if it does not verify). An offline ARC (``Z1``,
``Z3``, ``Y1``, ``Y3``) means the terminal could not go online.

Each cryptogram is computed by the image's method
(:mod:`simulator.wire.cryptogram`, the same the gateway's issuer uses to
check it) over the CDOL data, the AIP, the ATC of this transaction (set at
GET PROCESSING OPTIONS; both ACs carry it) and the IAD, whose bytes 3..6 carry
the CVR (:mod:`.state`). The response is format 2 (template ``77``: CID, ATC,
AC, IAD).
"""

from __future__ import annotations

import hmac

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.responses import ResponseBuffer
from simulator.devices.card.state import (
    CVR_FIRST_AC_ARQC,
    CVR_ISSUER_AUTH_FAILED,
    CVR_ISSUER_AUTH_NOT_PERFORMED,
    CVR_SECOND_AC_NOT_REQUESTED,
    CVR_SECOND_AC_TC,
    CVR_UNABLE_TO_GO_ONLINE,
)
from simulator.devices.card.status import (
    CID_AAC,
    CID_ARQC,
    CID_TC,
    SW_AUTH_FAILED,
    SW_CONDITIONS,
    SW_OK,
    SW_WRONG_LENGTH,
    SW_WRONG_P1P2,
)
from simulator.devices.card_image import Application

_APPROVED_ARCS = frozenset({b"00", b"\x00\x00"})
_OFFLINE_ARCS = frozenset({b"Z1", b"Z3", b"Y1", b"Y3"})


class Cryptograms(ResponseBuffer):
    """GENERATE AC (first and second) and EXTERNAL AUTHENTICATE (see the module docstring)."""

    def _generate_ac(self, command: CommandApdu) -> bytes:
        if command.p2 != 0x00 or command.p1 & ~(cmd.AC_TYPE_MASK | cmd.AC_CDA_REQUESTED) & 0xFF:
            return SW_WRONG_P1P2
        requested = command.p1 & cmd.AC_TYPE_MASK
        if requested == cmd.AC_TYPE_MASK:
            return SW_WRONG_P1P2
        app = self._selected
        txn = self._txn
        if app is None or not txn.gpo_done or txn.second_done:
            return SW_CONDITIONS
        if txn.first_ac is None:
            return self._first_ac(command, app, requested)
        if txn.first_cid != CID_ARQC:
            return SW_CONDITIONS
        if requested == cmd.AC_ARQC:
            return SW_WRONG_P1P2
        return self._second_ac(command, app, requested)

    def _first_ac(self, command: CommandApdu, app: Application, requested: int) -> bytes:
        txn = self._txn
        try:
            terminal = tlv.split_dol_data(app.cdol1, command.data)
        except EmvDataError:
            return SW_WRONG_LENGTH
        # An online-only card: a TC request is answered with an ARQC.
        cid = CID_AAC if requested == cmd.AC_AAC else CID_ARQC
        txn.set(CVR_SECOND_AC_NOT_REQUESTED)
        if cid == CID_ARQC:
            txn.set(CVR_FIRST_AC_ARQC)
        tags, response = self._cryptogram(app, terminal, cid)
        txn.first_ac = tags
        txn.first_cid = cid
        if cid != CID_ARQC:
            txn.second_done = True  # the transaction is over
        return self._answer(command, response)

    def _second_ac(self, command: CommandApdu, app: Application, requested: int) -> bytes:
        txn = self._txn
        assert txn.first_ac is not None
        try:
            terminal = tlv.split_dol_data(app.cdol2, command.data)
        except EmvDataError:
            return SW_WRONG_LENGTH
        arc = terminal.get("8A", b"")
        issuer_data = terminal.get("91", b"")
        performed: bool = txn.issuer_authentication is not None
        verified = bool(txn.issuer_authentication)
        if issuer_data.strip(b"\x00"):
            performed = True
            verified = self._arpc_ok(app, issuer_data, arc)
        if performed:
            self.issuer_authentication = verified
            if not verified:
                txn.set(CVR_ISSUER_AUTH_FAILED)
        else:
            self.issuer_authentication = None
            txn.set(CVR_ISSUER_AUTH_NOT_PERFORMED)
        if arc in _OFFLINE_ARCS:
            txn.set(CVR_UNABLE_TO_GO_ONLINE)
        else:
            self.last_online_atc = int.from_bytes(txn.first_ac["9F36"], "big")
        authenticated = verified if performed else not app.require_issuer_authentication
        approve = requested == cmd.AC_TC and arc in _APPROVED_ARCS and authenticated
        cid = CID_TC if approve else CID_AAC
        txn.clear(CVR_SECOND_AC_NOT_REQUESTED)
        if approve:
            txn.set(CVR_SECOND_AC_TC)
        values = dict(txn.first_ac)
        values.update(terminal)
        _, response = self._cryptogram(app, values, cid)
        txn.second_done = True
        return self._answer(command, response)

    def _cryptogram(
        self, app: Application, terminal: dict[str, bytes], cid: int
    ) -> tuple[dict[str, bytes], bytes]:
        iad = bytearray(app.iad)
        iad[3] = 0x03
        iad[4:7] = self._txn.cvr
        tags = dict(terminal)
        tags["82"] = app.aip
        tags["9F36"] = self.atc.to_bytes(2, "big")  # this transaction's, set at GPO
        tags["9F10"] = bytes(iad)
        ac = app.method.generate_ac(app.icc_master_key, tags)
        tags["9F26"] = ac
        body = (
            tlv.pack("9F27", bytes([cid]))
            + tlv.pack("9F36", tags["9F36"])
            + tlv.pack("9F26", ac)
            + tlv.pack("9F10", tags["9F10"])
        )
        return tags, tlv.pack("77", body)

    def _arpc_ok(self, app: Application, issuer_data: bytes, arc: bytes) -> bool:
        """ARPC method 1: 91 = ARPC (8) || ARC (2)."""
        assert self._txn.first_ac is not None
        if len(issuer_data) < 8:
            return False
        arpc = issuer_data[:8]
        issuer_arc = issuer_data[8:10] if len(issuer_data) >= 10 else arc
        try:
            expected = app.method.generate_arpc(app.icc_master_key, self._txn.first_ac, issuer_arc)
        except (EmvDataError, ValueError):
            return False
        return hmac.compare_digest(expected, arpc)

    def _external_authenticate(self, command: CommandApdu) -> bytes:
        if command.p1 or command.p2:
            return SW_WRONG_P1P2
        if not 8 <= len(command.data) <= 16:
            return SW_WRONG_LENGTH
        app = self._selected
        txn = self._txn
        if (
            app is None
            or txn.first_cid != CID_ARQC
            or txn.second_done
            or txn.issuer_authentication is not None
        ):
            return SW_CONDITIONS
        ok = self._arpc_ok(app, command.data, command.data[8:10])
        txn.issuer_authentication = ok
        if not ok:
            txn.set(CVR_ISSUER_AUTH_FAILED)
            return SW_AUTH_FAILED
        return SW_OK
