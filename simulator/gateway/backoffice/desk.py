"""The statement download desk of the built-in gateway: the QR API's
``GET /v1/statements/{channel}/{bill_date}`` answers from here, with the
statement faults a scenario (or a test) armed applied as each channel writes
its file."""

from __future__ import annotations

import base64
import hashlib
import threading
from datetime import date
from typing import Any

from simulator.gateway.backoffice.faults import StatementFault
from simulator.gateway.backoffice.fees import DEFAULT_PROFILES, Profiles
from simulator.gateway.backoffice.statements import StatementFile, parse_day, produce
from simulator.gateway.ledger import Ledger


class StatementDesk:
    def __init__(self, ledger: Ledger, profiles: str = DEFAULT_PROFILES) -> None:
        self._ledger = ledger
        self._profiles_name = profiles
        self._profiles: Profiles | None = None
        self._lock = threading.Lock()
        self._faults: list[StatementFault] = []

    @property
    def faults(self) -> tuple[StatementFault, ...]:
        with self._lock:
            return tuple(self._faults)

    def arm(self, fault: StatementFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def profiles(self) -> Profiles:
        if self._profiles is None:
            self._profiles = Profiles.load(self._profiles_name)
        return self._profiles

    def produce(self, channel: str, day: date, merchant_id: str) -> StatementFile:
        profile = self.profiles().for_merchant(merchant_id)
        with self._ledger.transaction() as db:
            return produce(db, channel, day, merchant_id, profile, self.faults)

    def download(self, merchant_id: str, channel: str, bill_date: str) -> dict[str, Any]:
        """The JSON answer: the file inline (base64) with its SHA-1, as WeChat Pay's
        bill API gives a hash to check the download against."""
        day = parse_day(bill_date)
        file = self.produce(channel, day, merchant_id)
        return {
            "channel": channel,
            "bill_date": day.isoformat(),
            "merchant_id": merchant_id,
            "filename": file.filename,
            "media_type": file.media_type,
            "size": len(file.data),
            "hash_type": "SHA1",
            "hash_value": hashlib.sha1(file.data).hexdigest(),
            "content_base64": base64.b64encode(file.data).decode("ascii"),
        }
