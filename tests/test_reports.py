"""Reports of a run (docs/reports.md): index.html, run.json, JUnit XML, per-scenario artifacts.

Three scenarios run once for the module -- a card purchase (two receipts), a
dynamic WeChat QR (a QR slip, HTTP calls, a notify a virtual second later)
and one that fails -- and every test reads what they left behind.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from PIL import Image, ImageChops

from simulator.devices.printer.paper import RenderedReceipt
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.render.png import PaperRenderer
from simulator.scenario.loader import load_scenario
from simulator.scenario.model import ExpectationFailed, Step
from simulator.scenario.report import write_reports
from simulator.scenario.runner import ScenarioResult, ScenarioRun, run_scenario

LIBRARY = Path(__file__).resolve().parent.parent / "scenarios"
FAILING = """\
name: QR <b>expected</b> & approved
purpose: Fails on purpose at line 6 (the sale is by card, nobody pays)
steps:
  - sale: "3.00"
  - expect_screen: present_card
  - expect_screen: {screen: approved, within: 7s}
  - expect_speech: "never reached"
"""


class Capture:
    """A step observer that keeps the run, to reach its printer after the scenario."""

    def __init__(self) -> None:
        self.run: ScenarioRun | None = None

    def before_step(self, run: ScenarioRun, step: Step) -> None:
        self.run = run

    def after_step(self, run: ScenarioRun, step: Step, failure: ExpectationFailed | None) -> None:
        pass


@dataclass
class Report:
    root: Path
    results: list[ScenarioResult]
    ports: list[PrinterPort]
    junit: Path

    @property
    def record(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.root / "run.json").read_text(encoding="utf-8"))
        return loaded


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    base = tmp_path_factory.mktemp("reports")
    failing = base / "qr_expects_approval.yaml"
    failing.write_text(FAILING, encoding="utf-8")
    root = base / "out"
    results: list[ScenarioResult] = []
    ports: list[PrinterPort] = []
    for path in (LIBRARY / "card_purchase.yaml", LIBRARY / "qr_dynamic_wechat.yaml", failing):
        capture = Capture()
        results.append(run_scenario(load_scenario(path), root, observer=capture))
        assert capture.run is not None and capture.run.view.printer_port is not None
        ports.append(capture.run.view.printer_port)
    junit = base / "junit.xml"
    write_reports(results, root, {"seed": None, "repeat": 1}, junit=junit)
    return Report(root, results, ports, junit)


@dataclass
class Page(HTMLParser):
    """The sections of index.html: each one's id and the images it shows."""

    images: dict[str, list[str]] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)
    tags: set[str] = field(default_factory=set)
    section: str = ""

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.tags.add(tag)
        if tag == "section":
            self.section = values.get("id") or ""
            self.images[self.section] = []
        elif tag == "img":
            self.images[self.section].append(values["src"] or "")
        elif tag == "a":
            self.links.append(values.get("href") or "")


def parse_index(root: Path) -> tuple[Page, str]:
    text = (root / "index.html").read_text(encoding="utf-8")
    page = Page()
    page.feed(text)
    return page, text


def _pixels_equal(a: Image.Image, b: Image.Image) -> bool:
    return (
        a.size == b.size and ImageChops.difference(a.convert("1"), b.convert("1")).getbbox() is None
    )


def test_every_image_is_a_valid_png_of_its_receipt_in_order(report: Report) -> None:
    page, _ = parse_index(report.root)
    assert list(page.images) == ["s1", "s2", "s3"]
    for section, result, port in zip(
        page.images.values(), report.results, report.ports, strict=True
    ):
        receipts: list[RenderedReceipt] = port.receipts()
        assert len(section) == len(receipts), result.scenario.path
        renderer = PaperRenderer(port.profile)
        for src, receipt in zip(section, receipts, strict=True):
            path = report.root / unquote(src)
            assert path.is_file(), src
            with Image.open(path) as image:
                image.verify()  # a well-formed PNG
            with Image.open(path) as image:
                assert image.format == "PNG"
                assert _pixels_equal(image, renderer.render(receipt)), src
    card, qr, failing = page.images.values()
    assert len(card) == 2 and len(qr) >= 1 and failing == []
    # Two different copies: swapping them would fail the check above.
    with (
        Image.open(report.root / unquote(card[0])) as a,
        Image.open(report.root / unquote(card[1])) as b,
    ):
        assert not _pixels_equal(a, b)


@pytest.mark.system_package("libzbar0")
def test_receipt_pngs_scan_back_to_the_printed_codes(report: Report) -> None:
    from pyzbar.pyzbar import decode

    for result, port in zip(report.results, report.ports, strict=True):
        for index, receipt in enumerate(port.receipts(), 1):
            with Image.open(result.artifacts / f"receipt-{index:02d}.png") as image:
                padded = Image.new("L", (image.width + 80, image.height + 80), 255)
                padded.paste(image.convert("L"), (40, 40))
            scanned = sorted(symbol.data.decode() for symbol in decode(padded))
            assert scanned == sorted([*receipt.qr_codes, *receipt.barcodes]), (result, index)


def test_index_is_self_contained_escaped_and_links_artifacts(report: Report) -> None:
    page, text = parse_index(report.root)
    assert not {"script", "link", "iframe"} & page.tags
    assert all(not link.startswith(("http:", "https:", "//")) for link in page.links)
    assert "QR &lt;b&gt;expected&lt;/b&gt; &amp; approved" in text
    assert "<b>expected</b>" not in text
    for result in report.results:
        folder = result.artifacts.relative_to(report.root).as_posix()
        assert f'href="{folder}/"' in text
        assert f'href="{folder}/transcript.txt"' in text
    failing = report.results[2]
    assert f"{failing.scenario.path}:6" in text  # the failure with its file:line
    assert "<details>" in text and "Transcript (" in text
    assert "收款成功，十二点三四元" in text  # the card purchase's announcement


def test_run_json_records_steps_events_and_failure(report: Report) -> None:
    record = report.record
    assert record["format"] == "possim-run/1"
    assert record["run"]["repeat"] == 1 and record["run"]["versions"]["possim"]
    assert record["run"]["totals"] == {
        "scenarios": 3,
        "passed": 2,
        "skipped": 0,
        "failed": 1,
        "invalid": 0,
        "seconds": pytest.approx(sum(r.seconds for r in report.results), abs=0.01),
    }
    card, qr, failing = record["scenarios"]
    assert (card["result"], qr["result"], failing["result"]) == ("passed", "passed", "failed")
    assert card["seed"] == 1 and card["setup"]["terminal_id"] == "POSSIM01"
    assert card["receipts"] == ["card_purchase/receipt-01.png", "card_purchase/receipt-02.png"]
    assert card["speech"] == ["收款成功，十二点三四元"]
    assert len(card["steps"]) == len(report.results[0].scenario.steps)
    assert {step["result"] for step in card["steps"]} == {"passed"}
    assert [(s["line"], s["keyword"], s["result"]) for s in failing["steps"]] == [
        (4, "sale", "passed"),
        (5, "expect_screen", "passed"),
        (6, "expect_screen", "failed"),
        (7, "expect_speech", "not run"),
    ]
    assert failing["failure_location"] == f"{report.results[2].scenario.path}:6"
    assert "expected screen approved within 7 s" in failing["failure"]
    assert failing["rerun"].endswith("--seed 0 --card-transport sim")
    assert card["rerun"] is None
    for scenario, result in zip(record["scenarios"], report.results, strict=True):
        events = scenario["events"]
        assert len(events) == result.events
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        times = [e["at"] for e in events]
        assert times == sorted(times), scenario["file"]  # the virtual clock never goes back
        steps = [s["at"] for s in scenario["steps"] if s["at"] is not None]
        assert steps == sorted(steps)
    # Virtual time really passed: the notify a second later; the failed wait of 7 s and
    # then the card timeout (60 s) the runner waited out before closing the simulation.
    assert qr["events"][-1]["at"] >= 1.0
    assert failing["events"][-1]["at"] >= 7.0


def _properties(element: ET.Element | None) -> dict[str, str]:
    assert element is not None
    return {p.get("name", ""): p.get("value", "") for p in element.iter("property")}


def test_junit_has_the_configuration_and_the_failure(report: Report) -> None:
    suite = ET.parse(report.junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    suite_props = _properties(suite.find("properties"))
    assert suite_props["repeat"] == "1" and suite_props["version.possim"]
    cases = suite.findall("testcase")
    for case, result in zip(cases, report.results, strict=True):
        props = _properties(case.find("properties"))
        assert props["terminal_id"] == "POSSIM01"
        assert props["merchant_id"] == "898310048990001"
        assert props["device.printer"].startswith("sim://")
        assert props["device.card_reader"] == "sim://"
        assert props["card_transport"] == "sim"
        assert props["seed"] == str(result.used_seed)
        assert props["possim_version"] == suite_props["version.possim"]
        out = case.findtext("system-out") or ""
        assert out.splitlines()[0] == f"artifacts: {result.artifacts}"
        assert "transcript.jsonl" in out
        assert ("failure" in props) == (not result.passed)
    failing = _properties(cases[2].find("properties"))
    assert failing["failure"].startswith(f"{report.results[2].scenario.path}:6: ")
    assert failing["rerun"] == (
        f"possim run {report.results[2].scenario.path} --seed 0 --card-transport sim"
    )
    assert cases[2].find("failure") is not None


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_per_device_transcripts(report: Report) -> None:
    card = report.results[0].artifacts
    apdus = [r for r in _jsonl(card / "apdu.jsonl") if r["kind"] == "apdu"]
    names = [r["command_name"] for r in apdus]
    assert names[0] == "SELECT" and "GENERATE AC" in names and "VERIFY" in names
    assert all(len(r["sw"]) == 4 for r in apdus)
    assert "GET PROCESSING OPTIONS" in (card / "apdu.txt").read_text(encoding="utf-8")
    messages = _jsonl(card / "iso8583.jsonl")
    assert [m["mti"] for m in messages if m["source"] == "host_link"] == ["0200", "0210"]
    assert messages[0]["fields"]["4"] == {"name": "Amount, Transaction", "value": "000000001234"}
    assert "Card Acceptor Terminal ID: POSSIM01" in (card / "iso8583.txt").read_text(
        encoding="utf-8"
    )
    escpos = _jsonl(card / "escpos.jsonl")
    receipts = [r for r in escpos if r["type"] == "receipt"]
    (totals,) = [r for r in escpos if r["type"] == "totals"]
    assert [r["png"] for r in receipts] == ["receipt-01.png", "receipt-02.png"]
    assert all(r["bytes"] > 0 for r in receipts)
    assert sum(r["bytes"] for r in receipts) <= totals["bytes_received"]
    assert totals["receipts"] == 2 and totals["diagnostics"] == 0
    qr = report.results[1].artifacts
    calls = _jsonl(qr / "http.jsonl")
    assert any(c["detail"].get("path") == "/v1/precreate" for c in calls)
    assert any(c["kind"] == "notify" for c in calls)
    assert _jsonl(qr / "apdu.jsonl") == []  # no card in a QR sale
