"""How the simulator proves who it is to the bridge: a client certificate (MLLP/TLS and HTTPS),
an OAuth2 client-credentials bearer token, or an API key (HTTP).

Real TakeCare installations present a SITHS/EFOS system certificate or a token from the
region's identity provider; the simulator does the same with whatever it is given.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field

import httpx

from takecare_sim.transport import TransportError

_EARLY_RENEWAL_S = 30.0


@dataclass(frozen=True)
class ClientCredentials:
    """Everything optional: without any, the simulator sends as before (plain, anonymous).

    ``ca_file``: the CA that signed the bridge's server certificate (turns TLS on);
    ``cert_file``/``key_file``: the client certificate; ``token_url``, ``client_id``,
    ``client_secret`` (and ``scope``): the client-credentials grant; ``api_key``: sent as
    ``X-API-Key``.
    """

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    api_key: str | None = None

    @property
    def tls(self) -> bool:
        return self.ca_file is not None or self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        context = ssl.create_default_context(cafile=self.ca_file)
        if self.cert_file is not None:
            context.load_cert_chain(self.cert_file, self.key_file)
        return context


@dataclass
class TokenSource:
    """Fetches an access token with the client-credentials grant and keeps it until shortly
    before it expires."""

    credentials: ClientCredentials
    _token: str | None = None
    _expires: float = 0.0
    _fetched: list[float] = field(default_factory=list)

    async def token(self, client: httpx.AsyncClient) -> str:
        if self._token is not None and time.monotonic() < self._expires:
            return self._token
        c = self.credentials
        if not (c.token_url and c.client_id and c.client_secret):
            raise TransportError("token_url, client_id and client_secret are all needed")
        data = {"grant_type": "client_credentials"}
        if c.scope:
            data["scope"] = c.scope
        try:
            response = await client.post(
                c.token_url, data=data, auth=(c.client_id, c.client_secret)
            )
        except httpx.HTTPError as error:
            raise TransportError(f"token endpoint: {type(error).__name__}") from error
        if response.status_code != 200:
            raise TransportError(f"token endpoint answered {response.status_code}")
        answer = response.json()
        self._token = str(answer["access_token"])
        lifetime = float(answer.get("expires_in", 300))
        self._expires = time.monotonic() + max(0.0, lifetime - _EARLY_RENEWAL_S)
        self._fetched.append(time.monotonic())
        return self._token


async def auth_headers(
    credentials: ClientCredentials, tokens: TokenSource, client: httpx.AsyncClient
) -> dict[str, str]:
    """The Authorization or X-API-Key header the credentials call for (none for mTLS alone)."""
    if credentials.token_url:
        return {"authorization": f"Bearer {await tokens.token(client)}"}
    if credentials.api_key:
        return {"x-api-key": credentials.api_key}
    return {}
