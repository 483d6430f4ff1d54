"""GET PROCESSING OPTIONS' answer (AIP + AFL) and READ RECORD over the AFL,
then the card data the rest of the terminal needs (EMV Book 3 10.1-10.2)."""

from __future__ import annotations

from drivers.wire import iso7816 as cmd
from drivers.wire.emv_tags import describe
from drivers.wire.iso7816 import status_text
from simulator.terminal.emv.errors import EmvProtocolError
from simulator.terminal.emv.results import CardData
from simulator.terminal.emv.session import Session, parse, parse_template, primitives, text

_PROPRIETARY_SFI = 10  # SFIs 11-30 hold proprietary (non-TLV) files


def parse_gpo(session: Session, data: bytes) -> None:
    objects = parse(data, "the GPO response")
    if len(objects) != 1:
        raise EmvProtocolError("the GPO response is not a single template (80 or 77)")
    template = objects[0]
    if template.tag == "80" and template.children is None:
        if len(template.value) < 2 or (len(template.value) - 2) % 4:
            raise EmvProtocolError("the GPO response (format 1) is not AIP + AFL entries")
        aip, afl = template.value[:2], template.value[2:]
    elif template.tag == "77":
        tags = primitives(template, "the GPO response")
        if "82" not in tags or "94" not in tags:
            raise EmvProtocolError("the GPO response (format 2) lacks AIP (82) or AFL (94)")
        aip, afl = tags["82"], tags["94"]
        session.card.update(tags)
        session.record_tags.update(tags)
    else:
        raise EmvProtocolError(
            f"the GPO response starts with tag {template.tag}, expected 80 or 77"
        )
    if len(aip) != 2:
        raise EmvProtocolError(f"the AIP (82) is {len(aip)} bytes, expected 2")
    session.aip = aip
    session.card["82"] = aip
    session.card["94"] = afl
    session.record_tags.update(("82", "94"))


def read_records(session: Session, afl: bytes) -> None:
    if not afl or len(afl) % 4:
        raise EmvProtocolError(
            f"the AFL (94) {afl.hex().upper() or '(empty)'} is not a list of 4-byte entries"
        )
    for offset in range(0, len(afl), 4):
        entry = afl[offset : offset + 4]
        sfi_byte, first, last, oda = entry
        sfi = sfi_byte >> 3
        if sfi_byte & 0x07 or not 1 <= sfi <= 30 or first == 0 or last < first:
            raise EmvProtocolError(f"AFL entry {entry.hex().upper()} is invalid")
        if oda > last - first + 1:
            raise EmvProtocolError(
                f"AFL entry {entry.hex().upper()} counts more ODA records than it lists"
            )
        for number in range(first, last + 1):
            _read_record(session, sfi, number)


def _read_record(session: Session, sfi: int, number: int) -> None:
    response = session.send(cmd.read_record(sfi, number))
    if not response.ok:
        raise EmvProtocolError(
            f"READ RECORD SFI {sfi} record {number} (from the AFL) failed: "
            f"SW {response.sw:04X} ({status_text(response.sw)})"
        )
    if sfi > _PROPRIETARY_SFI:
        return  # proprietary file: not TLV to the kernel
    where = f"record {number} of SFI {sfi}"
    template = parse_template(response.data, "70", where)
    for tag, value in primitives(template, where).items():
        if tag in session.record_tags:
            raise EmvProtocolError(
                f"{where} repeats {describe(tag)}: the transaction is terminated"
            )
        session.record_tags.add(tag)
        session.card[tag] = value


def make_card_data(session: Session) -> CardData:
    card = session.card
    pan = card["5A"].hex().upper().rstrip("F")
    if not (pan.isdigit() and 12 <= len(pan) <= 19):
        raise EmvProtocolError("the card's PAN (5A) is not 12-19 digits")
    expiry_date = card["5F24"].hex()
    if len(expiry_date) != 6 or not expiry_date.isdigit():
        raise EmvProtocolError("the card's expiry date (5F24) is not YYMMDD")
    psn_raw = card.get("5F34")
    psn = psn_raw.hex() if psn_raw else "00"
    if len(psn) != 2 or not psn.isdigit():
        raise EmvProtocolError("the card's PAN sequence number (5F34) is not 2 digits")
    service = card.get("5F30", b"").hex()
    service_code = service[-3:] if len(service) == 4 and service.isdigit() else ""
    track2_raw = card.get("57")
    if track2_raw is not None:
        track2 = track2_raw.hex().upper().rstrip("F")
        if "D" not in track2 or not track2.replace("D", "", 1).isdigit():
            raise EmvProtocolError("the card's track 2 equivalent data (57) is malformed")
        track2 = track2.replace("D", "=", 1)
        if not service_code:
            service_code = track2.partition("=")[2][4:7]
    else:
        track2 = f"{pan}={expiry_date[:4]}{service_code or '000'}"
    preferred = card.get("9F12")
    return CardData(
        aid=session.aid.hex().upper(),
        label=text(card.get("50", b"")),
        pan=pan,
        expiry=expiry_date[:4],
        psn=psn,
        track2=track2,
        cardholder_name=text(card.get("5F20", b"")).strip(),
        service_code=service_code,
        preferred_name=text(preferred) if preferred else None,
    )
