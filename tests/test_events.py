"""Typed events: payload classes that live with their publisher, one JSONL shape.

Consumers select events by payload class; the transcript's ``source``, ``kind``,
``summary`` and ``detail`` come from the class, in the shape the transcripts of
the scenario library always had; the bus's masking of registered secrets reaches
the typed payload a consumer reads, not only the JSON.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
from typing import ClassVar

import attrs
import pytest

import simulator
from drivers.printer import PrinterStatus
from simulator.clock import VirtualClock
from simulator.errors import SimulatorError
from simulator.events import EventBus, EventPayload, Problem, event_line
from simulator.gateway.problems import GatewayProblem
from simulator.scenario.model import StepStarted
from simulator.terminal.acquiring_events import AppProblem
from simulator.terminal.display import Display, ScreenId, ScreenShown
from simulator.terminal.host_link import LinkIsoMessage
from simulator.terminal.notify_receiver import NotifyJudged, Verdict
from simulator.terminal.print_queue import PrinterFaulted
from simulator.terminal.qr_link import QrHttpCall
from simulator.terminal.tracing import Said

PAN = "6214830000123655"
MASKED = "621483******3655"


def bus() -> EventBus:
    return EventBus(VirtualClock())


def test_source_kind_summary_and_detail_come_from_the_class() -> None:
    events = bus()
    Display(events).show(ScreenId.PAID, "收款成功 Payment received", "RMB 12.34")
    (event,) = events.events
    record = event.to_json()
    assert (record["source"], record["kind"]) == ("display", "screen")
    assert record["summary"] == "[paid] 收款成功 Payment received | RMB 12.34"
    assert record["detail"] == {
        "screen": "paid",
        "title": "收款成功 Payment received",
        "lines": ["RMB 12.34"],
    }
    assert event.line() == event_line(event.at, "display", "screen", record["summary"])
    assert event.payload == ScreenShown(ScreenId.PAID, "收款成功 Payment received", ("RMB 12.34",))


def test_detail_keeps_the_transcripts_keys_order_and_absences() -> None:
    faulted = PrinterFaulted(
        "printer cover open", "printer cover open", "sale receipt", PrinterStatus(cover_open=True)
    )
    assert list(faulted.detail()) == ["problem", "detail", "title", "status"]  # renamed
    assert faulted.detail()["status"]["cover_open"] is True  # an attrs value as a dict
    assert NotifyJudged(None).detail() == {}  # omitted when None
    assert NotifyJudged(Verdict.FORGED).detail() == {"verdict": "forged"}
    # Summary-only fields say what the line says, not what the detail carries.
    out = QrHttpCall.request("GET", "/v1/orders/A1?merchant_id=M", None)
    assert out.detail() == {
        "direction": "out",
        "method": "GET",
        "path": "/v1/orders/A1?merchant_id=M",
        "body": None,
    }
    back = QrHttpCall.answer(200, {"trade_state": "SUCCESS"}, "SUCCESS")
    assert back.detail() == {"direction": "in", "status": 200, "body": {"trade_state": "SUCCESS"}}
    assert back.summary() == "<- 200 SUCCESS"


def test_consumers_select_by_class_and_subclasses() -> None:
    events = bus()
    events.publish(AppProblem("no usable host reply"))
    events.publish(Said("收款成功", "zh"))
    events.publish(GatewayProblem("QR API /v1/micropay: boom"))
    assert [e.source for e in events.of(Problem)] == ["acquiring_app", "gateway"]
    assert [e.payload.text for e in events.of(Said)] == ["收款成功"]
    assert events.of(Said, after=2) == []
    assert [e.summary for e in events.of(GatewayProblem)] == ["QR API /v1/micropay: boom"]


def test_a_payload_several_parts_publish_names_its_source() -> None:
    events = bus()
    with pytest.raises(SimulatorError, match="a Problem is published with source="):
        events.publish(Problem("something"))
    assert events.publish(Problem("something"), source="qr_link").source == "qr_link"
    assert len(events) == 1


def test_a_secret_is_masked_in_the_payload_a_consumer_reads() -> None:
    events = bus()
    events.add_secret(PAN, MASKED)
    fields = {"2": {"name": "PAN", "value": PAN}, "4": {"name": "Amount", "value": "1234"}}
    event = events.publish(LinkIsoMessage("out", "0200", fields, f"0200 PAN {PAN}"))
    assert event.payload.fields["2"]["value"] == MASKED
    assert event.payload.headline == f"0200 PAN {MASKED}"
    assert event.summary == f"-> 0200 PAN {MASKED}"
    assert PAN not in json.dumps(event.to_json())
    # As before typed events: a secret counts from when it is registered on.
    early = events.publish(Said(f"card {PAN[:8]}", "en"))
    events.add_secret(PAN[:8], "********")
    assert early.payload.text == f"card {PAN[:8]}"


def test_publishing_leaves_the_summary_to_whoever_reads_it() -> None:
    @attrs.frozen
    class Counted(EventPayload):
        source: ClassVar[str] = "test"
        kind: ClassVar[str] = "counted"
        made: list[int]

        def summary(self) -> str:
            self.made.append(1)
            return "counted"

    made: list[int] = []
    event = bus().publish(Counted(made))
    assert made == []
    assert event.summary == event.summary == "counted"
    assert made == [1]


def test_a_step_and_an_utterance_read_back_from_the_transcript() -> None:
    events = bus()
    step = events.publish(StepStarted("sale", 7, 'sale RMB 12.34 paid by "card"'))
    said = events.publish(Said("收款成功，十二点三四元", "zh"))
    records = [json.loads(json.dumps(e.to_json())) for e in (step, said)]
    assert StepStarted.from_record(records[0]) == step.payload
    assert Said.from_record(records[1]) == said.payload
    assert StepStarted.from_record(records[1]) is None and Said.from_record(records[0]) is None


def _payload_classes() -> list[type[EventPayload]]:
    for module in pkgutil.walk_packages(simulator.__path__, "simulator."):
        # simulator.loadtest.user imports Locust, which monkey-patches for gevent:
        # it runs in Locust's processes only (tests/test_loadtest.py).
        if not module.name.endswith("__main__") and module.name != "simulator.loadtest.user":
            importlib.import_module(module.name)
    found: list[type[EventPayload]] = []
    pending = list(EventPayload.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.startswith("simulator."):
            found.append(cls)
    return sorted(set(found), key=lambda cls: f"{cls.__module__}.{cls.__qualname__}")


PAYLOADS = _payload_classes()


def test_the_shop_declares_its_events() -> None:
    assert len(PAYLOADS) >= 50


@pytest.mark.parametrize("cls", PAYLOADS, ids=lambda cls: cls.__qualname__)
def test_every_payload_is_a_frozen_slotted_attrs_class_with_a_kind(
    cls: type[EventPayload],
) -> None:
    assert isinstance(cls.kind, str) and cls.kind
    assert cls.summary is not EventPayload.summary
    assert "__slots__" in cls.__dict__, "slots: publishing stays cheap"
    assert cls.__setattr__ is ScreenShown.__setattr__, "frozen, as attrs.frozen makes it"
    assert attrs.has(cls), "an attrs class: detail() and the masking walk its fields"
