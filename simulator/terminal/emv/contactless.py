"""The terminal's contactless path: Entry Point and the kernels (EMV Book A/B, C-2, C-3, C-7).

:func:`run_contactless` is one tap, from the card entering the field to the
card read being complete (the card may leave the field then; over contactless
there is no second GENERATE AC). It talks only to a
:class:`drivers.card_reader.CardReader` -- the PICC slot of the virtual reader,
or a real dual-interface reader's PICC reader through ``pcsc://``.

Entry Point (EMV Book B, as publicly described; the EMVCo test-tool settings in
emerald79/libpay ``src/tests/emvco_ep_ta/lt.c`` and its ``emv_ep.c`` follow the
same steps):

1. *pre-processing* (Book B 3.1.1, as libpay's ``emv_ep_preprocessing``
   numbers it): the amount against the reader limits (:class:`ReaderLimits`):
   at or over the contactless transaction limit the tap is refused ("try
   another interface", 3.1.1.5); over the floor limit, or a zero amount, the
   TTQ asks for an online cryptogram (3.1.1.6, 3.1.1.9, 3.1.1.11); at or over
   the CVM-required limit it says "CVM required" (3.1.1.8, 3.1.1.12);
2. *combination selection*: SELECT ``2PAY.SYS.DDF01`` (the PPSE); each
   directory entry (``61`` in ``BF0C``) gives an AID, a priority and a kernel
   identifier (``9F2A``; absent: the kernel of the AID's scheme, Book B
   3.3.2.5); the entries whose AID the terminal supports and whose kernel it
   has are candidates, highest priority first;
3. *kernel activation*: SELECT the AID, then the kernel.

The kernels (:data:`KERNELS`):

* ``qpboc`` (kernel 7, UnionPay QuickPass) and ``qvsdc`` (kernel 3, Visa): GET
  PROCESSING OPTIONS with the PDOL (TTQ ``9F66`` in it) is answered with the
  card's decision and cryptogram at once; the records give the PAN, track 2
  and expiry. The CVM comes from the CTQ (``9F6C``): "consumer device CVM
  performed" (a phone) is enough at any amount; when the TTQ says "CVM
  required", "online PIN required" asks for the online PIN, "signature
  required" a signature; else no CVM. A GPO answered ``69 86`` is "see phone".
* ``mchip`` (kernel 2, Mastercard): GPO (AIP + AFL), the records, the CVM list
  evaluated with the reader's "CVM required" or "no CVM required" capability
  (Book C-2's CVM Capability data objects ``DF8118``/``DF8119``), then one
  GENERATE AC asking for an ARQC.

fDDA (:mod:`.fdda`): a quick-kernel card whose AIP says DDA signs its dynamic
data; the reader checks it after the card has left the field. A failure ends
the tap as the CTQ says: online anyway (byte 1 b6), another interface (b5), or
declined.

What is simplified (docs/contactless.md): no CDA (M/Chip), no offline approval (the terminal
is online-only, the cards answer ARQCs), no issuer update processing, no
Mastercard data storage or relay-resistance protocol, no MSD/magstripe mode,
one combination tried per tap (no "select next").
"""

from __future__ import annotations

import contextlib
import enum
import random
from collections.abc import Callable, Mapping
from datetime import datetime

import attrs

from drivers.card_reader import CardReader
from drivers.errors import CardProtocolError, CardRemoved, DriverError, EmvDataError, NoCard
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import status_text
from simulator.terminal.emv import fdda, generate_ac, records
from simulator.terminal.emv.config import TerminalEmvConfig
from simulator.terminal.emv.constants import (
    CID_AAC,
    CID_ARQC,
    CID_TC,
    CID_TYPE_MASK,
    CVM_NO_CVM,
    CVM_ONLINE_PIN,
    CVM_SIGNATURE,
    DE55_TAGS,
    TVR_ODA_NOT_PERFORMED,
)
from simulator.terminal.emv.errors import EmvError, EmvProtocolError
from simulator.terminal.emv.kernel import terminal_data
from simulator.terminal.emv.results import CardData
from simulator.terminal.emv.session import Session, parse_template, primitives, set_bit

# Kernel identifiers (9F2A, EMV Book B table 3-6) possim's reader has, by name.
KERNELS = {0x02: "mchip", 0x03: "qvsdc", 0x07: "qpboc"}
QUICK = frozenset({"qpboc", "qvsdc"})
# Book B 3.3.2.5: an entry without 9F2A gets its scheme's kernel, by RID.
_DEFAULT_KERNEL_BY_RID = {"A000000004": 0x02, "A000000003": 0x03, "A000000333": 0x07}
# ISO 8583 DE55 over contactless: the contact tags and the qualifiers.
CONTACTLESS_DE55_TAGS = (*DE55_TAGS, "9F66", "9F6C")
SW_SEE_PHONE = 0x6986


class Outcome(enum.Enum):
    """How a tap ended (EMV Book A 6.2 outcomes, as this reader uses them)."""

    ONLINE_REQUEST = "online request"
    APPROVED = "approved"
    DECLINED = "declined"
    TRY_ANOTHER_INTERFACE = "try another interface"
    SEE_PHONE = "see phone"  # "Try Again" with the message "See Phone"
    TRY_AGAIN = "try again"  # the card left the field too soon: present it again
    PRESENT_ONE_CARD = "present one card"  # no card could be activated: a collision


class ContactlessCvm(str, enum.Enum):
    NO_CVM = "none"
    ONLINE_PIN = "online_pin"
    SIGNATURE = "signature"
    CDCVM = "cdcvm"  # verified on the phone


@attrs.frozen
class ReaderLimits:
    """The reader's contactless limits, in fen (EMV Book A 5.2; Newland's L3
    configuration names them DF20, DF19 and DF21)."""

    transaction_limit_fen: int = 5_000_00  # at or over it: try another interface
    floor_limit_fen: int = 0  # over it the TTQ asks for an online cryptogram
    cvm_required_limit_fen: int = 1_000_00  # at or over it: a CVM (UnionPay since 2018-06-01)


@attrs.frozen
class TapResult:
    """One tap's outcome; for an online request, what the authorisation needs."""

    outcome: Outcome
    reason: str = ""
    kernel: str = ""
    card: CardData | None = None
    cvm: ContactlessCvm = ContactlessCvm.NO_CVM
    icc_data: Mapping[str, bytes] = attrs.field(factory=dict, repr=False)
    oda: str = "not performed"  # fDDA: "verified", "not offered", "failed: why"


@attrs.frozen
class _Candidate:
    aid: bytes
    kernel_id: int
    priority: int
    order: int

    @property
    def rank(self) -> tuple[int, int]:
        return (self.priority & 0x0F or 16, self.order)


def ttq(limits: ReaderLimits, amount_fen: int, config: TerminalEmvConfig) -> bytes:
    """The Terminal Transaction Qualifiers (9F66) for this amount (Book C-3 A.2)."""
    caps = bytes.fromhex(config.capabilities)[1]
    byte1 = 0x20 | 0x10 | 0x01  # EMV mode, contact chip, ODA for online authorisations
    if caps & 0x40:
        byte1 |= 0x04  # online PIN supported
    if caps & 0x20:
        byte1 |= 0x02  # signature supported
    byte2 = 0
    if amount_fen > limits.floor_limit_fen or amount_fen == 0:
        byte2 |= 0x80  # online cryptogram required
    if amount_fen >= limits.cvm_required_limit_fen:
        byte2 |= 0x40  # CVM required
    byte3 = 0x40  # consumer device CVM supported
    return bytes([byte1, byte2, byte3, 0x00])


def run_contactless(
    reader: CardReader,
    config: TerminalEmvConfig,
    limits: ReaderLimits,
    rng: random.Random,
    when: Callable[[], datetime],
    amount_fen: int,
) -> TapResult:
    """One tap (see the module docstring). Never raises for what a card does:
    a card gone is TRY_AGAIN, no card powered PRESENT_ONE_CARD, a card whose
    answers make no sense TRY_ANOTHER_INTERFACE."""
    if amount_fen >= limits.transaction_limit_fen:
        return TapResult(
            Outcome.TRY_ANOTHER_INTERFACE,
            "over the contactless transaction limit: insert or swipe the card",
        )
    session = Session(reader, config, rng, when)
    try:
        reader.connect()
    except NoCard:
        return TapResult(Outcome.TRY_AGAIN, "the card left the field")
    except CardProtocolError as exc:
        return TapResult(Outcome.PRESENT_ONE_CARD, f"no card could be activated: {exc}")
    try:
        session.terminal = terminal_data(session, amount_fen, 0x00, 1)
        session.terminal["9F66"] = ttq(limits, amount_fen, config)
        return _tap(session, limits, amount_fen)
    except CardRemoved as exc:
        return TapResult(Outcome.TRY_AGAIN, f"the card left the field too soon: {exc}")
    except (EmvError, DriverError) as exc:
        return TapResult(Outcome.TRY_ANOTHER_INTERFACE, f"contactless failed: {exc}")
    finally:
        with contextlib.suppress(DriverError):
            reader.disconnect()


def _tap(session: Session, limits: ReaderLimits, amount_fen: int) -> TapResult:
    candidates = _combinations(session)
    if not candidates:
        return TapResult(
            Outcome.TRY_ANOTHER_INTERFACE, "no application on the card this reader takes"
        )
    chosen = candidates[0]
    kernel = KERNELS[chosen.kernel_id]
    response = session.send(cmd.select(chosen.aid))
    if not response.ok:
        return TapResult(
            Outcome.TRY_ANOTHER_INTERFACE,
            f"SELECT {chosen.aid.hex().upper()} answered {response.sw:04X}",
        )
    fci = parse_template(response.data, "6F", f"the FCI of {chosen.aid.hex().upper()}")
    session.card = primitives(fci, "the FCI")
    session.aid = chosen.aid
    session.terminal["84"] = chosen.aid
    session.terminal["4F"] = chosen.aid
    for entry in session.config.aids:
        if chosen.aid.hex().upper().startswith(entry.aid):
            session.terminal["9F09"] = bytes.fromhex(entry.app_version)
            break
    set_bit(session.tvr, TVR_ODA_NOT_PERFORMED)  # until fDDA verifies, after the GPO
    cvm_required = amount_fen >= limits.cvm_required_limit_fen
    if kernel in QUICK:
        return _quick(session, kernel, cvm_required)
    return _mchip(session, cvm_required)


def _combinations(session: Session) -> list[_Candidate]:
    response = session.send(cmd.select(cmd.PPSE_NAME))
    if not response.ok:
        return []
    fci = parse_template(response.data, "6F", "the PPSE's FCI")
    directory = fci.find("BF0C")
    found: list[_Candidate] = []
    for entry in (directory.children or ()) if directory is not None else ():
        if entry.tag != "61":
            continue
        adf = entry.find("4F")
        if adf is None or not 5 <= len(adf.value) <= 16:
            raise EmvProtocolError("a PPSE directory entry (61) has no valid ADF name (4F)")
        kernel = entry.find("9F2A")
        if kernel is not None and kernel.value:
            kernel_id = kernel.value[0]
        else:
            kernel_id = _DEFAULT_KERNEL_BY_RID.get(adf.value[:5].hex().upper(), 0)
        if kernel_id not in KERNELS or not _supported(session, adf.value):
            continue
        priority = entry.find("87")
        found.append(
            _Candidate(
                adf.value,
                kernel_id,
                priority.value[0] if priority and priority.value else 0,
                len(found),
            )
        )
    return sorted(found, key=lambda candidate: candidate.rank)


def _supported(session: Session, aid: bytes) -> bool:
    for entry in session.config.aids:
        wanted = bytes.fromhex(entry.aid)
        if aid == wanted or (entry.partial_match and aid.startswith(wanted)):
            return True
    return False


def _gpo(session: Session) -> tuple[int, bytes, dict[str, bytes]]:
    """GET PROCESSING OPTIONS: (SW, response data, the PDOL data as sent, by tag)."""
    pdol = session.card.get("9F38", b"")
    data = session.build_dol(pdol, "the PDOL (9F38)")
    try:
        sent = tlv.split_dol_data(pdol, data)
    except EmvDataError as exc:
        raise EmvProtocolError(f"the PDOL (9F38) is malformed: {exc}") from None
    response = session.send(cmd.get_processing_options(data))
    return response.sw, response.data, sent


def _quick(session: Session, kernel: str, cvm_required: bool) -> TapResult:
    sw, data, sent = _gpo(session)
    if sw == SW_SEE_PHONE:
        return TapResult(Outcome.SEE_PHONE, "the phone asks its holder to verify", kernel)
    if sw != 0x9000:
        return TapResult(
            Outcome.TRY_ANOTHER_INTERFACE,
            f"GET PROCESSING OPTIONS answered {sw:04X} ({status_text(sw)})",
            kernel,
        )
    records.parse_gpo(session, data)
    missing = [tag for tag in ("9F26", "9F27", "9F36", "9F10") if tag not in session.card]
    if missing:
        raise EmvProtocolError(f"the {kernel} GPO answer lacks {', '.join(missing)}")
    records.read_records(session, session.card["94"])
    card = _card_data(session)
    ctq = session.card.get("9F6C", b"\x00\x00").ljust(2, b"\x00")
    authenticated = fdda.authenticate(session, sent, card.pan)
    if authenticated.startswith("failed"):
        if ctq[0] & 0x10:  # CTQ: switch interface if ODA fails
            return TapResult(Outcome.TRY_ANOTHER_INTERFACE, f"fDDA {authenticated}", kernel)
        if not ctq[0] & 0x20:  # CTQ: go online if ODA fails
            return TapResult(Outcome.DECLINED, f"fDDA {authenticated}", kernel, card)
    if ctq[1] & 0x80:
        cvm = ContactlessCvm.CDCVM
    elif not cvm_required:
        cvm = ContactlessCvm.NO_CVM
    elif ctq[0] & 0x40 and not ctq[0] & 0x80:
        cvm = ContactlessCvm.SIGNATURE
    else:
        cvm = ContactlessCvm.ONLINE_PIN  # asked for by the card, or the reader's default
    values = session.dol_values()
    values.update(sent)  # the cryptogram was computed over what the PDOL carried
    values["9F34"] = _cvm_results(cvm)
    icc = {tag: values[tag] for tag in CONTACTLESS_DE55_TAGS if tag in values}
    result = _by_cid(session.card["9F27"][0], kernel, card, cvm, icc)
    return attrs.evolve(result, oda=authenticated)


def _mchip(session: Session, cvm_required: bool) -> TapResult:
    sw, data, _sent = _gpo(session)
    if sw != 0x9000:
        return TapResult(
            Outcome.TRY_ANOTHER_INTERFACE,
            f"GET PROCESSING OPTIONS answered {sw:04X} ({status_text(sw)})",
            "mchip",
        )
    records.parse_gpo(session, data)
    records.read_records(session, session.card["94"])
    card = _card_data(session)
    cvm = _cvm_list(session.card.get("8E", b""), cvm_required)
    session.cvm_results = _cvm_results(cvm)
    first = generate_ac.first_generate_ac(session)
    icc = dict(first.icc_data)
    icc["9F66"] = session.terminal["9F66"]
    return _by_cid(first.cid, "mchip", card, cvm, icc)


def _card_data(session: Session) -> CardData:
    for tag in ("5A", "5F24"):
        if tag not in session.card:
            raise EmvProtocolError(f"the card's records lack {tag}")
    return records.make_card_data(session)


def _cvm_list(cvm_list: bytes, cvm_required: bool) -> ContactlessCvm:
    """Kernel 2's CVM selection with the reader's CVM capability: online PIN and
    signature when a CVM is required, "no CVM" otherwise (rules whose condition
    is "always" or "if the terminal supports the CVM"; X and Y unused)."""
    supported = {CVM_ONLINE_PIN, CVM_SIGNATURE} if cvm_required else {CVM_NO_CVM}
    for offset in range(8, len(cvm_list) - 1, 2):
        method, condition = cvm_list[offset] & 0x3F, cvm_list[offset + 1]
        if condition not in (0x00, 0x03) or method not in supported:
            continue
        if method == CVM_ONLINE_PIN:
            return ContactlessCvm.ONLINE_PIN
        if method == CVM_SIGNATURE:
            return ContactlessCvm.SIGNATURE
        return ContactlessCvm.NO_CVM
    return ContactlessCvm.ONLINE_PIN if cvm_required else ContactlessCvm.NO_CVM


def _cvm_results(cvm: ContactlessCvm) -> bytes:
    """9F34: the CVM performed and its result (EMV Book 4 A4; CDCVM: "no CVM
    performed" by the reader, the CTQ says the phone did it)."""
    return {
        ContactlessCvm.NO_CVM: b"\x1f\x00\x02",
        ContactlessCvm.ONLINE_PIN: b"\x02\x00\x00",
        ContactlessCvm.SIGNATURE: b"\x1e\x00\x00",
        ContactlessCvm.CDCVM: b"\x3f\x00\x02",
    }[cvm]


def _by_cid(
    cid: int, kernel: str, card: CardData, cvm: ContactlessCvm, icc: dict[str, bytes]
) -> TapResult:
    kind = cid & CID_TYPE_MASK
    if kind == CID_ARQC:
        return TapResult(Outcome.ONLINE_REQUEST, "", kernel, card, cvm, icc)
    if kind == CID_TC:
        return TapResult(Outcome.APPROVED, "approved offline by the card", kernel, card, cvm, icc)
    if kind == CID_AAC:
        return TapResult(Outcome.DECLINED, "declined by the card (AAC)", kernel, card, cvm, icc)
    return TapResult(Outcome.TRY_ANOTHER_INTERFACE, f"cryptogram type {cid:02X}", kernel)


__all__ = [
    "CONTACTLESS_DE55_TAGS",
    "KERNELS",
    "ContactlessCvm",
    "Outcome",
    "ReaderLimits",
    "TapResult",
    "run_contactless",
    "ttq",
]
