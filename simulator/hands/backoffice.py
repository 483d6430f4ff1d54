"""The platform's back office at work on the shop's day (docs/backoffice.md): a
channel's statement made to differ, and the day reconciled."""

from __future__ import annotations

import base64
import hashlib
import json
import urllib.error
import urllib.request
from datetime import date
from urllib.parse import urlencode

from simulator.gateway.backoffice.entries import CHANNELS
from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.service import BackofficeDay, run_day
from simulator.gateway.backoffice.statements import StatementFile
from simulator.gateway.qr.signing import SIGNATURE_HEADER, sign
from simulator.hands.base import HandsBase, HandsError
from simulator.wire.money import format_yuan

SOURCE = "backoffice"


class Backoffice(HandsBase):
    def statement_fault(self, fault: StatementFault) -> None:
        """Make a channel's statement differ from the ledger when the channel writes it."""
        self.gateway.qr_server.api.statements.arm(fault)
        self.bus.publish(SOURCE, "fault", f"statement fault armed: {fault.describe()}")

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
            SOURCE,
            "reconcile",
            f"{day}: {report.matched_total} matched, {len(report.exceptions)} exception(s), "
            f"net RMB {format_yuan(result.merged.total.net_fen)}",
            report=report.as_dict(),
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
