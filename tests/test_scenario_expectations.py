"""Scenarios and receipts (issue 13): QR void and refund slips, background events,
absence checks, receipt selectors, mid-payment expectations, expectations that
send no traffic, and the docs that say what each slip and screen shows."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from simulator.cli import build_parser, main
from simulator.gateway.qr.channels import QrChannels
from simulator.scenario.model import Step, load_scenario
from simulator.scenario.runner import ExpectationFailed, ScenarioResult, ScenarioRun, run_scenario
from simulator.simulation import SCANNER_TRANSPORTS
from simulator.terminal.display import ScreenId
from simulator.terminal.qr_link import QrLink
from simulator.wire.money import format_yuan
from simulator.wire.receipts import RECEIPT_FIELDS, ReceiptTemplate

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ROOT / "scenarios"
SCENARIOS_DOC = ROOT / "docs" / "scenarios.md"

WECHAT_CODE = "134567890123456789"
ALIPAY_CODE = "285678901234567890"
CARD_SALE = """\
  - sale: "12.34"
  - insert_card: unionpay_debit
  - expect_screen: enter_pin
  - enter_pin: card
  - expect_screen: approved
  - remove_card:
  - expect_callback: {result: OK}
"""


def _write(tmp_path: Path, steps: str, name: str = "probe") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\nseed: 1\nsteps:\n{steps}", encoding="utf-8")
    return path


def _run(tmp_path: Path, steps: str, observer: object = None) -> ScenarioResult:
    scenario = load_scenario(_write(tmp_path, steps))
    return run_scenario(scenario, tmp_path / "out", observer=observer)  # type: ignore[arg-type]


def _events(result: ScenarioResult) -> list[dict[str, object]]:
    lines = (result.artifacts / "transcript.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def _printed_titles(result: ScenarioResult) -> list[str]:
    return [
        str(e["detail"]["title"])  # type: ignore[index]
        for e in _events(result)
        if e["source"] == "printer" and e["kind"] == "print"
    ]


def _check_problems(tmp_path: Path, steps: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    path = _write(tmp_path, steps, "check")
    status = main(["check", str(path)])
    out = capsys.readouterr().out.splitlines()
    assert status == 2, out  # invalid input (docs/cli.md)
    return out


# -- QR voids and refunds print slips ------------------------------------------------


def test_qr_refund_and_void_print_a_merchant_and_a_customer_copy(tmp_path: Path) -> None:
    # expect_receipt's help (docs/scenarios.md): "A sale, void or refund prints a
    # merchant and a customer copy" -- card voids and refunds did, QR ones did not.
    result = _run(
        tmp_path,
        f"""\
  - sale: {{amount: "12.34", method: scan}}
  - scan_code: "{WECHAT_CODE}"
  - expect_callback: {{result: OK}}
  - refund: {{order: last, amount: "5.00"}}
  - expect_callback: {{result: OK}}
  - expect_receipt: {{copies: 4}}
  - expect_receipt: {{copies: 4, contains: "微信支付 WeChat Pay"}}
  - sale: {{amount: "20.00", method: scan}}
  - scan_code: "{ALIPAY_CODE}"
  - expect_callback: {{result: OK}}
  - void: {{order: last}}
  - expect_callback: {{result: OK}}
  - expect_receipt: {{copies: 8}}
""",
    )
    assert result.passed, result.failure_text
    assert _printed_titles(result)[2:4] == [
        "qr_refund receipt (merchant copy)",
        "qr_refund receipt (customer copy)",
    ]
    assert _printed_titles(result)[6:] == [
        "qr_void receipt (merchant copy)",
        "qr_void receipt (customer copy)",
    ]
    receipts = (result.artifacts / "receipts.txt").read_text(encoding="utf-8")
    refund_slips = receipts.split("退款 REFUND")
    assert len(refund_slips) == 3  # on both copies
    assert receipts.count("RMB -5.00") == 2
    assert receipts.count("撤销 VOID") == 2
    assert receipts.count("RMB -20.00") == 2
    assert receipts.count("顾客存根 CUSTOMER COPY") == 4  # two sales, a refund, a void


# -- background events: notifies ------------------------------------------------------

DYNAMIC_PAID = """\
  - sale: {amount: "12.34", method: alipay}
  - expect_screen: show_qr
  - customer_pays_qr: {wallet: alipay}
  - expect_callback: {result: OK}
"""


def test_replay_notify_lets_the_duplicate_arrive_before_the_next_step(tmp_path: Path) -> None:
    result = _run(
        tmp_path, DYNAMIC_PAID + "  - replay_notify:\n  - expect_notifies: {duplicate: 1}\n"
    )
    assert result.passed, result.failure_text
    events = _events(result)
    duplicate = next(
        i
        for i, e in enumerate(events)
        if e["source"] == "notify_receiver" and e["detail"].get("verdict") == "duplicate"  # type: ignore[union-attr]
    )
    next_step = next(
        i for i, e in enumerate(events) if e["kind"] == "step" and "notifies" in str(e["summary"])
    )
    assert duplicate < next_step


class _ReplayBefore:
    """Replays the notify straight through the gateway (no settling) before a step."""

    def __init__(self, keyword: str) -> None:
        self.keyword = keyword

    def before_step(self, run: ScenarioRun, step: Step) -> None:
        if step.keyword != self.keyword:
            return
        link = run.sim.terminal.qr_link
        assert link is not None
        phone = QrLink(
            link.base_url,
            merchant_id=link.merchant_id,
            terminal_id=link.terminal_id,
            api_key=run.sim.terminal.config.keys.merchant_api_key,
            bus=None,
        )
        order = run.sim.terminal.journal.qr_entries()[-1].out_trade_no
        phone.sim("notify/replay", {"out_trade_no": order})

    def after_step(self, run: ScenarioRun, step: Step, failure: ExpectationFailed | None) -> None:
        pass


def test_expect_notifies_waits_within_for_a_notify_on_its_way(tmp_path: Path) -> None:
    # The replayed notify leaves the gateway 1 s after the replay (qr_channels.yaml).
    steps = DYNAMIC_PAID + "  - expect_notifies: {accepted: 1, duplicate: 1, within: 5s}\n"
    assert _run(tmp_path / "a", steps, _ReplayBefore("expect_notifies")).passed
    late = _run(tmp_path / "b", steps.replace("5s", "500ms"), _ReplayBefore("expect_notifies"))
    assert not late.passed
    assert "expected 1 duplicate notify(ies) within 0.5 s, saw 0" in late.failure_text


# -- absence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("expect_ledger: {status: approved, count: 0}", "expect_ledger: count: 0 says there"),
        ("expect_journal: {state: approved, count: 0}", "expect_journal: count: 0 says there"),
        ("expect_ledger: {kind: sale, count: 0}", "none can have kind: sale"),
        ("expect_receipt: {copies: 0, contains: RMB}", "copies: 0 leaves no receipt"),
        ("expect_receipt: {copies: 2, index: 1}", "index picks one receipt"),
        ("expect_receipt: {copies: 1, reprints: 2}", "can never pass"),
        ('expect_gateway: [{mti: "0400", "55": "9F26", without: [55]}]', "both required and"),
        ('expect_qr_order: {state: NONE, now: "true"}', "expect_qr_order.now: expected true or"),
        ("expect_screen: {screen: approved, now: true, within: 5s}", "within: cannot apply"),
        ("expect_journal: {}", "expected state"),
    ],
)
def test_check_refuses_expectations_that_cannot_pass(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], step: str, problem: str
) -> None:
    (line,) = _check_problems(tmp_path, f'  - sale: "1.00"\n  - {step}\n', capsys)
    assert line.startswith(f"{tmp_path / 'check.yaml'}:5: "), line
    assert problem in line, line


def test_count_zero_alone_checks_that_nothing_was_recorded(tmp_path: Path) -> None:
    nothing = """\
  - sale: "12.34"
  - expect_screen: present_card
  - cashier_cancels:
  - expect_callback: {result: CANCELED}
  - expect_journal: {count: 0}
  - expect_ledger: {count: 0}
  - expect_charged: "0.00"
  - expect_gateway: {exact: true, messages: []}
"""
    result = _run(tmp_path / "a", nothing)
    assert result.passed, result.failure_text
    after_a_sale = _run(tmp_path / "b", CARD_SALE + "  - expect_ledger: {count: 0}\n")
    assert not after_a_sale.passed
    assert "expected 0 ledger entries, found 1: sale approved" in after_a_sale.failure_text


def test_expect_charged_sees_every_channel(tmp_path: Path) -> None:
    steps = (
        CARD_SALE
        + f"""\
  - sale: {{amount: "5.00", method: scan}}
  - scan_code: "{WECHAT_CODE}"
  - expect_callback: {{result: OK}}
  - expect_charged: {{card: "12.34", wechat: "5.00", alipay: "0.00", total: "17.34"}}
  - expect_charged: "0.00"
"""
    )
    result = _run(tmp_path, steps)
    assert not result.passed
    assert (
        "expected total RMB 0.00 charged, it is RMB 17.34 (card RMB 12.34, wechat RMB 5.00, "
        "alipay RMB 0.00, unionpay_qr RMB 0.00)" in result.failure_text
    )
    assert result.failure_location.endswith(":15")  # the first expect_charged passed


def test_expect_gateway_checks_fields_present_and_absent(tmp_path: Path) -> None:
    lost = """\
  - gateway_fault: {drop_response: true}
  - sale: "12.34"
  - insert_card: unionpay_debit
  - expect_screen: enter_pin
  - enter_pin: card
  - remove_card:
  - expect_callback: {result: CANCELED}
  - expect_gateway: [{mti: "0200", with: [52, 55]}]
"""
    # An offline-PIN chip sale carries chip data (DE55) and no PIN block (DE52);
    # its reversal neither (authorisation.py: the 0400's fields).
    missing = _run(tmp_path / "a", lost)
    assert not missing.passed
    assert "the gateway never saw 0200 with DE52 with DE55" in missing.failure_text
    right = lost.replace(
        '[{mti: "0200", with: [52, 55]}]',
        '[{mti: "0200", with: [55], without: [52]}, {mti: "0400", without: [52, 55]}]',
    )
    result = _run(tmp_path / "b", right)
    assert result.passed, result.failure_text


def test_expect_receipt_selects_one_receipt_by_index_or_kind(tmp_path: Path) -> None:
    steps = (
        CARD_SALE
        + """\
  - void: {order: last}
  - expect_callback: {result: OK}
  - expect_receipt: {kind: sale, copies: 2, contains: "消费 SALE"}
  - expect_receipt: {kind: void, copies: 2, contains: ["撤销 VOID", "RMB -12.34"]}
  - expect_receipt: {kind: refund, copies: 0}
  - expect_receipt: {index: 3, contains: ["撤销 VOID", "商户存根 MERCHANT COPY"]}
  - expect_receipt: {kind: void, index: -1, contains: "持卡人存根 CARDHOLDER COPY"}
  - expect_receipt: {index: 1, contains: "撤销 VOID"}
"""
    )
    result = _run(tmp_path, steps)
    assert not result.passed
    assert result.failure_location.endswith(":18"), result.failure_text
    assert "receipt 1 lacks '撤销 VOID'" in result.failure_text
    beyond = _run(tmp_path / "b", CARD_SALE + "  - expect_receipt: {kind: void, index: 1}\n")
    assert "no receipt 1: the printer cut 0 void receipt(s) (in all: sale, sale)" in (
        beyond.failure_text
    )


# -- in the middle of a payment ---------------------------------------------------------

USERPAYING = f"""\
  - sale: {{amount: "1200.00", method: scan}}
  - scan_code: "{WECHAT_CODE}"
"""


def test_now_sees_a_userpaying_payment_before_it_ends(tmp_path: Path) -> None:
    steps = (
        USERPAYING
        + """\
  - expect_qr_order: {state: USERPAYING, channel: wechat, now: true}
  - expect_screen: {screen: waiting_payment, now: true}
  - customer_confirms:
  - expect_qr_order: {state: SUCCESS}
"""
    )
    result = _run(tmp_path / "a", steps)
    assert result.passed, result.failure_text
    events = _events(result)
    checked = next(i for i, e in enumerate(events) if "USERPAYING" in str(e["summary"]))
    approved = next(i for i, e in enumerate(events) if e["summary"].startswith("[approved]"))  # type: ignore[union-attr]
    assert checked < approved
    # Without now: the expectation waits for the payment to end: reversed at 30 s.
    waited = _run(tmp_path / "b", USERPAYING + "  - expect_qr_order: {state: USERPAYING}\n")
    assert "expected the gateway order USERPAYING, it is REVOKED" in waited.failure_text


def test_now_sees_a_reversal_pending(tmp_path: Path) -> None:
    steps = """\
  - gateway_fault: {drop_response: true, times: 2}
  - sale: "12.34"
  - insert_card: unionpay_debit
  - expect_screen: enter_pin
  - enter_pin: card
  - wait: 31s
  - expect_journal: {state: reversal_pending, now: true}
  - expect_screen: {screen: reversing, now: true}
  - remove_card:
  - expect_journal: {state: reversed}
"""
    result = _run(tmp_path, steps)
    assert result.passed, result.failure_text


# -- expectations send nothing -------------------------------------------------------------


def test_expect_qr_order_sends_no_traffic(tmp_path: Path) -> None:
    steps = f"""\
  - sale: {{amount: "12.34", method: scan}}
  - scan_code: "{WECHAT_CODE}"
  - expect_callback: {{result: OK}}
  - expect_qr_order: {{state: SUCCESS, channel: wechat}}
  - expect_qr_order: {{state: SUCCESS}}
"""
    result = _run(tmp_path, steps)
    assert result.passed, result.failure_text
    events = _events(result)
    first = next(i for i, e in enumerate(events) if "QR order SUCCESS" in str(e["summary"]))
    after = [e for e in events[first:] if e["source"] != "scenario"]
    assert after == [], [e["summary"] for e in after]


# -- the docs --------------------------------------------------------------------------------


def _section(doc: str, title: str) -> str:
    start = doc.index(f"## {title}\n")
    end = doc.find("\n## ", start + 1)
    return doc[start : end if end != -1 else None]


def _table_rows(section: str, header: str) -> list[list[str]]:
    lines = section[section.index(header) :].splitlines()
    rows = []
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _ticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def _operation_rows() -> list[list[str]]:
    doc = SCENARIOS_DOC.read_text(encoding="utf-8")
    if "## What each operation prints and shows\n" not in doc:
        return []  # test_the_docs_say_what_each_operation_prints says so
    return _table_rows(_section(doc, "What each operation prints and shows"), "| operation |")


OPERATIONS = _operation_rows()


def test_the_docs_say_what_each_operation_prints() -> None:
    scenarios = {_ticked(row[-1])[0] for row in OPERATIONS}
    assert {
        "card_purchase",
        "card_void",
        "card_refund_partial",
        "settlement_balanced",
        "qr_wechat",
        "qr_dynamic_wechat",
        "qr_void",
        "qr_refund",
    } <= scenarios


@pytest.mark.parametrize("row", OPERATIONS, ids=[row[0] for row in OPERATIONS])
def test_the_operations_table_says_what_the_library_scenario_shows(
    tmp_path: Path, row: list[str]
) -> None:
    _, screens, printed, says, scenario_cell = row
    (name,) = _ticked(scenario_cell)
    tally = _ReceiptsByKind()
    result = run_scenario(load_scenario(LIBRARY / f"{name}.yaml"), tmp_path, observer=tally)
    assert result.passed, result.failure_text
    shown = iter(
        e["detail"]["screen"]  # type: ignore[index]
        for e in _events(result)
        if e["kind"] == "screen"
    )
    for screen in _ticked(screens):
        assert screen in {s.value for s in ScreenId}
        assert any(seen == screen for seen in shown), f"{screen} not in order in {name}"
    receipts = tally.receipts
    if printed == "nothing":
        assert receipts == {}, receipts
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) × `(\w+)`", printed)}
    assert counts or printed == "nothing"
    for kind, count in counts.items():
        assert len(receipts.get(kind, [])) == count, (kind, receipts)
    texts = "\n".join(text for kind in counts for text in receipts[kind])
    for wanted in _ticked(says):
        assert wanted in texts, f"{wanted!r} is on no {list(counts)} receipt of {name}"


class _ReceiptsByKind:
    """The receipts cut so far, by kind as expect_receipt tells them apart, after each step."""

    def __init__(self) -> None:
        self.receipts: dict[str, list[str]] = {}

    def before_step(self, run: ScenarioRun, step: Step) -> None:
        pass

    def after_step(self, run: ScenarioRun, step: Step, failure: ExpectationFailed | None) -> None:
        self.receipts = {}
        for text in run.receipts():
            self.receipts.setdefault(str(run.receipt_kind(text)), []).append(text)


def test_the_screens_table_covers_every_screen_with_the_terminals_own_titles() -> None:
    section = _section(
        SCENARIOS_DOC.read_text(encoding="utf-8"), "What each operation prints and shows"
    )
    rows = _table_rows(section, "| screen |")
    assert [_ticked(row[0])[0] for row in rows] == [s.value for s in ScreenId]
    source = "\n".join(
        path.read_text(encoding="utf-8") for path in (ROOT / "simulator" / "terminal").glob("*.py")
    )
    for row in rows:
        for title in re.split(r",(?: or)? ", re.sub(r"\([^)]*\)", "", row[1])):
            if title.strip():
                assert f'"{title.strip()}' in source, f"{row[0]}: {title!r} is not a screen title"


def test_the_userpaying_limits_in_the_docs_are_the_channels() -> None:
    values = SCENARIOS_DOC.read_text(encoding="utf-8")
    found = re.search(
        r"WeChat Pay\s+`([\d.]+)`,\s+Alipay\s+`([\d.]+)`,\s+UnionPay QR\s+`([\d.]+)`", values
    )
    assert found is not None, "docs/scenarios.md names no per-wallet password-free limit"
    channels = QrChannels.load()
    limits = [format_yuan(channels[c].password_free_limit_fen) for c in channels.channels]
    assert list(found.groups()) == limits
    # The example that made Alipay wait is not one: 1200.00 is under Alipay's limit.
    assert channels["alipay"].password_free_limit_fen >= 120000
    assert channels["alipay"].password_free_limit_fen < 250000
    assert '`"2500.00"`' in values


def test_the_scanner_doc_names_how_possim_run_reaches_the_scanner() -> None:
    doc = (ROOT / "docs" / "scanner.md").read_text(encoding="utf-8")
    assert "still uses `sim://`" not in doc
    rows = _table_rows(_section(doc, "The virtual scanner in scenarios"), "| transport |")
    assert tuple(_ticked(row[0])[0] for row in rows) == SCANNER_TRANSPORTS
    (command,) = [line for line in doc.splitlines() if line.startswith(".venv/bin/possim run")]
    argv = shlex.split(command.strip())[1:]
    args = build_parser("run").parse_args(argv)
    assert args.scanner_transport == "pty"


def test_every_expectation_that_waits_documents_now() -> None:
    reference = SCENARIOS_DOC.read_text(encoding="utf-8")
    for keyword in (
        "expect_screen",
        "expect_gateway",
        "expect_receipt",
        "expect_journal",
        "expect_ledger",
        "expect_qr_order",
        "expect_charged",
    ):
        section = reference[reference.index(f"### `{keyword}`") :]
        section = section[: section.index("```yaml")]
        assert "| `now` |" in section, keyword


def test_each_receipt_template_is_told_apart_from_every_other() -> None:
    # expect_receipt: {kind: ...} names a receipt by the template it was printed from.
    names = ("sale", "void", "refund", "qr_sale", "qr_slip", "qr_void", "qr_refund", "settlement")
    templates = [ReceiptTemplate.load(name) for name in names]
    values = {field: "9" * 6 for field in RECEIPT_FIELDS}
    for template in templates:
        for copy in template.copies:
            text = template.render(copy, values, width=32).plain_text()
            scores = {other.name: other.recognise(text) for other in templates}
            best = max(scores, key=lambda name: scores[name])
            assert best == template.name, (template.name, copy, scores)
            assert sorted(scores.values())[-2] < scores[best], (template.name, scores)
