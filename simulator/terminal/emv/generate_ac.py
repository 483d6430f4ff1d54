"""Terminal action analysis, the first GENERATE AC, and completion with the
host's answer: issuer authentication (EXTERNAL AUTHENTICATE when the AIP asks
for it, otherwise tag 91 through CDOL2) and the second GENERATE AC.
"""

from __future__ import annotations

from drivers.errors import EmvDataError
from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.emv_tags import describe
from drivers.wire.iso7816 import status_text
from simulator.terminal.emv.constants import (
    AIP_ISSUER_AUTH,
    APPROVAL_CODES,
    CID_AAC,
    CID_ARQC,
    CID_TC,
    CID_TYPE_MASK,
    DE55_TAGS,
    TSI_CRM_PERFORMED,
    TSI_ISSUER_AUTH_PERFORMED,
    TVR_ISSUER_AUTH_FAILED,
    UNABLE_TO_GO_ONLINE,
    cid_kind,
)
from simulator.terminal.emv.errors import EmvProtocolError, EmvSequenceError
from simulator.terminal.emv.results import FirstAc, SecondAc
from simulator.terminal.emv.session import Session, parse, primitives, set_bit

_AcResponse = tuple[int, bytes, bytes, "bytes | None", dict[str, bytes]]


def first_generate_ac(session: Session) -> FirstAc:
    denial = _or(session.card.get("9F0E", bytes(5)), bytes.fromhex(session.config.tac_denial))
    # An online-only terminal asks every purchase to go online unless it must deny it.
    reference = cmd.AC_AAC if _intersects(session.tvr, denial) else cmd.AC_ARQC
    cdol1 = session.card["8C"]
    values = session.dol_values()
    try:
        data = tlv.build_dol_data(cdol1, values)
        sent = tlv.split_dol_data(cdol1, data)
    except EmvDataError as exc:
        raise EmvProtocolError(f"the card's CDOL1 (8C) is malformed: {exc}") from None
    response = session.send(cmd.generate_ac(reference, data))
    set_bit(session.tsi, TSI_CRM_PERFORMED)
    if not response.ok:
        raise EmvProtocolError(
            f"the card refused the first GENERATE AC: SW {response.sw:04X} "
            f"({status_text(response.sw)})"
        )
    cid, atc, ac, iad, extra = _parse_ac_response(response.data, "first GENERATE AC")
    kind = cid & CID_TYPE_MASK
    if kind == 0xC0 or (reference == cmd.AC_AAC and kind != CID_AAC) or kind == CID_TC:
        raise EmvProtocolError(
            f"the card answered {cid_kind(cid)} to a request for "
            f"{cid_kind(reference)}: a card may only lower the cryptogram type"
        )
    session.card.update(extra)
    values.update(sent)
    values.update({"9F26": ac, "9F27": bytes([cid]), "9F36": atc})
    if iad is not None:
        values["9F10"] = iad
    icc_data = {tag: values[tag] for tag in DE55_TAGS if tag in values}
    return FirstAc(cid=cid, cryptogram=ac, atc=atc, icc_data=icc_data)


def second_generate_ac(
    session: Session, first: FirstAc, response_code: str | None, issuer_auth_data: bytes | None
) -> SecondAc:
    if first.cid & CID_TYPE_MASK != CID_ARQC:
        raise EmvSequenceError(
            f"the card answered {first.kind} to the first GENERATE AC: there is nothing to complete"
        )
    arc = UNABLE_TO_GO_ONLINE if response_code is None else response_code
    if len(arc) != 2 or not arc.isascii():
        raise ValueError(f"an authorisation response code is 2 characters, got {arc!r}")
    session.terminal["8A"] = arc.encode("ascii")
    issuer_authentication: bool | None = None
    by_external_authenticate = False
    if issuer_auth_data:
        session.terminal["91"] = bytes(issuer_auth_data)
        set_bit(session.tsi, TSI_ISSUER_AUTH_PERFORMED)
        if session.aip[0] & AIP_ISSUER_AUTH:
            by_external_authenticate = True
            response = session.send(cmd.external_authenticate(bytes(issuer_auth_data)))
            issuer_authentication = response.ok
            if not response.ok:
                set_bit(session.tvr, TVR_ISSUER_AUTH_FAILED)
    approve = response_code is not None and response_code in APPROVAL_CODES
    reference = cmd.AC_TC if approve else cmd.AC_AAC
    data = session.build_dol(session.card["8D"], "the card's CDOL2 (8D)")
    response = session.send(cmd.generate_ac(reference, data))
    if not response.ok:
        raise EmvProtocolError(
            f"the card refused the second GENERATE AC: SW {response.sw:04X} "
            f"({status_text(response.sw)})"
        )
    cid, atc, ac, iad, _extra = _parse_ac_response(response.data, "second GENERATE AC")
    kind = cid & CID_TYPE_MASK
    if kind not in (CID_TC, CID_AAC) or (reference == cmd.AC_AAC and kind != CID_AAC):
        raise EmvProtocolError(
            f"the card answered {cid_kind(cid)} to the second GENERATE AC "
            f"(asked for {cid_kind(reference)})"
        )
    if issuer_auth_data and not by_external_authenticate:
        issuer_authentication = _issuer_authentication_from_iad(iad)
        if issuer_authentication is None and reference == cmd.AC_TC and kind == CID_AAC:
            issuer_authentication = False
        if issuer_authentication is False:
            set_bit(session.tvr, TVR_ISSUER_AUTH_FAILED)
    return SecondAc(
        cid=cid,
        approved=kind == CID_TC,
        issuer_authentication=issuer_authentication,
        cryptogram=ac,
        atc=atc,
    )


def _parse_ac_response(data: bytes, what: str) -> _AcResponse:
    objects = parse(data, f"the {what} response")
    if len(objects) != 1:
        raise EmvProtocolError(f"the {what} response is not a single template (80 or 77)")
    template = objects[0]
    extra: dict[str, bytes] = {}
    if template.tag == "80" and template.children is None:
        value = template.value
        if len(value) < 11:
            raise EmvProtocolError(f"the {what} response (format 1) is {len(value)} bytes")
        cid_bytes, atc, ac = value[0:1], value[1:3], value[3:11]
        iad: bytes | None = value[11:] or None
    elif template.tag == "77":
        tags = primitives(template, f"the {what} response")
        missing = [tag for tag in ("9F27", "9F36", "9F26") if tag not in tags]
        if missing:
            raise EmvProtocolError(
                f"the {what} response lacks " + ", ".join(describe(tag) for tag in missing)
            )
        cid_bytes, atc, ac, iad = tags["9F27"], tags["9F36"], tags["9F26"], tags.get("9F10")
        extra = {
            tag: value for tag, value in tags.items() if tag not in ("9F27", "9F36", "9F26", "9F10")
        }
    else:
        raise EmvProtocolError(
            f"the {what} response starts with tag {template.tag}, expected 80 or 77"
        )
    if len(cid_bytes) != 1 or len(atc) != 2 or len(ac) != 8:
        raise EmvProtocolError(
            f"the {what} response has a malformed CID (1 byte), ATC (2) or cryptogram (8)"
        )
    return cid_bytes[0], atc, ac, iad, extra


def _issuer_authentication_from_iad(iad: bytes | None) -> bool | None:
    """Issuer authentication as the card's CVR (IAD bytes 3..6) reports it."""
    if iad is None or len(iad) < 7 or iad[3] != 0x03:
        return None
    cvr = iad[4:7]
    if cvr[0] & 0x08:  # issuer authentication performed and failed
        return False
    if cvr[1] & 0x04:  # issuer authentication not performed
        return None
    return True


def _or(left: bytes, right: bytes) -> bytes:
    return bytes(
        a | b for a, b in zip(left.ljust(5, b"\x00"), right.ljust(5, b"\x00"), strict=False)
    )


def _intersects(register: bytes | bytearray, mask: bytes) -> bool:
    return any(a & b for a, b in zip(register, mask, strict=False))
