"""Application selection (EMV Book 1 section 12): the candidate list from the
PSE directory, or from the terminal's AID list when the card has no PSE; then
final selection in priority order, with the cardholder choosing when the
terminal offers a chooser and either more than one application matches or the
one that matches asks for cardholder confirmation (87 b8).

An application the card refuses at SELECT (blocked, 6283) or at GET
PROCESSING OPTIONS (6985, conditions of use) leaves the list and the rest are
offered again.
"""

from __future__ import annotations

import attrs

from drivers.wire import ber_tlv as tlv
from drivers.wire import iso7816 as cmd
from drivers.wire.iso7816 import status_text
from simulator.terminal.emv.config import AidEntry
from simulator.terminal.emv.constants import PRIORITY_CONFIRMATION_REQUIRED
from simulator.terminal.emv.errors import (
    CardBlocked,
    EmvProtocolError,
    EmvSequenceError,
    NoApplication,
)
from simulator.terminal.emv.records import parse_gpo
from simulator.terminal.emv.results import ApplicationChoice, ApplicationChooser
from simulator.terminal.emv.session import Session, parse_template, primitives, text

_MAX_DIRECTORY_RECORDS = 32
_MAX_SELECT_NEXT = 16
_CARD_BLOCKED = 0x6A81


@attrs.frozen
class Candidate:
    aid: bytes
    label: str
    priority: int
    order: int
    entry: AidEntry
    preferred_name: str | None = None

    @property
    def rank(self) -> tuple[int, int]:
        priority = self.priority & 0x0F
        return (priority if priority else 16, self.order)

    @property
    def choice(self) -> ApplicationChoice:
        label = self.preferred_name or self.label or self.aid.hex().upper()
        return ApplicationChoice(aid=self.aid.hex().upper(), label=label, priority=self.priority)


def candidate_list(session: Session) -> list[Candidate]:
    found = _from_pse(session)
    if not found:
        found = _from_aid_list(session)
    return sorted(found, key=lambda candidate: candidate.rank)


def _check_blocked(sw: int) -> None:
    if sw == _CARD_BLOCKED:
        raise CardBlocked("the card is blocked (SELECT answered 6A81)")


def _from_pse(session: Session) -> list[Candidate]:
    response = session.send(cmd.select(cmd.PSE_NAME))
    _check_blocked(response.sw)
    if not response.ok:
        return []  # no PSE (6A82), PSE blocked (6283) ...: use the AID list
    fci = parse_template(response.data, "6F", "the PSE's FCI")
    sfi_object = fci.find("88")
    if sfi_object is None or len(sfi_object.value) != 1 or not 1 <= sfi_object.value[0] <= 30:
        raise EmvProtocolError("the PSE's FCI has no valid SFI (88) for its directory")
    sfi = sfi_object.value[0]
    found: list[Candidate] = []
    for number in range(1, _MAX_DIRECTORY_RECORDS + 1):
        record = session.send(cmd.read_record(sfi, number))
        if record.sw == 0x6A83:
            break
        if not record.ok:
            return []  # directory unreadable: the AID list will do
        template = parse_template(record.data, "70", f"PSE directory record {number} (SFI {sfi})")
        for entry in template.children or ():
            if entry.tag != "61":
                continue
            candidate = _directory_entry(session, entry, len(found))
            if candidate is not None:
                found.append(candidate)
    return found


def _directory_entry(session: Session, entry: tlv.TlvObject, order: int) -> Candidate | None:
    adf = entry.find("4F")
    if adf is None or not 5 <= len(adf.value) <= 16:
        raise EmvProtocolError("a PSE directory entry (61) has no valid ADF name (4F)")
    for supported in session.config.aids:
        aid = bytes.fromhex(supported.aid)
        if adf.value == aid or (supported.partial_match and adf.value.startswith(aid)):
            return _candidate(entry, adf.value, order, supported)
    return None


def _candidate(source: tlv.TlvObject, aid: bytes, order: int, entry: AidEntry) -> Candidate:
    """A candidate described by a directory entry (61) or an FCI (6F)."""
    label = source.find("50")
    priority = source.find("87")
    preferred = source.find("9F12")
    return Candidate(
        aid=aid,
        label=text(label.value) if label else "",
        priority=priority.value[0] if priority and priority.value else 0,
        order=order,
        entry=entry,
        preferred_name=text(preferred.value) if preferred else None,
    )


def _from_aid_list(session: Session) -> list[Candidate]:
    found: list[Candidate] = []
    for supported in session.config.aids:
        aid = bytes.fromhex(supported.aid)
        next_occurrence = False
        for _ in range(_MAX_SELECT_NEXT):
            response = session.send(cmd.select(aid, next_occurrence=next_occurrence))
            _check_blocked(response.sw)
            if response.sw not in (0x9000, 0x6283):
                break
            fci = parse_template(response.data, "6F", f"the FCI of {aid.hex().upper()}")
            df_name = fci.find("84")
            if df_name is None:
                raise EmvProtocolError(f"the FCI of {aid.hex().upper()} has no DF name (84)")
            if not df_name.value.startswith(aid):
                break
            exact = df_name.value == aid
            if response.ok and (exact or supported.partial_match):
                found.append(_candidate(fci, df_name.value, len(found), supported))
            if exact:
                break
            next_occurrence = True
    return found


def _needs_cardholder(remaining: list[Candidate]) -> bool:
    return len(remaining) > 1 or bool(remaining[0].priority & PRIORITY_CONFIRMATION_REQUIRED)


def final_selection(
    session: Session, candidates: list[Candidate], chooser: ApplicationChooser | None
) -> Candidate:
    """Select, then GET PROCESSING OPTIONS, until an application accepts."""
    remaining = list(candidates)
    blocked: list[str] = []
    refused: list[str] = []
    while remaining:
        if chooser is not None and _needs_cardholder(remaining):
            index = chooser(tuple(candidate.choice for candidate in remaining))
            if not 0 <= index < len(remaining):
                raise EmvSequenceError(f"the chooser picked {index} of {len(remaining)}")
            candidate = remaining.pop(index)
        else:
            candidate = remaining.pop(0)
        problem = _try(session, candidate)
        if problem is None:
            return candidate
        (blocked if problem == "blocked" else refused).append(
            candidate.aid.hex().upper() + ("" if problem == "blocked" else f" ({problem})")
        )
    if blocked and not refused:
        raise CardBlocked(
            f"the card's application(s) {', '.join(blocked)} are blocked: "
            "the cardholder should contact the issuer"
        )
    reasons = ", ".join(blocked + refused)
    raise NoApplication(f"no application on the card accepted this transaction: {reasons}")


def _try(session: Session, candidate: Candidate) -> str | None:
    """SELECT + GPO one candidate; None once it is selected, else why not."""
    aid_hex = candidate.aid.hex().upper()
    response = session.send(cmd.select(candidate.aid))
    if response.sw == 0x6283:
        return "blocked"
    _check_blocked(response.sw)
    if not response.ok:
        return f"SELECT {response.sw:04X}"
    fci = parse_template(response.data, "6F", f"the FCI of {aid_hex}")
    df_name = fci.find("84")
    if df_name is None:
        raise EmvProtocolError(f"the FCI of {aid_hex} has no DF name (84)")
    if df_name.value != candidate.aid:
        return "FCI names another application"
    fci_tags = primitives(fci, f"the FCI of {aid_hex}")
    session.card = dict(fci_tags)
    session.record_tags = set()
    session.terminal["9F09"] = bytes.fromhex(candidate.entry.app_version)
    session.terminal["84"] = candidate.aid
    session.terminal["4F"] = candidate.aid
    pdol_data = session.build_dol(fci_tags.get("9F38", b""), f"the PDOL (9F38) of {aid_hex}")
    gpo = session.send(cmd.get_processing_options(pdol_data))
    if gpo.sw == 0x6985:
        return "GPO: conditions of use not satisfied"
    if not gpo.ok:
        raise EmvProtocolError(
            f"GET PROCESSING OPTIONS for {aid_hex} failed: SW {gpo.sw:04X} ({status_text(gpo.sw)})"
        )
    session.card["84"] = candidate.aid
    if "50" not in session.card and candidate.label:
        session.card["50"] = candidate.label.encode("ascii", "replace")
    session.aid = candidate.aid
    parse_gpo(session, gpo.data)
    return None
