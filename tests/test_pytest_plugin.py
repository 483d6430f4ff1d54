"""The pytest plugin: scenarios as items, variants, reports, xdist, the pos fixture, devices.

Most tests run an inner pytest session (pytester) over a small folder holding
copies of two or three library scenarios. One runs the whole library in fresh
processes, serially and with ``-n 2``, and requires the same items, outcomes
and report (issue 6's acceptance test; ~40 s).
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from process_helpers import LEAN_PYTEST

from drivers.printer.profile import PrinterProfile
from drivers.registry import registry
from drivers.scanner import Scanner
from simulator.devices.printer import VirtualPrinter
from simulator.devices.printer.port import PrinterPort
from simulator.devices.printer.transports.tcp import TcpPrinter
from simulator.errors import ScenarioError
from simulator.scenario.pos import Pos

pytest_plugins = ["pytester"]
# The inner sessions load only the plugins they need (tests/process_helpers.py).
INNER_SESSION = LEAN_PYTEST
ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios"
REQUIRE_SYSTEM_ENV = "POSSIM_REQUIRE_SYSTEM"
# A project that asks for its scenarios/ to be collected (the plugin collects no YAML otherwise).
OPTED_IN = "[pytest]\npossim_scenario_dirs = scenarios\n"
# Load every device scheme's module now: pytester drops the modules an inner
# session imports, and the registry would then make instances of dropped classes.
registry.schemes(Scanner)

FAILING = """\
name: expects the wrong outcome
purpose: A declined amount, expected approved.
steps:
  - sale: "20.51"
  - insert_card: unionpay_debit
  - enter_pin: card
  - expect_screen: {screen: approved, within: 10s}
"""

POS_TEST = """\
import pytest

def test_card_purchase(pos):
    result = pos.pay_by_card("12.34")
    assert result.approved
    assert len(pos.receipts) == 2
    assert "621483******3655" in pos.receipts[0]
    assert "6214830027183655" not in "".join(pos.receipts)
    assert pos.speech == ["收款成功，十二点三四元"]
    assert [entry.status for entry in pos.ledger] == ["approved"]
    assert [entry.state.value for entry in pos.journal] == ["approved"]
    assert pos.screen.id.value == "paid"
    pos.step("expect_gateway", {"messages": [{"mti": "0200"}, {"mti": "0210", "39": "00"}]})

def test_wrong_pin(pos):
    assert not pos.pay_by_card("1.00", pin="0000").approved

def test_no_pin_typed(pos):
    assert not pos.pay_by_card("1.00", pin=None).approved
    assert pos.ledger == []

def test_qr(pos):
    result = pos.pay_by_qr("12.34", wallet="alipay")
    assert result.approved
    assert pos.speech[-1].startswith("支付宝")
    assert pos.qr_journal[-1].state.value == "success"

@pytest.mark.pos_device("printer")
def test_real_printer(pos):
    assert pos.pay_by_card("12.34").approved
"""


def _library_copy(name: str, *, variants: bool = True) -> str:
    text = (LIBRARY / name).read_text(encoding="utf-8")
    if not variants:
        text = re.sub(r"^variants:\n(?:  .*\n)+", "", text, flags=re.MULTILINE)
    return text


@pytest.fixture
def library(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project with scenarios/ (3 library scenarios, 5 items) and fixture data beside it."""
    pytester.makeini(OPTED_IN)
    folder = pytester.mkdir("scenarios")
    for name in ("card_purchase.yaml", "card_purchase_declined.yaml", "qr_wechat.yaml"):
        (folder / name).write_text(_library_copy(name), encoding="utf-8")
    # YAML that is not a scenario: fixture data, and a file outside scenarios/.
    (pytester.mkdir("firmware_fixtures") / "card.yaml").write_text("pan: '1'\n", "utf-8")
    (pytester.path / "notes.yaml").write_text("a: 1\n", encoding="utf-8")
    return pytester


def _outcomes(junit: Path) -> dict[str, str]:
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).iter("testcase"):
        children = {child.tag for child in case}
        outcome = next((t for t in ("failure", "error", "skipped") if t in children), "passed")
        outcomes[f"{case.get('classname')}::{case.get('name')}"] = outcome
    return outcomes


def _properties(junit: Path) -> dict[str, dict[str, str]]:
    return {
        str(case.get("name")): {
            str(p.get("name")): str(p.get("value")) for p in case.iter("property")
        }
        for case in ET.parse(junit).iter("testcase")
    }


def test_collects_one_item_per_scenario_and_variant(library: pytest.Pytester) -> None:
    result = library.runpytest("--collect-only", "-q", *INNER_SESSION)
    result.stdout.fnmatch_lines(
        [
            "scenarios/card_purchase.yaml::card_purchase[[]sim[]]",
            "scenarios/card_purchase.yaml::card_purchase[[]pcsc[]]",
            "scenarios/card_purchase_declined.yaml::card_purchase_declined",
            "scenarios/qr_wechat.yaml::qr_wechat[[]sim[]]",
            "scenarios/qr_wechat.yaml::qr_wechat[[]pty[]]",
            "5 tests collected*",
        ]
    )
    result.stdout.no_fnmatch_line("*firmware_fixtures*")
    result.stdout.no_fnmatch_line("*notes.yaml*")


def test_variants_are_a_cross_product(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npossim_scenario_dirs = qa\n")
    text = _library_copy("printer_paper_out.yaml", variants=False).replace(
        "steps:\n",
        "variants:\n  card_transport: [sim, pcsc]\n  printer_transport: [usb, tcp]\nsteps:\n",
    )
    (pytester.mkdir("qa") / "paper.yaml").write_text(text, encoding="utf-8")
    result = pytester.runpytest("--collect-only", "-q", *INNER_SESSION)
    ids = [line for line in result.stdout.lines if "::" in line]
    assert ids == [
        f"qa/paper.yaml::paper[{variant}]"
        for variant in ("sim-usb", "sim-tcp", "pcsc-usb", "pcsc-tcp")
    ]


def test_a_bad_scenario_is_a_collection_error_with_file_and_line(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini(OPTED_IN)
    bad = "name: bad\nvariants:\n  card_transport: [sim, nfc]\nsteps:\n  - sale: '1.00'\n"
    (pytester.mkdir("scenarios") / "bad.yaml").write_text(bad, encoding="utf-8")
    result = pytester.runpytest(*INNER_SESSION)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*scenarios/bad.yaml:3: variants.card_transport: unknown value 'nfc'*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")


def test_failing_scenario_shows_file_line_and_expectation(pytester: pytest.Pytester) -> None:
    pytester.makeini(OPTED_IN)
    path = pytester.mkdir("scenarios") / "wrong.yaml"
    path.write_text(FAILING, encoding="utf-8")
    result = pytester.runpytest(*INNER_SESSION)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"{path}:7: line 7: screen approved: expected screen approved within 10 s;*",
            "transcript (most recent last):",
            "*[[]declined[]]*51*",
        ]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*site-packages*")


def test_junit_carries_the_device_configuration(library: pytest.Pytester) -> None:
    junit, report = library.path / "junit.xml", library.path / "report"
    result = library.runpytest(
        "-k",
        "declined or qr_wechat",
        f"--junitxml={junit}",
        f"--pos-report={report}",
        "--pos-seed",
        "7",
        *INNER_SESSION,
    )
    result.assert_outcomes(passed=3)
    record = json.loads((report / "run.json").read_text(encoding="utf-8"))
    assert (report / "index.html").is_file()
    assert record["run"]["seed"] == "7", record["run"]
    properties = _properties(junit)
    declined = properties["card_purchase_declined"]
    assert declined["seed"] == "7"
    assert declined["terminal_id"] == "POSSIM01"
    assert declined["device.card_reader"] == "sim://"
    assert declined["device.printer"].startswith("sim://")
    assert declined["card_transport"] == "sim"
    pty = properties["qr_wechat[pty]"]
    assert pty["scanner_transport"] == "pty"
    assert Path(pty["artifacts"], "transcript.jsonl").is_file()


def _junit_id(nodeid: str) -> str:
    """``nodeid`` as :func:`_outcomes` names it (pytest's junitxml classname::name)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = names[0].replace("/", ".").removesuffix(".py")
    return f"{'.'.join(names[:-1])}::{names[-1]}{bracket}{params}"


def _merged_report(report: Path) -> list[dict[str, Any]]:
    """The report's scenario records, after checking it is one report whose images resolve."""
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "run.json"]
    record = json.loads((report / "run.json").read_text(encoding="utf-8"))
    scenarios: list[dict[str, Any]] = record["scenarios"]
    receipts = [path for scenario in scenarios for path in scenario["receipts"]]
    missing = [path for path in receipts if not (report / path).is_file()]
    assert not missing, missing
    page = (report / "index.html").read_text(encoding="utf-8")
    images = [unquote(html.unescape(src)) for src in re.findall(r'<img src="([^"]*)"', page)]
    assert images == receipts
    return scenarios


def _workers(report: Path, scenarios: list[dict[str, Any]], artifacts: Path) -> set[str]:
    """The workers (``artifacts/gwN``) whose folders the records' artifacts are in."""
    folders = [(report / scenario["artifacts"]).resolve() for scenario in scenarios]
    return {w.name for w in artifacts.iterdir() if any(f.is_relative_to(w) for f in folders)}


def test_parallel_run_matches_the_serial_run_and_writes_one_merged_report(
    library: pytest.Pytester,
) -> None:
    (library.path / "scenarios" / "wrong.yaml").write_text(FAILING, encoding="utf-8")
    bad = "name: bad\nvariants:\n  card_transport: [sim, nfc]\nsteps:\n  - sale: '1.00'\n"
    (library.path / "scenarios" / "bad.yaml").write_text(bad, encoding="utf-8")
    report, artifacts = library.path / "report", library.path / "runs"
    junit, serial_xml = library.path / "junit.xml", library.path / "serial.xml"
    # (xdist runs the items despite bad.yaml's collection error; pytest alone is told to.)
    library.runpytest(f"--junitxml={serial_xml}", "--continue-on-collection-errors", *INNER_SESSION)
    library.runpytest(
        "-n",
        "2",
        f"--junitxml={junit}",
        f"--pos-report={report}",
        f"--pos-artifacts={artifacts}",
        *INNER_SESSION,
    )
    # The same items with the same outcomes as the serial run.
    assert _outcomes(junit) == _outcomes(serial_xml)
    outcomes = {item: o for item, o in _outcomes(junit).items() if "bad.yaml" not in item}
    # Each worker its own artifacts (and so its own SQLite journal and ledger).
    assert sorted(p.name for p in artifacts.iterdir()) == ["gw0", "gw1"]
    ledgers = list(artifacts.rglob("ledger.sqlite"))
    assert len(ledgers) == len([o for o in outcomes.values() if o in ("passed", "failure")])
    collected = [
        "scenarios/card_purchase.yaml::card_purchase[sim]",
        "scenarios/card_purchase.yaml::card_purchase[pcsc]",
        "scenarios/card_purchase_declined.yaml::card_purchase_declined",
        "scenarios/qr_wechat.yaml::qr_wechat[sim]",
        "scenarios/qr_wechat.yaml::qr_wechat[pty]",
        "scenarios/wrong.yaml::wrong",
    ]
    assert sorted(outcomes) == sorted(map(_junit_id, collected))
    ran = [nodeid for nodeid in collected if outcomes[_junit_id(nodeid)] != "skipped"]
    scenarios = _merged_report(report)
    record = json.loads((report / "run.json").read_text(encoding="utf-8"))
    # Every item once, in collection order, whichever worker ran it.
    assert [scenario["test_id"] for scenario in scenarios] == ran
    assert record["run"]["xdist_workers"] == ["gw0", "gw1"]
    # Both workers failed to collect bad.yaml: it is listed once.
    assert [(Path(i["file"]).name, i["line"]) for i in record["invalid"]] == [("bad.yaml", 3)]
    totals = record["run"]["totals"]
    assert (totals["scenarios"], totals["failed"]) == (len(ran), 1)
    assert _workers(report, scenarios, artifacts) == {"gw0", "gw1"}
    assert all((report / s["artifacts"] / "transcript.jsonl").is_file() for s in scenarios)
    by_id = {scenario["test_id"]: scenario for scenario in scenarios}
    wrong = by_id["scenarios/wrong.yaml::wrong"]
    assert wrong["result"] == "failed" and wrong["failure_location"].endswith("wrong.yaml:7")
    assert wrong["rerun"].startswith("possim run ") and "--seed" in wrong["rerun"]
    # Labels are the whole run's, not a worker's: the two qr_wechat items are runs 1 and 2.
    pair = [by_id[f"scenarios/qr_wechat.yaml::qr_wechat[{v}]"] for v in ("sim", "pty")]
    assert [s["label"] for s in pair] == [
        f"{s['name']} [run {i}/2, seed {s['seed']}]" for i, s in enumerate(pair, 1)
    ]


def test_a_crashed_worker_is_named_in_the_merged_report(library: pytest.Pytester) -> None:
    library.makepyfile(test_crash="import os\n\n\ndef test_crash():\n    os._exit(3)\n")
    report = library.path / "report"
    result = library.runpytest(
        "-n",
        "2",
        "-k",
        "qr_wechat or declined or crash",
        f"--pos-report={report}",
        *INNER_SESSION,
    )
    result.stdout.fnmatch_lines(["*worker*crashed while running*test_crash*"])
    record = json.loads((report / "run.json").read_text(encoding="utf-8"))
    lost = record["run"]["xdist_workers_lost"]
    assert len(lost) == 1 and lost[0] in ("gw0", "gw1"), record["run"]
    # The items the lost worker had run are missing; the others are listed once.
    ids = [scenario["test_id"] for scenario in _merged_report(report)]
    assert len(ids) == len(set(ids)) and not any("crash" in i for i in ids)
    assert set(ids) <= {
        "scenarios/card_purchase_declined.yaml::card_purchase_declined",
        "scenarios/qr_wechat.yaml::qr_wechat[sim]",
        "scenarios/qr_wechat.yaml::qr_wechat[pty]",
    }


class _LibraryRun:
    """``pytest scenarios/`` over the real library in a fresh process of this Python.

    Started by the constructor; :meth:`wait` collects it. The serial and the
    ``-n 2`` run go side by side: neither shares anything with the other (their
    own basetemp, artifacts, reports, private pcscds), which this also proves.
    """

    def __init__(self, folder: Path, *extra: str) -> None:
        folder.mkdir()
        self.report, self.artifacts = folder / "report", folder / "artifacts"
        self.junit = folder / "junit.xml"
        self.command = [
            sys.executable, "-m", "pytest", "scenarios/", "-q", *LEAN_PYTEST,
            f"--basetemp={folder / 'tmp'}", f"--junitxml={self.junit}",
            f"--pos-report={self.report}", f"--pos-artifacts={self.artifacts}", *extra,
        ]  # fmt: skip
        # A missing pcscd must fail the pcsc items here, never skip them.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
        env[REQUIRE_SYSTEM_ENV] = "1"
        self._process = subprocess.Popen(
            self.command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        self.output = ""
        self.outcomes: dict[str, str] = {}

    def wait(self) -> _LibraryRun:
        try:
            stdout, _ = self._process.communicate(timeout=900)
        finally:
            if self._process.poll() is None:
                self._process.kill()
        code = self._process.returncode
        self.output = f"{' '.join(self.command)} exited {code}:\n{stdout[-4000:]}"
        assert code in (0, 1) and self.junit.is_file(), self.output
        self.outcomes = _outcomes(self.junit)
        return self


@pytest.mark.system_package("pcscd")
@pytest.mark.system_package("vpcd-config")
@pytest.mark.system_package("pyscard")
def test_whole_library_under_xdist_matches_the_serial_run(tmp_path: Path) -> None:
    """Issue 6: ``pytest scenarios/ -n 2`` passes with the serial run's results, and
    ``--pos-report`` writes one report listing every item, receipts and all."""
    from simulator.pcscd import missing_requirements

    problems = missing_requirements()
    if problems:  # the library's pcsc variants need a private pcscd
        message = "a private pcscd cannot run here: " + "; ".join(problems)
        if os.environ.get(REQUIRE_SYSTEM_ENV) == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    serial_run = _LibraryRun(tmp_path / "serial")
    parallel = _LibraryRun(tmp_path / "parallel", "-n", "2").wait()
    serial = serial_run.wait()
    assert serial.outcomes, serial.output
    failed = sorted(item for item, outcome in serial.outcomes.items() if outcome != "passed")
    assert not failed, serial.output
    assert parallel.outcomes == serial.outcomes, parallel.output

    reports = {}
    for run in (serial, parallel):
        scenarios = _merged_report(run.report)
        assert sorted(_junit_id(s["test_id"]) for s in scenarios) == sorted(serial.outcomes)
        reports[run is parallel] = {scenario["test_id"]: scenario for scenario in scenarios}
    serial_records, merged = reports[False], reports[True]
    assert list(merged) == list(serial_records)  # one record per item, in collection order
    assert sum(len(s["receipts"]) for s in merged.values()) > 0
    assert _workers(parallel.report, list(merged.values()), parallel.artifacts) == {"gw0", "gw1"}
    for test_id, record in merged.items():
        # The same seed gives the same transcript, steps and receipts on any worker.
        same = serial_records[test_id]
        assert len(record["receipts"]) == len(same["receipts"]), test_id
        differing = [
            key
            for key in same
            if key not in ("seconds", "artifacts", "receipts") and record.get(key) != same[key]
        ]
        assert not differing, (test_id, differing)


def test_pcsc_variant_skips_with_the_reason_or_fails_under_ci(
    library: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import simulator.scenario.pytest_plugin as plugin

    monkeypatch.setattr(plugin, "_pcscd_problems", lambda: ("pcscd is not installed",))
    monkeypatch.delenv("POSSIM_REQUIRE_SYSTEM", raising=False)
    result = library.runpytest("-rs", "-k", "card_purchase and not declined", *INNER_SESSION)
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["*card_transport=pcsc cannot run here: pcscd is not installed*"])

    monkeypatch.setenv("POSSIM_REQUIRE_SYSTEM", "1")
    result = library.runpytest("-k", "card_purchase and not declined", *INNER_SESSION)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*POSSIM_REQUIRE_SYSTEM=1 requires it*"])


def test_pos_fixture_purchases_and_skips_without_a_device(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=POS_TEST)
    result = pytester.runpytest("-rs", *INNER_SESSION)
    result.assert_outcomes(passed=4, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*: no --pos-printer given"])


def test_pos_device_reports_the_drivers_reason(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_shop=POS_TEST)
    result = pytester.runpytest(
        "-rs", "-k", "real_printer", "--pos-printer", "usb://0416:5011", *INNER_SESSION
    )
    result.assert_outcomes(skipped=1)
    # No such USB device (and which printers there are), or no libusb: the driver says.
    result.stdout.fnmatch_lines(["SKIPPED*: *usb://0416:5011*"])


def test_real_printer_url_replaces_the_simulated_one(pytester: pytest.Pytester) -> None:
    """A network printer (possim's, on loopback) given by --pos-printer prints the
    pos fixture's and a scenario's receipts; the printer_transport axis disappears."""
    printer = VirtualPrinter(PrinterProfile.load("generic_58mm"))
    with TcpPrinter(PrinterPort(printer)) as network_printer:
        pytester.makeini(OPTED_IN)
        pytester.makepyfile(test_shop=POS_TEST)
        text = _library_copy("printer_paper_out.yaml")
        card = _library_copy("card_purchase.yaml", variants=False)
        folder = pytester.mkdir("scenarios")
        (folder / "printer_paper_out.yaml").write_text(text, encoding="utf-8")
        (folder / "card_purchase.yaml").write_text(card, encoding="utf-8")
        result = pytester.runpytest(
            "-v",
            "-k",
            "real_printer or card_purchase or paper_out",
            "--pos-printer",
            network_printer.url,
            *INNER_SESSION,
        )
        # paper_out drives the simulated printer's paper sensor: a real printer has none,
        # and the step that would pull its paper fails at its line, saying so.
        result.assert_outcomes(passed=3, failed=1)
        result.stdout.fnmatch_lines(
            ["*printer_paper_out.yaml::printer_paper_out FAILED*", "*card_purchase PASSED*"]
        )
        result.stdout.fnmatch_lines(
            [
                "*printer_paper_out.yaml:7: line 7: printer paper_end=True: the printer is "
                f"{network_printer.url}, not simulated: cannot inject its faults*"
            ]
        )
    assert len(printer.receipts) == 6  # two copies each: two pos tests' and the scenario's
    assert all("RMB 12.34" in receipt.text for receipt in printer.receipts)


def test_real_devices_cannot_be_shared_by_xdist_workers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("-n", "2", "--pos-printer", "tcp://127.0.0.1:9", *INNER_SESSION)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--pos-printer name a real device that 2 xdist workers*"])


def test_pos_errors_name_the_calling_line(tmp_path: Path) -> None:
    with Pos(tmp_path) as shop:
        with pytest.raises(
            ScenarioError, match=r"test_pytest_plugin\.py:\d+: sale: 'twelve' is not an amount"
        ):
            shop.pay_by_card("twelve")
        with pytest.raises(ScenarioError, match=r"customer_pays_qr\.wallet"):
            shop.pay_by_qr("1.00", wallet="paypal")
        with pytest.raises(ScenarioError, match="did you mean 'expect_screen'"):
            shop.step("expect_scren", "idle")


# -- a project that did not ask for possim ------------------------------------------------

UNRELATED_CONFTEST = """
import sys

def pytest_sessionfinish(session):
    loaded = sorted(
        name for name in sys.modules
        if name.split(".")[0] in ("possim", "simulator", "drivers", "firmware_fixtures")
    )
    with open("possim_modules.txt", "w") as out:
        out.write("\\n".join(loaded))
"""
UNRELATED_TESTS = """
import warnings

def test_passes():
    pass

def test_a_tripledes_warning_is_an_error_here():
    warnings.warn("TripleDES has been moved", DeprecationWarning)
"""


def _unrelated_project(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nfilterwarnings = error\n")
    pytester.makeconftest(UNRELATED_CONFTEST)
    pytester.makepyfile(test_app=UNRELATED_TESTS)
    folder = pytester.mkdir("scenarios")
    (folder / "deploy.yaml").write_text("name: production\nsteps: [build, ship]\n", "utf-8")
    (folder / "broken.yaml").write_text("this: [is not: yaml\n", "utf-8")


def test_an_unrelated_project_runs_exactly_as_without_possim(pytester: pytest.Pytester) -> None:
    """Its own scenarios/*.yaml are not collected, possim's warning filters do not apply,
    and nothing of possim but the plugin's entry module is imported."""
    _unrelated_project(pytester)
    without = pytester.runpytest_subprocess("-p", "no:possim", *LEAN_PYTEST)
    with_possim = pytester.runpytest_subprocess(*LEAN_PYTEST)
    for result in (without, with_possim):
        result.assert_outcomes(passed=1, failed=1)
        result.stdout.fnmatch_lines(["*DeprecationWarning: TripleDES has been moved*"])
        result.stdout.no_fnmatch_line("*yaml*")
    loaded = (pytester.path / "possim_modules.txt").read_text(encoding="utf-8").split()
    assert loaded == ["possim", "possim.pytest_plugin"]


def test_possims_own_items_ignore_its_warnings_and_no_one_elses(pytester: pytest.Pytester) -> None:
    """In a project that uses possim under filterwarnings = error: the pos test passes
    (cryptography's TripleDES warning is ignored on it), the project's own test does not."""
    _unrelated_project(pytester)
    pytester.makepyfile(
        test_shop=(
            "def test_card_purchase(pos):\n    assert pos.pay_by_card('12.34').approved\n\n"
            "def test_another(pos):\n    assert pos.pay_by_card('1.00').approved\n"
        )
    )
    result = pytester.runpytest(*INNER_SESSION)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(["FAILED test_app.py::test_a_tripledes_warning_is_an_error_here*"])
