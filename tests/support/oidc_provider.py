"""A tiny OpenID Connect provider for tests, served in-process on a free port.

Discovery, authorize (approves at once as ``person``), token (authorization code with PKCE
S256, client_secret_basic) and JWKS, with an RSA key generated when it starts. ``tamper``
changes the next id_token (claims, or ``"foreign_key"``: signed by a key not in the JWKS) so a
test can show the bridge refusing it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from jwt.algorithms import RSAAlgorithm

CLIENT_ID = "bridge-ops"
CLIENT_SECRET = "test-only-client-secret"


@dataclass
class Provider:
    issuer: str = ""
    redirect_uri: str = ""
    person: dict[str, Any] = field(default_factory=dict)
    tamper: dict[str, Any] = field(default_factory=dict)
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    kid: str = field(default_factory=lambda: secrets.token_hex(8))
    _codes: dict[str, dict[str, str]] = field(default_factory=dict)

    def id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": secrets.token_hex(8),
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            **self.person,
        }
        extra = {k: v for k, v in self.tamper.items() if k != "foreign_key"}
        claims.update(extra)
        key = self.key
        if self.tamper.get("foreign_key"):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def provider_app(provider: Provider) -> FastAPI:
    app = FastAPI()

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, Any]:
        return {
            "issuer": provider.issuer,
            "authorization_endpoint": f"{provider.issuer}/authorize",
            "token_endpoint": f"{provider.issuer}/token",
            "jwks_uri": f"{provider.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        }

    @app.get("/jwks")
    async def jwks() -> dict[str, Any]:
        public = RSAAlgorithm.to_jwk(provider.key.public_key(), as_dict=True)
        return {"keys": [{**public, "kid": provider.kid, "use": "sig", "alg": "RS256"}]}

    @app.get("/authorize")
    async def authorize(request: Request) -> RedirectResponse:
        asked = dict(request.query_params)
        provider.authorize_requests.append(asked)
        if asked.get("client_id") != CLIENT_ID or asked.get("response_type") != "code":
            raise HTTPException(400, "unknown client or response type")
        if asked.get("redirect_uri") != provider.redirect_uri:
            raise HTTPException(400, "redirect_uri not registered")
        if asked.get("code_challenge_method") != "S256" or not asked.get("code_challenge"):
            raise HTTPException(400, "PKCE S256 required")
        code = secrets.token_urlsafe(16)
        provider._codes[code] = asked
        query = urlencode({"code": code, "state": asked.get("state", "")})
        return RedirectResponse(f"{asked['redirect_uri']}?{query}", status_code=302)

    @app.post("/token")
    async def token(request: Request) -> dict[str, Any]:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        grant_type, code = form.get("grant_type", ""), form.get("code", "")
        redirect_uri, code_verifier = form.get("redirect_uri", ""), form.get("code_verifier", "")
        provider.token_requests.append({"code": code, "code_verifier": code_verifier})
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            raise HTTPException(401, "client authentication failed")
        asked = provider._codes.pop(code, None)
        if grant_type != "authorization_code" or asked is None:
            raise HTTPException(400, "invalid_grant")
        if redirect_uri != asked["redirect_uri"]:
            raise HTTPException(400, "redirect_uri differs")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest())
        if challenge.decode().rstrip("=") != asked["code_challenge"]:
            raise HTTPException(400, "PKCE verifier does not match")
        return {
            "access_token": secrets.token_urlsafe(16),
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": provider.id_token(asked["nonce"]),
        }

    return app


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


@contextlib.asynccontextmanager
async def running_provider(redirect_uri: str) -> AsyncIterator[Provider]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    provider = Provider(redirect_uri=redirect_uri)
    provider.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}/realms/region"
    app = FastAPI()
    app.mount("/realms/region", provider_app(provider))
    server = _Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield provider
    finally:
        server.should_exit = True
        await task
        sock.close()
