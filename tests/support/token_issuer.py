"""A tiny OAuth2 authorisation server for tests: ``POST /token`` (client-credentials grant,
client id and secret by HTTP Basic) mints RS256 JWTs; ``GET /jwks.json`` publishes the key.

``mint`` makes tokens directly, including wrong ones (expired, other audience, foreign key), so
tests can check that the bridge refuses each.
"""

from __future__ import annotations

import base64
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

AUDIENCE = "bridge-ingestion"


@dataclass
class TokenIssuer:
    base_url: str
    clients: Mapping[str, str]
    key: rsa.RSAPrivateKey
    kid: str

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks.json"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    def mint(
        self,
        client_id: str,
        *,
        audience: str = AUDIENCE,
        lifetime: float = 300,
        key: rsa.RSAPrivateKey | None = None,
        issuer: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": issuer or self.issuer,
            "sub": client_id,
            "client_id": client_id,
            "aud": audience,
            "iat": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": self.kid})


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@contextlib.asynccontextmanager
async def token_issuer(clients: Mapping[str, str]) -> AsyncIterator[TokenIssuer]:
    """Serve on a free local port; ``clients``: client id → secret."""
    key, kid = new_key(), uuid.uuid4().hex[:8]
    issuer: TokenIssuer | None = None

    async def jwks(_: web.Request) -> web.Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]})

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        client_id, secret = _basic(request.headers.get("Authorization", ""))
        if form.get("grant_type") != "client_credentials" or clients.get(client_id) != secret:
            return web.json_response({"error": "invalid_client"}, status=401)
        assert issuer is not None
        access = issuer.mint(client_id)
        return web.json_response(
            {"access_token": access, "token_type": "Bearer", "expires_in": 300}
        )

    app = web.Application()
    app.router.add_get("/jwks.json", jwks)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    issuer = TokenIssuer(f"http://127.0.0.1:{port}", clients, key, kid)
    try:
        yield issuer
    finally:
        await runner.cleanup()


def _basic(header: str) -> tuple[str, str]:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return "", ""
    client_id, _, secret = base64.b64decode(value).decode().partition(":")
    return client_id, secret
