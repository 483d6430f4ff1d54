"""The terminal's link to the aggregator's QR payment API (docs/qr_api.md).

Plain HTTP/JSON over the standard library: every body (and every GET's query
string) is signed with HMAC-SHA256 under the merchant's API key
(``X-Possim-Signature``). Each call is one blocking request with a timeout;
on a virtual clock the terminal thread stays busy meanwhile, so simulated time
stands still, and only the waits *between* calls (polling) go through the clock.

Events: :class:`QrHttpCall` (source ``qr_link``, kind ``http``) and
:class:`~simulator.events.Problem`; payment codes show only their last four
digits and the merchant key never appears.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote, urlencode

import attrs

from drivers.wire.masking import mask_code
from simulator.errors import SimulatorError
from simulator.events import OMIT_NONE, SUMMARY_ONLY, EventBus, EventPayload, Problem

SIGNATURE_HEADER = "X-Possim-Signature"
# Fields whose values are secrets of the customer's wallet: masked in events.
_MASKED_FIELDS = ("auth_code",)


class QrLinkError(SimulatorError):
    """A call to the QR gateway did not produce a usable answer."""


class QrGatewayUnreachable(QrLinkError):
    """No connection, or no answer within the timeout: the outcome is unknown."""


class QrSignatureRejected(QrLinkError):
    """The gateway refused our signature (HTTP 401): a key mismatch."""


class QrRequestRejected(QrLinkError):
    """HTTP 400/404: the request was malformed or named an unknown order."""

    def __init__(self, status: int, error_code: str, message: str) -> None:
        self.status = status
        self.error_code = error_code
        super().__init__(f"HTTP {status} {error_code}: {message}".rstrip(": "))


class QrProtocolError(QrLinkError):
    """The gateway answered something that is not the documented JSON."""


@attrs.frozen
class QrHttpCall(EventPayload):
    """One leg of the terminal's QR API traffic: a request ``out`` (``method``,
    ``path``) or its answer ``in`` (``status``); ``body`` redacted (None: a GET)."""

    source: ClassVar[str] = "qr_link"
    kind: ClassVar[str] = "http"

    direction: str
    method: str | None = attrs.field(metadata=OMIT_NONE)
    path: str | None = attrs.field(metadata=OMIT_NONE)
    status: int | None = attrs.field(metadata=OMIT_NONE)
    body: Any = None
    # The answer's result or state.
    outcome: str | None = attrs.field(metadata=SUMMARY_ONLY, default=None)

    @classmethod
    def request(cls, method: str, path: str, body: Any) -> QrHttpCall:
        return cls("out", method, path, None, body)

    @classmethod
    def answer(cls, status: int, body: Any, outcome: str | None) -> QrHttpCall:
        return cls("in", None, None, status, body, outcome)

    def summary(self) -> str:
        if self.direction == "out":
            return f"-> {self.method} {self.path}"
        return f"<- {self.status} {self.outcome or ''}".rstrip()


def sign(key: str, data: bytes) -> str:
    """The hex HMAC-SHA256 of ``data`` under ``key`` (docs/qr_api.md)."""
    return hmac.new(key.encode("utf-8"), data, hashlib.sha256).hexdigest()


def verify(key: str, data: bytes, signature: str | None) -> bool:
    return signature is not None and hmac.compare_digest(sign(key, data), signature.strip())


def redact(body: Mapping[str, Any]) -> dict[str, Any]:
    shown = dict(body)
    for name in _MASKED_FIELDS:
        if isinstance(shown.get(name), str):
            shown[name] = mask_code(shown[name])
    if isinstance(shown.get("notify_url"), str):
        # The receiver's port changes from run to run; transcripts must not.
        shown["notify_url"] = re.sub(r":\d+/", ":PORT/", shown["notify_url"])
    return shown


class QrLink:
    def __init__(
        self,
        base_url: str,
        *,
        merchant_id: str,
        terminal_id: str,
        api_key: str,
        bus: EventBus | None,
        timeout: float = 10.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.merchant_id = merchant_id
        self.terminal_id = terminal_id
        self._key = api_key
        self._bus = bus  # None: a quiet link (a scenario's simulated customers)
        self._timeout = timeout

    # -- the calls --------------------------------------------------------------------

    def micropay(
        self, out_trade_no: str, amount_fen: int, auth_code: str, description: str
    ) -> dict[str, Any]:
        return self._post(
            "/v1/micropay",
            {
                "merchant_id": self.merchant_id,
                "terminal_id": self.terminal_id,
                "out_trade_no": out_trade_no,
                "amount_fen": amount_fen,
                "auth_code": auth_code,
                "description": description,
            },
        )

    def query(self, out_trade_no: str) -> dict[str, Any]:
        return self._get(f"/v1/orders/{quote(out_trade_no)}", {"merchant_id": self.merchant_id})

    def reverse(self, out_trade_no: str) -> dict[str, Any]:
        return self._post(
            f"/v1/orders/{quote(out_trade_no)}/reverse",
            {"merchant_id": self.merchant_id, "terminal_id": self.terminal_id},
        )

    def close(self, out_trade_no: str) -> dict[str, Any]:
        """Close an unpaid order; a paid one answers FAIL ``ORDER_PAID`` and stays paid."""
        return self._post(
            "/v1/close",
            {
                "merchant_id": self.merchant_id,
                "terminal_id": self.terminal_id,
                "out_trade_no": out_trade_no,
            },
        )

    def refund(self, out_trade_no: str, out_refund_no: str, refund_fen: int) -> dict[str, Any]:
        return self._post(
            f"/v1/orders/{quote(out_trade_no)}/refund",
            {
                "merchant_id": self.merchant_id,
                "out_refund_no": out_refund_no,
                "refund_fen": refund_fen,
            },
        )

    def precreate(
        self,
        out_trade_no: str,
        amount_fen: int,
        channel: str,
        notify_url: str,
        issuance: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "merchant_id": self.merchant_id,
            "terminal_id": self.terminal_id,
            "out_trade_no": out_trade_no,
            "amount_fen": amount_fen,
            "channel": channel,
            "notify_url": notify_url,
        }
        if issuance is not None:
            body["issuance"] = issuance
        return self._post("/v1/precreate", body)

    # -- the simulated customers (simulation only) --------------------------------------

    def sim(self, action: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """``POST /v1/sim/<action>``: customer/confirm, customer/cancel, customer/pay_qr,
        notify/replay."""
        return self._post(f"/v1/sim/{action}", dict(body))

    def _publish(self, payload: QrHttpCall | Problem) -> None:
        if self._bus is not None:
            self._bus.publish(payload, source=QrHttpCall.source)

    # -- HTTP ---------------------------------------------------------------------------

    def _post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        request = urllib.request.Request(
            self.base_url + path,
            data=raw,
            method="POST",
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: sign(self._key, raw)},
        )
        return self._send(request, "POST", path, redact(body))

    def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        query = urlencode(params)
        request = urllib.request.Request(
            f"{self.base_url}{path}?{query}",
            method="GET",
            headers={SIGNATURE_HEADER: sign(self._key, query.encode("utf-8"))},
        )
        return self._send(request, "GET", f"{path}?{query}", None)

    def _send(
        self, request: urllib.request.Request, method: str, path: str, shown: Any
    ) -> dict[str, Any]:
        self._publish(QrHttpCall.request(method, path, shown))
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            self._publish(Problem(f"{method} {path} failed: {reason}"))
            raise QrGatewayUnreachable(f"QR gateway {self.base_url}: {reason}") from None
        try:
            answer = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError):
            answer = None
        if not isinstance(answer, dict):
            self._publish(Problem(f"<- {status} unreadable body"))
            raise QrProtocolError(f"{method} {path}: HTTP {status} with a body that is not JSON")
        outcome = answer.get("result") or answer.get("trade_state") or answer.get("error_code")
        self._publish(QrHttpCall.answer(status, redact(answer), str(outcome) if outcome else None))
        if status == 401:
            raise QrSignatureRejected(f"{method} {path}: the QR gateway rejected our signature")
        if status in (400, 404):
            raise QrRequestRejected(
                status, str(answer.get("error_code", "")), str(answer.get("message", ""))
            )
        if status != 200:
            raise QrProtocolError(f"{method} {path}: unexpected HTTP {status}")
        return answer
