"""The platform's back office at work on the shop's day (docs/backoffice.md): a
channel's statement made to differ, and the day reconciled."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import date
from typing import Any, ClassVar
from urllib.parse import urlencode

import attrs

from simulator.events import SUMMARY_ONLY, EventPayload
from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.service import BackofficeDay, run_day
from simulator.gateway.backoffice.statements import StatementFile
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign
from simulator.hands.base import HandsBase, HandsError
from simulator.wire.money import format_yuan

SOURCE = "backoffice"


@attrs.frozen
class StatementFaultArmed(EventPayload):
    """A channel's statement will differ from the ledger (docs/backoffice.md)."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "fault"

    fault: StatementFault = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return f"statement fault armed: {self.fault.describe()}"


@attrs.frozen
class Reconciled(EventPayload):
    """The back office reconciled a day: the report, as ``ReconcileReport.as_dict()``."""

    source: ClassVar[str] = SOURCE
    kind: ClassVar[str] = "reconcile"

    report: Mapping[str, Any]
    day: date = attrs.field(metadata=SUMMARY_ONLY)
    matched: int = attrs.field(metadata=SUMMARY_ONLY)
    exceptions: int = attrs.field(metadata=SUMMARY_ONLY)
    net_fen: int = attrs.field(metadata=SUMMARY_ONLY)

    def summary(self) -> str:
        return (
            f"{self.day}: {self.matched} matched, {self.exceptions} exception(s), "
            f"net RMB {format_yuan(self.net_fen)}"
        )


class Backoffice(HandsBase):
    def statement_fault(self, fault: StatementFault) -> None:
        """Make a channel's statement differ from the ledger when the channel writes it."""
        self.gateway.qr_server.api.statements.arm(fault)
        self.bus.publish(StatementFaultArmed(fault))

    def reconcile(self, day: date) -> BackofficeDay:
        """Download every channel's statement for ``day`` from the gateway (signed with
        the terminal's merchant key, each checked against its SHA-1), parse each in its
        own format and reconcile it with the ledger; the merchant's merged statement."""
        desk = self.gateway.qr_server.api.statements
        merchant_id = self.terminal.config.merchant_id
        files = {channel: self._download(channel, day) for channel in CHANNELS}
        profile = desk.profiles().for_merchant(merchant_id)
        with self.gateway.ledger.transaction() as db:
            result = run_day(db, day, merchant_id, profile, files=files)
        report = result.report
        self.bus.publish(
            Reconciled(
                report.as_dict(),
                day,
                report.matched_total,
                len(report.exceptions),
                result.merged.total.net_fen,
            )
        )
        return result

    def _download(self, channel: str, day: date) -> StatementFile:
        """The channel's statement over the QR API, checked against its SHA-1."""
        link = self.terminal.qr_link
        if link is None:
            raise HandsError("the terminal has no QR gateway to download statements from")
        query = urlencode({"merchant_id": link.merchant_id})
        key = self.terminal.config.keys.merchant_api_key
        request = urllib.request.Request(
            f"{link.base_url}/v1/statements/{channel}/{day.isoformat()}?{query}",
            headers={SIGNATURE_HEADER: sign(key, query.encode("utf-8"))},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                raise HandsError(f"{channel} statement: HTTP {exc.code} {exc.read()!r}") from None
        except (OSError, ValueError) as exc:
            raise HandsError(f"{channel} statement: {exc}") from None
        data = base64.b64decode(body["content_base64"])
        if hashlib.sha1(data).hexdigest() != body["hash_value"]:
            raise HandsError(f"{channel} statement: the download does not match its SHA-1")
        return StatementFile(channel, str(body["filename"]), str(body["media_type"]), data)
