"""Per-device transcripts: the run's event stream split by kind of exchange.

Each kind is written twice beside ``transcript.jsonl``: ``<kind>.jsonl`` (one
JSON object per exchange, for tools) and ``<kind>.txt`` (one line per
exchange, for people). Both come from the events alone, and publishers
redact before they publish (see :mod:`simulator.events`), so no PAN, track 2
or PIN reaches these files either.

- ``apdu``: the card reader -- card presented, power on/off, every APDU with
  its command name, the (redacted) command and response and the status word;
- ``iso8583``: every message to and from the acquirer host, fields by name;
- ``http``: the QR API calls (terminal and gateway side) and the async notifies;
- ``escpos``: the printer -- jobs, faults, every cut receipt with the bytes
  the printer received for it, and the interpreter's diagnostics (written by
  :mod:`simulator.scenario.report.artifacts`, which knows the printer).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from simulator.events import Event
from simulator.gateway.qr.http import QrApiCall
from simulator.gateway.qr.notify import NotifyDropped, NotifyFailed, NotifySent
from simulator.gateway.server import HostIsoMessage
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.notify_receiver import NotifyJudged
from simulator.terminal.qr_link import QrHttpCall
from simulator.terminal.tracing import ApduExchanged, CardDetected, CardPoweredOff, CardPoweredOn

Record = dict[str, Any]
# The card reader's other events: one line each in the APDU transcript.
_CARD_EVENTS = (CardDetected, CardPoweredOn, CardPoweredOff)
# The QR API's traffic, both sides, and the payment notifies.
HTTP_EVENTS = (QrHttpCall, QrApiCall, NotifySent, NotifyFailed, NotifyDropped, NotifyJudged)


def _stamp(at: float) -> str:
    return f"[{at:9.3f}s]"


def apdu_records(events: Iterable[Event]) -> list[Record]:
    records: list[Record] = []
    for event in events:
        payload = event.payload
        if not isinstance(payload, (ApduExchanged, *_CARD_EVENTS)):
            continue
        record: Record = {"seq": event.seq, "at": round(event.at, 6), "kind": event.kind}
        if isinstance(payload, ApduExchanged):
            record.update(
                command_name=payload.command_name,
                command=payload.command,
                response=payload.response,
                sw=payload.sw,
            )
        else:
            record["summary"] = event.summary
        records.append(record)
    return records


def apdu_line(record: Record) -> str:
    if record["kind"] != "apdu":
        return f"{_stamp(record['at'])} {record['summary']}"
    return (
        f"{_stamp(record['at'])} {record['command_name']:<24} {record['command']}\n"
        f"{'':>12} {'SW ' + record['sw']:<24} {record['response']}"
    )


def iso8583_records(events: Iterable[Event]) -> list[Record]:
    records: list[Record] = []
    for event in events:
        message = event.payload
        if not isinstance(message, (LinkIsoMessage, HostIsoMessage)):
            continue
        records.append(
            {
                "seq": event.seq,
                "at": round(event.at, 6),
                "source": event.source,
                "direction": message.direction,
                "mti": message.mti,
                "fields": {
                    number: {"name": field.get("name", ""), "value": field.get("value", "")}
                    for number, field in message.fields.items()
                },
            }
        )
    return records


def iso8583_line(record: Record) -> str:
    head = f"{_stamp(record['at'])} {record['source']:<10} {record['direction']:>3} {record['mti']}"
    fields = [
        f"{'':>12} {number:>3} {field['name']}: {field['value']}"
        for number, field in record["fields"].items()
        if number != "t"  # the MTI, already in the head line
    ]
    return "\n".join([head, *fields])


def http_records(events: Iterable[Event]) -> list[Record]:
    return [
        {
            "seq": event.seq,
            "at": round(event.at, 6),
            "source": event.source,
            "kind": event.kind,
            "summary": event.summary,
            "detail": dict(event.detail),
        }
        for event in events
        if isinstance(event.payload, HTTP_EVENTS)
    ]


def http_line(record: Record) -> str:
    line = f"{_stamp(record['at'])} {record['source']:<15} {record['kind']:<6} {record['summary']}"
    detail = record["detail"]
    bodies = [
        f"{'':>12} {key}: {json.dumps(detail[key], ensure_ascii=False, sort_keys=True)}"
        for key in ("body", "request", "response")
        if key in detail
    ]
    return "\n".join([line, *bodies])


def write_pair(
    folder: Path, kind: str, records: Sequence[Record], line: Callable[[Record], str]
) -> None:
    """``<kind>.jsonl`` and ``<kind>.txt`` (both written, empty when nothing happened)."""
    (folder / f"{kind}.jsonl").write_text(
        "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records),
        encoding="utf-8",
    )
    (folder / f"{kind}.txt").write_text(
        "".join(line(record) + "\n" for record in records), encoding="utf-8"
    )


def write_device_transcripts(folder: Path, events: Sequence[Event]) -> None:
    """The APDU, ISO 8583 and HTTP transcripts (ESC/POS: see ``artifacts``)."""
    write_pair(folder, "apdu", apdu_records(events), apdu_line)
    write_pair(folder, "iso8583", iso8583_records(events), iso8583_line)
    write_pair(folder, "http", http_records(events), http_line)
