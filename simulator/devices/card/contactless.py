"""The card in a reader's field: the PPSE and the quick kernels' GET PROCESSING OPTIONS.

A card with ``contactless: true`` held in a PICC slot (:attr:`CardState.in_field`)
powers up with the ATR a PC/SC reader makes up for it (PC/SC Part 3,
:attr:`~simulator.devices.card_image.CardImage.contactless_atr`) and answers:

* SELECT ``2PAY.SYS.DDF01`` (the PPSE, EMV Book B 3.3): an FCI whose ``BF0C``
  lists a directory entry ``61`` per application offered over contactless --
  ADF name ``4F``, label ``50``, priority ``87`` and kernel identifier ``9F2A``;
  ``1PAY.SYS.DDF01`` (the contact PSE) is not found in the field;
* GET PROCESSING OPTIONS of a *quick* kernel (``qpboc``: UnionPay QuickPass,
  ``qvsdc``: Visa): the card decides at once. The PDOL data carries the
  reader's TTQ (``9F66``) and the cryptogram inputs; the answer (template
  ``77``) holds AIP, AFL, the ATC, the cryptogram (``9F26``, an ARQC: the card
  is online-only, or an AAC when the reader asked for the transaction to be
  declined), its type (``9F27``), the IAD and the CTQ (``9F6C``) -- and, for
  an application personalised for fDDA when the TTQ says the reader does ODA
  for online authorisations, the card authentication related data (``9F69``)
  and the signed dynamic application data (``9F4B``). The records
  then give the rest (PAN, track 2 equivalent data, expiry: the same records a
  dual-interface card reads over its contacts).
  ``mchip`` applications answer GPO as on contact and compute their cryptogram
  at GENERATE AC (:mod:`.cryptograms`).

A phone wallet (``wallet: true``) whose cardholder has not verified on the phone
answers GET PROCESSING OPTIONS ``69 86`` -- the reader's "see phone" (EMV Book
C-3 and C-7: a GPO answered 6986 ends with "Try Again" and the message "See
Phone"). The cardholder then verifies on the phone (:attr:`cdcvm_verified`),
and the next tap is answered with CTQ byte 2 b8 "consumer device CVM
performed" (openemv/emv-utils decodes it so, citing Book C-3 A.2); the
verification is used up by that transaction.
"""

from __future__ import annotations

import hashlib

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import CommandApdu
from simulator.devices.card.cryptograms import Cryptograms
from simulator.devices.card.state import CVR_FIRST_AC_ARQC, CVR_SECOND_AC_NOT_REQUESTED
from simulator.devices.card.status import (
    CID_AAC,
    CID_ARQC,
    SW_CONDITIONS,
    SW_WRONG_LENGTH,
)
from simulator.devices.card_image import Application
from simulator.wire import oda

# GPO answered in the field by a phone whose cardholder has not verified yet.
SW_SEE_PHONE = b"\x69\x86"
# TTQ (9F66) byte 1 b1: offline data authentication for online authorisations supported.
TTQ_ODA_FOR_ONLINE = 0x01
# TTQ (9F66) byte 2 b8: the reader asks for an online cryptogram; byte 2 b7: a CVM.
TTQ_ONLINE_CRYPTOGRAM = (1, 0x80)
TTQ_CVM_REQUIRED = (1, 0x40)
# CTQ (9F6C) byte 2 b8: the cardholder was verified on the consumer device.
CTQ_CDCVM_PERFORMED = 0x80


def ppse_fci(applications: tuple[Application, ...]) -> bytes:
    """The PPSE's FCI: a directory entry per application offered over contactless."""
    entries = b""
    for app in applications:
        if app.kernel_id is None:
            continue
        entry = tlv.pack("4F", app.aid) + tlv.pack("50", app.label.encode("ascii"))
        if app.priority:
            entry += tlv.pack("87", bytes([app.priority]))
        entry += tlv.pack("9F2A", bytes([app.kernel_id]))
        entries += tlv.pack("61", entry)
    proprietary = tlv.pack("BF0C", entries)
    return tlv.pack("6F", tlv.pack("84", cmd.PPSE_NAME) + tlv.pack("A5", proprietary))


class Contactless(Cryptograms):
    """The quick kernels' GPO (see the module docstring)."""

    def _quick_gpo(self, command: CommandApdu, app: Application, pdol_data: bytes) -> bytes:
        """GPO of a quick kernel: the card's decision and cryptogram in the answer."""
        try:
            terminal = tlv.split_dol_data(app.pdol, pdol_data)
        except EmvDataError:
            return SW_WRONG_LENGTH
        ttq = terminal.get("9F66", b"\x00\x00\x00\x00")
        if self.image.wallet and not self.cdcvm_verified:
            # The phone shows "verify to pay"; the cardholder does, for the next tap.
            self.cdcvm_verified = True
            return SW_SEE_PHONE
        if self.atc >= 0xFFFF:
            return SW_CONDITIONS
        self.atc += 1
        self._txn.gpo_done = True
        ctq = bytearray(app.ctq)
        if self.image.wallet:
            ctq[1] |= CTQ_CDCVM_PERFORMED
            self.cdcvm_verified = False  # one verification, one payment
        # Online-only: an ARQC, unless the reader asks for none (TTQ all zero: decline).
        cid = CID_ARQC if ttq[TTQ_ONLINE_CRYPTOGRAM[0]] or any(ttq) else CID_AAC
        self._txn.set(CVR_SECOND_AC_NOT_REQUESTED)
        if cid == CID_ARQC:
            self._txn.set(CVR_FIRST_AC_ARQC)
        tags, _ = self._cryptogram(app, terminal, cid)
        self._txn.first_ac = tags
        self._txn.first_cid = cid
        self._txn.second_done = True  # no second GENERATE AC over contactless
        body = self._fdda(app, terminal, tags["9F36"], bytes(ctq), ttq)
        body += (
            tlv.pack("82", app.aip)
            + tlv.pack("94", app.afl)
            + tlv.pack("9F36", tags["9F36"])
            + tlv.pack("9F26", tags["9F26"])
            + tlv.pack("9F27", bytes([cid]))
            + tlv.pack("9F10", tags["9F10"])
            + tlv.pack("9F6C", bytes(ctq))
        )
        return self._answer(command, tlv.pack("77", body))

    def _fdda(
        self, app: Application, terminal: dict[str, bytes], atc: bytes, ctq: bytes, ttq: bytes
    ) -> bytes:
        """9F69 and 9F4B when the card does fDDA and the reader supports ODA for online
        (TTQ byte 1 b1); empty otherwise. The ICC dynamic number is the ATC."""
        if app.icc_key is None or not ttq[0] & TTQ_ODA_FOR_ONLINE:
            return b""
        unpredictable = hashlib.sha256(app.aid + atc + self.image.pan.encode()).digest()[:4]
        related = b"\x01" + unpredictable + ctq  # 9F69: version 01, card UN, CTQ
        try:
            signed = oda.fdda_terminal_data({**terminal, "9F69": related})
        except oda.OdaError:
            return b""  # the PDOL does not give what fDDA signs
        sdad = oda.sign_dynamic_data(app.icc_key, atc, signed)
        return tlv.pack("9F69", related) + tlv.pack("9F4B", sdad)
