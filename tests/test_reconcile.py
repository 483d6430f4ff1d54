"""Reconciliation, one case at a time, the report, the merged statement and the CLI."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

import attrs
import pytest
from backoffice_helpers import MID, a_day, mixed_day, today

from simulator.cli import main
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.fees import Profiles
from simulator.gateway.backoffice.formats import FORMATS
from simulator.gateway.backoffice.ledger_view import day_entries
from simulator.gateway.backoffice.merged import COLUMNS, TOTAL_LABEL
from simulator.gateway.backoffice.reconcile import reconcile
from simulator.gateway.backoffice.service import BackofficeDay, run_day
from simulator.gateway.backoffice.statements import open_ledger

PROFILE = Profiles.load().for_merchant(MID)
LINES = 14  # the mixed day's lines over the four channels


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    with a_day(path) as day:
        mixed_day(day)
    return path


def _day(ledger: Path, faults: Sequence[StatementFault] = ()) -> BackofficeDay:
    db = open_ledger(ledger)
    try:
        return run_day(db, today(), MID, PROFILE, faults)
    finally:
        db.close()


def test_a_clean_day_matches_every_line(ledger: Path) -> None:
    result = _day(ledger)
    report = result.report
    assert report.balanced and report.matched_total == LINES
    assert dict(report.matched) == {"wechat": 3, "alipay": 2, "unionpay_qr": 3, "card": 6}
    assert report.platform_net == report.channel_net
    assert sum(s.net_fen for s in result.statements.values()) == result.merged.total.net_fen


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (
            StatementFault("alipay", "channel_only", "GHOST1", 300),
            ("channel_only", "alipay", "GHOST1", None, 300),
        ),
        (
            StatementFault("card", "platform_only", "000000000004"),
            ("platform_only", "card", "000000000004", 7777, None),
        ),
        (
            StatementFault("wechat", "amount_mismatch", "W2", 990),
            ("amount_mismatch", "wechat", "W2", 999, 990),
        ),
        (
            StatementFault("unionpay_qr", "reversed_after_success"),
            ("reversed_after_success", "unionpay_qr", "U1", 8800, 8800),
        ),
    ],
)
def test_each_fault_is_named_exactly(
    ledger: Path, fault: StatementFault, expected: tuple[object, ...]
) -> None:
    report = _day(ledger, [fault]).report
    (only,) = report.exceptions
    assert (only.category, only.channel, only.ref, only.platform_fen, only.channel_fen) == expected
    matched_lines = LINES - (0 if fault.kind == "channel_only" else 1)
    assert report.matched_total == matched_lines
    named = report.as_dict()[fault.kind]
    assert [e["ref"] for e in named] == [expected[2]]
    assert fault.kind in report.text() and str(expected[2]) in report.text()


def test_the_ledger_reversed_but_the_channel_settled(ledger: Path) -> None:
    result = _day(ledger)
    card = result.statements["card"]
    settled = tuple(attrs.evolve(e, reversed=False) for e in card.entries)
    statements = {**result.statements, "card": attrs.evolve(card, entries=settled)}
    report = reconcile(today(), MID, result.platform, statements)
    (only,) = report.exceptions
    assert (only.category, only.ref) == ("reversed_after_success", "000000000006")
    assert (only.platform_reversed, only.channel_reversed) == (True, False)


def test_many_faults_at_once_each_once(ledger: Path) -> None:
    faults = [
        StatementFault("wechat", "channel_only", amount_fen=100),
        StatementFault("wechat", "channel_only", amount_fen=200),
        StatementFault("alipay", "platform_only", "A1"),
        StatementFault("card", "amount_mismatch", "000000000001"),
    ]
    report = _day(ledger, faults).report
    shown = {(e.category, e.channel, e.ref) for e in report.exceptions}
    assert shown == {
        ("channel_only", "wechat", "CHONLY202601150001"),
        ("channel_only", "wechat", "CHONLY202601150002"),
        ("platform_only", "alipay", "A1"),
        ("amount_mismatch", "card", "000000000001"),
    }
    (mismatch,) = report.of("amount_mismatch")
    assert (mismatch.platform_fen, mismatch.channel_fen) == (10000, 10001)
    assert report.channel_net["wechat"] == report.platform_net["wechat"] + 300


def test_the_merged_statement_adds_up_and_marks_exceptions(ledger: Path) -> None:
    result = _day(ledger, [StatementFault("card", "platform_only", "000000000004")])
    merged = result.merged
    rows = list(csv.DictReader(io.StringIO(merged.csv())))
    assert tuple(rows[0]) == COLUMNS and len(rows) == LINES
    net = sum(round(float(r["net"]) * 100) for r in rows)
    assert net == merged.total.net_fen == 1733 + 4567 + 0 + 10000 + 6666
    assert {r["reconciliation"] for r in rows if r["ref"] == "000000000004"} == {"platform_only"}
    assert [r["reconciliation"] for r in rows].count("matched") == LINES - 1
    assert "6214830027183655" not in merged.csv()  # masked PANs only
    text = merged.summary("POSSIM TEST MERCHANT").plain_text()
    assert TOTAL_LABEL in text and "净额 NET: RMB 229.66" in text
    total = merged.total
    assert (total.sale_count, total.void_count, total.refund_count) == (9, 3, 4)
    assert sum(c.net_fen for c in merged.channels.values()) == total.net_fen


def test_cli_reconcile_writes_report_merged_and_print(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path, merged_path = tmp_path / "report.json", tmp_path / "merged.csv"
    printed = tmp_path / "summary.bin"
    argv = ["gateway", "reconcile", "--date", "2026-01-15", "--ledger", str(ledger)]
    outputs = ["--json", str(report_path), "--merged", str(merged_path)]
    assert main([*argv, *outputs, "--printer", f"file://{printed}"]) == 0
    out = capsys.readouterr().out
    assert "balanced" in out and "platform margin 0.37" in out
    assert json.loads(report_path.read_text("utf-8"))["matched_total"] == LINES
    assert merged_path.read_text("utf-8").count("\n") == LINES + 1
    escpos = printed.read_bytes()
    assert escpos.startswith(b"\x1b@") and "对账单".encode("gb18030") in escpos
    assert b"\x1dV" in escpos  # cut
    faults = ["--fault", "wechat:channel_only:GHOST:3.00", "--json", str(report_path)]
    assert main([*argv, *faults]) == 1
    named = json.loads(report_path.read_text("utf-8"))["channel_only"]
    assert named == [
        {
            "category": "channel_only",
            "channel": "wechat",
            "kind": "payment",
            "ref": "GHOST",
            "order": "GHOST",
            "platform_amount": None,
            "channel_amount": "3.00",
            "platform_reversed": False,
            "channel_reversed": False,
        }
    ]


def test_cli_reconciles_statement_files_from_a_folder(ledger: Path, tmp_path: Path) -> None:
    folder = tmp_path / "statements"
    folder.mkdir()
    for channel in CHANNELS:
        out = folder / FORMATS[channel].filename(MID, today())
        flags = ["--fault", "alipay:platform_only"] if channel == "alipay" else []
        argv = ["gateway", "statement", "--channel", channel, "--date", "2026-01-15"]
        assert main([*argv, "--ledger", str(ledger), "--out", str(out), *flags]) == 0
    argv = ["gateway", "reconcile", "--date", "2026-01-15", "--ledger", str(ledger)]
    report_path = tmp_path / "r.json"
    assert main([*argv, "--statements", str(folder), "--json", str(report_path)]) == 1
    named = json.loads(report_path.read_text("utf-8"))["platform_only"]
    assert [(e["channel"], e["ref"]) for e in named] == [("alipay", "A1")]
    (folder / FORMATS["card"].filename(MID, today())).unlink()
    assert main([*argv, "--statements", str(folder)]) == 2


def test_cli_revenue_per_day_and_month(ledger: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["gateway", "revenue", "--month", "2026-01", "--ledger", str(ledger)]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["2026-01-15", "14", "229.66", "1.24", "0.87", "0.37"]
    assert lines[-1].split()[:6] == ["2026-01", "14", "229.66", "1.24", "0.87", "0.37"]
    assert main([*argv, "--profile", "fuel_station"]) == 0
    assert "fuel_station" in capsys.readouterr().out
    assert main(["gateway", "revenue", "--month", "2026-13", "--ledger", str(ledger)]) == 2


def test_platform_lines_come_from_the_ledger_convention(ledger: Path) -> None:
    db = open_ledger(ledger)
    lines = day_entries(db, today(), MID)
    db.close()
    card = [(e.kind, e.ref, e.order, e.reversed) for e in lines if e.channel == "card"]
    assert card == [
        ("payment", "000000000001", "000000000001", False),
        ("payment", "000000000002", "000000000002", False),
        ("void", "000000000003", "000000000002", False),
        ("payment", "000000000004", "000000000004", False),
        ("refund", "000000000005", "000000000004", False),
        ("payment", "000000000006", "000000000006", True),
    ]
    refund = next(e for e in lines if e.ref == "U1R2")
    assert (refund.original_fen, refund.refunded_before_fen) == (8800, 800)


def test_a_channel_line_repeating_a_known_ref_is_channel_only(ledger: Path) -> None:
    report = _day(ledger, [StatementFault("wechat", "channel_only", "W2", 999)]).report
    (only,) = report.exceptions
    assert (only.category, only.ref, only.channel_fen) == ("channel_only", "W2", 999)
    assert report.matched_total == LINES
    assert report.channel_net["wechat"] == report.platform_net["wechat"] + 999


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (
            "statement_fault: {channel: paypal, kind: channel_only}",
            "statement_fault.channel: unknown channel 'paypal'",
        ),
        ("statement_fault: {channel: wechat, kind: lost}", "statement_fault.kind: unknown kind"),
        ('reconcile: {date: "2026-02-30"}', "reconcile.date"),
        ("expect_reconciliation: {channel_only: [{channel: fax}]}", "channel must be one of"),
        ("expect_reconciliation: {matched: many}", "expected a whole number"),
        ('expect_merged_statement: {total: "1.234"}', "expect_merged_statement.total"),
    ],
)
def test_bad_back_office_steps_name_file_and_line(tmp_path: Path, step: str, message: str) -> None:
    from simulator.errors import ScenarioError
    from simulator.scenario.loader import load_scenario

    path = tmp_path / "bad.yaml"
    path.write_text(f"name: bad\nsteps:\n  - reconcile:\n  - {step}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=message) as caught:
        load_scenario(path)
    assert caught.value.line == 4 and str(path) in str(caught.value)
