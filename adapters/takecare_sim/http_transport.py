"""HL7 v2 over HTTP: ``POST /hl7v2`` with the ER7 body; the answer is the ER7 ACK."""

from __future__ import annotations

import httpx

from takecare_sim.credentials import ClientCredentials, TokenSource, auth_headers
from takecare_sim.transport import TransportError

HL7_V2_MEDIA_TYPE = "application/hl7-v2"


class HttpHl7Client:
    """Posts messages to one URL (e.g. ``http://127.0.0.1:8080/hl7v2``) over a pooled client."""

    def __init__(
        self, url: str, timeout: float = 10.0, credentials: ClientCredentials | None = None
    ) -> None:
        self.url = url
        self.credentials = credentials or ClientCredentials()
        self._tokens = TokenSource(self.credentials)
        verify = self.credentials.ssl_context() or True
        self._client = httpx.AsyncClient(timeout=timeout, verify=verify)

    async def send(self, message: str) -> str:
        headers = {"content-type": f"{HL7_V2_MEDIA_TYPE}; charset=utf-8"}
        headers.update(await auth_headers(self.credentials, self._tokens, self._client))
        try:
            response = await self._client.post(self.url, content=message.encode(), headers=headers)
        except httpx.HTTPError as error:
            raise TransportError(f"HTTP {self.url}: {type(error).__name__}") from error
        if not response.text.lstrip().startswith("MSH"):
            raise TransportError(f"HTTP {self.url}: status {response.status_code}, no ACK")
        return response.text

    async def aclose(self) -> None:
        await self._client.aclose()
