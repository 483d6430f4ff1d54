"""Cardholder verification (EMV Book 3 10.5): walk the card's CVM list and
perform the first method whose condition holds and that succeeds.

Offline plaintext PIN is checked by the card (VERIFY); an online PIN is only
collected here and handed back (the acquiring app enciphers it into DE52);
signature and "no CVM" need nothing from the card. Offline enciphered PIN
needs ICC public-key cryptography possim lacks, so it is "not supported".
"""

from __future__ import annotations

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from simulator.terminal.emv.constants import (
    AIP_CVM,
    CAP_NO_CVM,
    CAP_ONLINE_PIN,
    CAP_PLAINTEXT_PIN,
    CAP_SIGNATURE,
    CVM_APPLY_NEXT_IF_FAILED,
    CVM_ENCIPHERED_PIN,
    CVM_ENCIPHERED_PIN_SIGNATURE,
    CVM_FAIL,
    CVM_NO_CVM,
    CVM_ONLINE_PIN,
    CVM_PLAINTEXT_PIN,
    CVM_PLAINTEXT_PIN_SIGNATURE,
    CVM_RESULT_FAILED,
    CVM_RESULT_SUCCESSFUL,
    CVM_RESULT_UNKNOWN,
    CVM_SIGNATURE,
    NO_CVM_PERFORMED,
    TSI_CV_PERFORMED,
    TVR_CV_NOT_SUCCESSFUL,
    TVR_ICC_DATA_MISSING,
    TVR_ONLINE_PIN_ENTERED,
    TVR_PIN_NOT_ENTERED,
    TVR_PIN_PAD_MISSING,
    TVR_PIN_TRY_LIMIT_EXCEEDED,
    TVR_UNRECOGNISED_CVM,
)
from simulator.terminal.emv.errors import EmvProtocolError
from simulator.terminal.emv.results import CvmOutcome, CvmResult, PinRequest, PinSource
from simulator.terminal.emv.session import Session, set_bit

_KNOWN_METHODS = frozenset(
    {
        CVM_FAIL, CVM_PLAINTEXT_PIN, CVM_ONLINE_PIN, CVM_PLAINTEXT_PIN_SIGNATURE,
        CVM_ENCIPHERED_PIN, CVM_ENCIPHERED_PIN_SIGNATURE, CVM_SIGNATURE, CVM_NO_CVM,
    }
)  # fmt: skip
_PIN_METHODS = frozenset(
    {
        CVM_PLAINTEXT_PIN, CVM_ONLINE_PIN, CVM_PLAINTEXT_PIN_SIGNATURE,
        CVM_ENCIPHERED_PIN, CVM_ENCIPHERED_PIN_SIGNATURE,
    }
)  # fmt: skip

# (outcome, online PIN, signature needed, CVM result byte)
_Performed = tuple[CvmOutcome, "str | None", bool, int]


def verify_cardholder(session: Session, pin_source: PinSource) -> CvmResult:
    if not session.aip[0] & AIP_CVM:
        session.cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
        return CvmResult(CvmOutcome.NO_CVM)
    cvm_list = session.card.get("8E", b"")
    if len(cvm_list) < 10:
        set_bit(session.tvr, TVR_ICC_DATA_MISSING)
        session.cvm_results = bytes([NO_CVM_PERFORMED, 0x00, 0x00])
        return CvmResult(CvmOutcome.NO_CVM)
    if len(cvm_list) % 2:
        raise EmvProtocolError("the CVM list (8E) has an odd number of bytes")
    set_bit(session.tsi, TSI_CV_PERFORMED)
    amount_x = int.from_bytes(cvm_list[0:4], "big")
    amount_y = int.from_bytes(cvm_list[4:8], "big")
    rules = [(cvm_list[i], cvm_list[i + 1]) for i in range(8, len(cvm_list), 2)]
    last_failed: tuple[int, int] | None = None
    for index, (code, condition) in enumerate(rules):
        method = code & 0x3F
        if not _condition_met(session, condition, method, amount_x, amount_y):
            continue
        result = _perform(session, method, pin_source)
        if result is not None:
            outcome, online_pin, signature, status = result
            session.cvm_results = bytes([code, condition, status])
            return CvmResult(outcome, online_pin, signature)
        last_failed = (code, condition)
        if code & CVM_APPLY_NEXT_IF_FAILED and index + 1 < len(rules):
            continue
        break
    set_bit(session.tvr, TVR_CV_NOT_SUCCESSFUL)
    if last_failed is None:
        session.cvm_results = bytes([NO_CVM_PERFORMED, 0x00, CVM_RESULT_FAILED])
    else:
        session.cvm_results = bytes([*last_failed, CVM_RESULT_FAILED])
    return CvmResult(CvmOutcome.FAILED)


def supports(session: Session, method: int) -> bool:
    caps = bytes.fromhex(session.config.capabilities)[1]
    return {
        CVM_FAIL: True,
        CVM_PLAINTEXT_PIN: bool(caps & CAP_PLAINTEXT_PIN),
        CVM_ONLINE_PIN: bool(caps & CAP_ONLINE_PIN),
        CVM_PLAINTEXT_PIN_SIGNATURE: bool(caps & CAP_PLAINTEXT_PIN and caps & CAP_SIGNATURE),
        CVM_ENCIPHERED_PIN: False,
        CVM_ENCIPHERED_PIN_SIGNATURE: False,
        CVM_SIGNATURE: bool(caps & CAP_SIGNATURE),
        CVM_NO_CVM: bool(caps & CAP_NO_CVM),
    }.get(method, False)


def _condition_met(session: Session, condition: int, method: int, x: int, y: int) -> bool:
    terminal = session.terminal
    kind = terminal["9C"][0]
    unattended = terminal["9F35"][0] & 0x0F in (4, 5, 6)
    cash = kind == 0x01
    cashback = kind == 0x09
    if condition == 0x00:
        return True
    if condition == 0x01:
        return cash and unattended
    if condition == 0x02:
        return not cash and not cashback
    if condition == 0x03:
        return supports(session, method)
    if condition == 0x04:
        return cash and not unattended
    if condition == 0x05:
        return cashback
    if condition in (0x06, 0x07, 0x08, 0x09):
        if session.card.get("9F42") != terminal["5F2A"]:
            return False
        amount = int(terminal["9F02"].hex())
        limit = x if condition in (0x06, 0x07) else y
        return amount < limit if condition in (0x06, 0x08) else amount > limit
    return False


def _perform(session: Session, method: int, pin_source: PinSource) -> _Performed | None:
    """The performed method, or None if it failed (the TVR says why)."""
    if method not in _KNOWN_METHODS:
        set_bit(session.tvr, TVR_UNRECOGNISED_CVM)
        return None
    if method == CVM_FAIL:
        return None
    if not supports(session, method):
        if method in _PIN_METHODS:
            set_bit(session.tvr, TVR_PIN_PAD_MISSING)
        return None
    if method == CVM_SIGNATURE:
        return (CvmOutcome.SIGNATURE, None, True, CVM_RESULT_UNKNOWN)
    if method == CVM_NO_CVM:
        return (CvmOutcome.NO_CVM, None, False, CVM_RESULT_SUCCESSFUL)
    if method == CVM_ONLINE_PIN:
        pin = pin_source(PinRequest(tries_left=None, retry=False, online=True))
        if not pin:
            set_bit(session.tvr, TVR_PIN_NOT_ENTERED)
            return None
        set_bit(session.tvr, TVR_ONLINE_PIN_ENTERED)
        return (CvmOutcome.ONLINE_PIN, pin, False, CVM_RESULT_UNKNOWN)
    # plaintext offline PIN, alone or with a signature
    if not _offline_pin(session, pin_source):
        return None
    if method == CVM_PLAINTEXT_PIN_SIGNATURE:
        return (CvmOutcome.OFFLINE_PIN, None, True, CVM_RESULT_UNKNOWN)
    return (CvmOutcome.OFFLINE_PIN, None, False, CVM_RESULT_SUCCESSFUL)


def _offline_pin(session: Session, pin_source: PinSource) -> bool:
    tries = _pin_try_counter(session)
    if tries == 0:
        set_bit(session.tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
        return False
    retry = False
    while True:
        pin = pin_source(PinRequest(tries_left=tries, retry=retry))
        if not pin:
            set_bit(session.tvr, TVR_PIN_NOT_ENTERED)
            return False
        response = session.send(cmd.verify_plaintext(pin))
        if response.ok:
            return True
        if response.sw1 == 0x63 and response.sw2 & 0xF0 == 0xC0:
            tries = response.sw2 & 0x0F
            if tries == 0:
                set_bit(session.tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
                return False
            retry = True
            continue
        if response.sw in (0x6983, 0x6984):
            set_bit(session.tvr, TVR_PIN_TRY_LIMIT_EXCEEDED)
            return False
        return False  # any other refusal: this CVM failed


def _pin_try_counter(session: Session) -> int | None:
    response = session.send(cmd.get_data(0x9F17))
    if not response.ok:
        return None
    try:
        tags = {obj.tag: obj.value for obj in tlv.parse(response.data)}
    except EmvDataError:
        return None
    value = tags.get("9F17")
    return value[0] if value is not None and len(value) == 1 else None
