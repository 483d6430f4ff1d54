"""Channel statements: each channel's own format written and parsed back, faults,
malformed files refused with the line, the QR API's download and the CLI."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path

import attrs
import pytest
from backoffice_helpers import MID, a_day, mixed_day, today
from qr_helpers import WECHAT, running_gateway

from drivers.clock import RealClock
from simulator.cli import main
from simulator.errors import FixtureError
from simulator.gateway.backoffice.entries import CHANNELS, PAYMENT, REFUND
from simulator.gateway.backoffice.errors import BackofficeError, StatementFormatError
from simulator.gateway.backoffice.faults import (
    StatementFault,
    apply_faults,
    load_faults,
    parse_flag,
)
from simulator.gateway.backoffice.fees import Profiles
from simulator.gateway.backoffice.formats import FORMATS
from simulator.gateway.backoffice.statement import carried
from simulator.gateway.backoffice.statements import channel_view, open_ledger, produce

PROFILE = Profiles.load().for_merchant(MID)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    with a_day(path) as day:
        mixed_day(day)
    return path


@pytest.mark.parametrize("channel", CHANNELS)
def test_each_format_round_trips_what_it_carries(ledger: Path, channel: str) -> None:
    db = open_ledger(ledger)
    statement = channel_view(db, channel, today(), MID, PROFILE)
    db.close()
    assert statement.entries, "the mixed day has lines on every channel"
    fmt = FORMATS[channel]
    parsed = fmt.parse(fmt.render(statement), day=today(), merchant_id=MID)
    assert [carried(e) for e in parsed.entries] == [carried(e) for e in statement.entries]
    assert (parsed.net_fen, parsed.fee_fen) == (statement.net_fen, statement.fee_fen)
    if channel == "card":  # the acquirer's file also carries the masked PAN and the batch
        assert {e.masked_pan for e in parsed.entries} == {"621483******3655"}
        assert {e.batch_no for e in parsed.entries} == {"000001"}


def test_wechat_bill_is_backticked_with_a_summary(ledger: Path) -> None:
    db = open_ledger(ledger)
    data = produce(db, "wechat", today(), MID, PROFILE).data
    db.close()
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    assert rows[0][:3] == ["交易时间", "公众账号ID", "商户号"] and len(rows[0]) == 27
    details = rows[1:-2]
    assert all(field.startswith("`") for row in details for field in row)
    states = [row[9] for row in details]
    assert states == ["`SUCCESS", "`SUCCESS", "`REFUND"]
    assert rows[-2][0] == "总交易单数"
    # 3 rows; settled 12.34 + 9.99; refunded 5.00; cost 0.20%: 0.02 + 0.02 - 0.01
    assert rows[-1] == ["`3", "`22.33", "`5.00", "`0.00", "`0.03", "`22.33", "`5.00"]


def test_alipay_bill_is_gbk_with_its_comment_lines(ledger: Path) -> None:
    db = open_ledger(ledger)
    file = produce(db, "alipay", today(), MID, PROFILE)
    db.close()
    assert file.media_type == "text/csv; charset=GBK"
    with pytest.raises(UnicodeDecodeError):
        file.data.decode("utf-8")
    lines = file.data.decode("gbk").splitlines()
    assert lines[0] == "#支付宝业务明细查询" and lines[1] == f"#账号：[{MID}]"
    assert lines[-2] == "#交易合计：2笔，退款合计：0笔"
    # The revoked payment says so; fees are negative when charged: 45.67 x 0.20% = 0.09.
    assert "交易撤销" in lines[6] and ",-0.09\t," in lines[5]


@pytest.mark.parametrize("channel", ["unionpay_qr", "card"])
def test_fixed_width_files_have_one_width_per_record_kind(ledger: Path, channel: str) -> None:
    db = open_ledger(ledger)
    lines = produce(db, channel, today(), MID, PROFILE).data.decode("ascii").split("\r\n")
    db.close()
    assert lines[-1] == ""
    widths = {(line[0], len(line)) for line in lines[:-1]}
    assert len({kind for kind, _ in widths}) == len(widths)


def _corrupt(channel: str, data: bytes) -> bytes:
    text = data.decode(
        "gbk" if channel == "alipay" else "ascii" if channel != "wechat" else "utf-8"
    )
    if channel == "wechat":
        changed = text.replace("`22.33", "`22.34", 1)  # the summary disagrees with the rows
    elif channel == "alipay":
        changed = text.replace("#交易合计：2笔", "#交易合计：3笔")
    elif channel == "unionpay_qr":
        changed = text.replace(" D 0", " X 0", 1)  # no such fee direction
    else:
        changed = text.replace("T 00000006", "T 00000007")
    assert changed != text
    return changed.encode("gbk" if channel == "alipay" else "utf-8")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_tampered_statement_is_refused_with_its_line(ledger: Path, channel: str) -> None:
    db = open_ledger(ledger)
    data = produce(db, channel, today(), MID, PROFILE).data
    db.close()
    with pytest.raises(StatementFormatError, match=f"^{channel} statement"):
        FORMATS[channel].parse(_corrupt(channel, data), day=today(), merchant_id=MID)
    with pytest.raises(StatementFormatError, match=r"not merchant|商户号|账号"):
        FORMATS[channel].parse(data, day=today(), merchant_id="000000000000000")


def test_garbage_is_refused_by_every_format() -> None:
    for channel, fmt in FORMATS.items():
        with pytest.raises(StatementFormatError) as caught:
            fmt.parse(b"\xff\xfe garbage", day=today(), merchant_id=MID)
        assert caught.value.channel == channel


def test_faults_change_only_the_named_line(ledger: Path) -> None:
    db = open_ledger(ledger)
    clean = channel_view(db, "wechat", today(), MID, PROFILE)
    faults = [
        StatementFault("wechat", "amount_mismatch", "W2", 1000),
        StatementFault("wechat", "reversed_after_success"),  # the first payment: W1
        StatementFault("wechat", "channel_only", amount_fen=300),
        StatementFault("alipay", "platform_only"),  # another channel: ignored here
    ]
    faulty = channel_view(db, "wechat", today(), MID, PROFILE, faults)
    db.close()
    by_ref = {e.ref: e for e in faulty.entries}
    assert by_ref["W2"].amount_fen == 1000 and by_ref["W1"].reversed
    assert by_ref["W1R1"] == next(e for e in clean.entries if e.ref == "W1R1")
    invented = faulty.entries[-1]
    assert (invented.kind, invented.amount_fen, invented.ref) == (
        PAYMENT,
        300,
        "CHONLY202601150001",
    )
    dropped = apply_faults(
        "wechat", clean.entries, [parse_flag("wechat:platform_only:W1")], today()
    )
    assert [e.ref for e in dropped] == ["W2", "W1R1"]
    assert [e.kind for e in dropped] == [PAYMENT, REFUND]
    with pytest.raises(BackofficeError, match="no payment 'NOPE'"):
        apply_faults("wechat", clean.entries, [parse_flag("wechat:platform_only:NOPE")], today())


def test_fault_specs_from_flags_and_yaml(tmp_path: Path) -> None:
    assert parse_flag("card:amount_mismatch:000000000001:1.00") == StatementFault(
        "card", "amount_mismatch", "000000000001", 100
    )
    for bad in ("wechat", "paypal:channel_only", "wechat:lost", "wechat:channel_only::0"):
        with pytest.raises(BackofficeError):
            parse_flag(bad)
    spec = tmp_path / "faults.yaml"
    spec.write_text(
        "faults:\n  - {channel: wechat, kind: channel_only, amount: '3.00'}\n"
        "  - {channel: card, kind: sideways}\n",
        encoding="utf-8",
    )
    with pytest.raises(FixtureError, match=r"faults\[1\]: fault kind 'sideways'") as caught:
        load_faults(spec)
    assert caught.value.line == 3
    spec.write_text("faults:\n  - {channel: wechat, kind: channel_only, amount: '3.00'}\n", "utf-8")
    assert load_faults(spec) == [StatementFault("wechat", "channel_only", None, 300)]


def test_the_qr_api_serves_each_channels_statement(tmp_path: Path) -> None:
    with running_gateway(tmp_path, RealClock()) as (gateway, client):
        status, paid = client.micropay("S1", 1234, WECHAT)
        assert status == 200 and paid["result"] == "SUCCESS"
        day = paid["paid_at"][:10]
        desk = gateway.qr_server.api.statements
        for channel in CHANNELS:
            status, body = client.get(f"/v1/statements/{channel}/{day}", {"merchant_id": MID})
            assert status == 200, body
            data = base64.b64decode(body["content_base64"])
            assert hashlib.sha1(data).hexdigest() == body["hash_value"]
            assert data == desk.produce(channel, today().fromisoformat(day), MID).data
            assert body["filename"] == FORMATS[channel].filename(MID, today().fromisoformat(day))
        desk.arm(StatementFault("wechat", "platform_only", "S1"))
        status, body = client.get(f"/v1/statements/wechat/{day}", {"merchant_id": MID})
        assert b"S1" not in base64.b64decode(body["content_base64"])
        desk.clear()
        status, body = client.get(f"/v1/statements/wechat/{day}", {"merchant_id": MID})
        assert b"`S1," in base64.b64decode(body["content_base64"])
        status, body = client.get(f"/v1/statements/paypal/{day}", {"merchant_id": MID})
        assert (status, body["error_code"]) == (400, "INVALID_REQUEST")
        status, body = client.get("/v1/statements/wechat/2026-02-30", {"merchant_id": MID})
        assert (status, body["error_code"]) == (400, "INVALID_REQUEST")
        status, body = client.get(
            f"/v1/statements/wechat/{day}", {"merchant_id": MID}, signed=False
        )
        assert (status, body["error_code"]) == (401, "SIGNATURE_INVALID")


def test_cli_writes_the_statement(
    ledger: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "card.txt"
    argv = ["gateway", "statement", "--channel", "card", "--date", "2026-01-15"]
    assert main([*argv, "--ledger", str(ledger), "--out", str(out)]) == 0
    db = open_ledger(ledger)
    assert out.read_bytes() == produce(db, "card", today(), MID, PROFILE).data
    db.close()
    faulty = tmp_path / "faulty.txt"
    flags = ["--fault", "card:platform_only", "--out", str(faulty)]
    assert main([*argv, "--ledger", str(ledger), *flags]) == 0
    assert len(faulty.read_bytes().splitlines()) == len(out.read_bytes().splitlines()) - 1
    assert main([*argv, "--ledger", str(tmp_path / "none.sqlite")]) == 2
    assert "no ledger at" in capsys.readouterr().err


def test_a_field_too_wide_for_its_column_is_refused_not_truncated(ledger: Path) -> None:
    db = open_ledger(ledger)
    statement = channel_view(db, "unionpay_qr", today(), MID, PROFILE)
    db.close()
    wide = attrs.evolve(statement.entries[0], ref="X" * 33)
    with pytest.raises(StatementFormatError, match=r"ref 'X{33}' is wider than 32"):
        FORMATS["unionpay_qr"].render(attrs.evolve(statement, entries=(wide,)))
