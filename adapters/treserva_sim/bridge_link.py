"""Treserva's line to the bridge: posts FHIR messages to its ``$process-message``.

Receipts go out in the background, one at a time in filing order, each retried a few times when
the bridge is unreachable or answers 5xx/429 (a receipt that never arrives is exactly what the
bridge's receipt deadline catches, so giving up after a few tries is the honest behaviour).
With no bridge URL configured nothing is sent.

A bridge that takes only known senders (docs/security.md) is answered with Treserva's own
credentials: an API key (``X-API-Key``) and/or a client certificate over HTTPS, as a real
Treserva installation would present its SITHS/EFOS system certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from treserva_sim.masking import logger
from treserva_sim.outbound import JsonObject, Sender, receipt_bundle
from treserva_sim.stats import Stats

_log = logger()
_TRANSIENT = frozenset({408, 425, 429})


@dataclass(frozen=True)
class Posted:
    """What the bridge answered: HTTP status (None: no answer) and its response code or error."""

    status: int | None
    code: str | None = None
    error: str | None = None

    @property
    def transient(self) -> bool:
        return self.status is None or self.status >= 500 or self.status in _TRANSIENT

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and self.code == "ok"


def _answer(status: int, body: Any) -> Posted:
    """Read a response Bundle's MessageHeader.response.code, or an OperationOutcome's text."""
    if not isinstance(body, dict):
        return Posted(status, error="the answer is not JSON")
    if body.get("resourceType") == "OperationOutcome":
        issues = body.get("issue") or [{}]
        first = issues[0] if isinstance(issues[0], dict) else {}
        text = (first.get("details") or {}).get("text") or first.get("diagnostics")
        return Posted(status, error=str(text or "OperationOutcome"))
    for entry in body.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") == "MessageHeader":
            return Posted(status, code=(resource.get("response") or {}).get("code"))
    return Posted(status, error="no MessageHeader in the answer")


class BridgeLink:
    def __init__(
        self,
        bridge_url: str | None,
        facility: str,
        own_endpoint: str,
        stats: Stats,
        *,
        attempts: int = 5,
        backoff_s: float = 0.2,
        api_key: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self.point_at(bridge_url)
        self.facility, self.endpoint = facility, own_endpoint
        self._stats, self._attempts, self._backoff = stats, attempts, backoff_s
        self._api_key = api_key
        self._client = httpx.AsyncClient(timeout=5.0, verify=tls or True)
        self._receipts: asyncio.Queue[JsonObject] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None

    def point_at(self, bridge_url: str | None) -> None:
        """Send to this bridge (its FHIR base, or the full ``$process-message`` URL) from now
        on; None: send nothing."""
        base = (bridge_url or "").rstrip("/")
        self.url = base if base.endswith("$process-message") else f"{base}/$process-message"
        self.enabled = bool(bridge_url)

    async def authenticate(
        self, api_key: str | None = None, tls: ssl.SSLContext | None = None
    ) -> None:
        """Present these credentials from now on (an API key, TLS with a client certificate)."""
        old, self._client = self._client, httpx.AsyncClient(timeout=5.0, verify=tls or True)
        self._api_key = api_key
        await old.aclose()

    def sender(self) -> Sender:
        return Sender(self.facility, self.endpoint, self.url.removesuffix("/$process-message"))

    async def post(self, bundle: JsonObject) -> Posted:
        """Post once; transport failures come back as ``Posted(None, error=...)``."""
        headers = {"Content-Type": "application/fhir+json"}
        if self._api_key is not None:
            headers["X-API-Key"] = self._api_key
        try:
            response = await self._client.post(self.url, json=bundle, headers=headers)
        except httpx.HTTPError as failure:
            return Posted(None, error=f"{type(failure).__name__} posting to {self.url}")
        try:
            body = response.json()
        except ValueError:
            body = None
        return _answer(response.status_code, body)

    def send_receipt(self, notice_header_id: str) -> None:
        """Queue a receipt (code ok) for the notice with this MessageHeader.id."""
        if not self.enabled:
            return
        self._receipts.put_nowait(receipt_bundle(self.sender(), notice_header_id))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._send_receipts())

    @property
    def receipts_pending(self) -> int:
        return self._receipts.qsize()

    async def _send_receipts(self) -> None:
        while not self._receipts.empty():
            bundle = self._receipts.get_nowait()
            answer = await self._post_with_retries(bundle)
            if answer.ok:
                self._stats.receipts_sent += 1
            else:
                self._stats.receipts_failed += 1
                _log.warning("receipt not taken by the bridge: %s", answer.error or answer.code)

    async def _post_with_retries(self, bundle: JsonObject) -> Posted:
        answer = Posted(None, error="not sent")
        for attempt in range(self._attempts):
            answer = await self.post(bundle)
            if not answer.transient:
                return answer
            await asyncio.sleep(self._backoff * 2**attempt)
        return answer

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await self._client.aclose()
