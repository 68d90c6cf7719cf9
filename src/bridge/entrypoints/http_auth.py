"""Who is posting to the HTTP ingestion endpoints: a client certificate, a bearer token or an
API key, checked before the body is read (docs/security.md).

A request that presents a credential the bridge cannot verify is refused (401) even where
ingestion is open: a wrong credential is never treated as none. Without any credential the
request is refused when ingestion requires authentication, and passes as anonymous otherwise
(the embedded demo). The identity found goes to the handler in ``scope["state"]["sender"]``.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt
import orjson
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from bridge.config import Settings
from bridge.domain.fhir.outcome import operation_outcome
from bridge.domain.routing import RoutingTable
from bridge.domain.sender_identity import FORBIDDEN, PeerIdentity, hash_api_key
from bridge.entrypoints.tls import PeerCertificates, certificate_identity
from bridge.service.delivery.accept import AcceptResult

log = logging.getLogger(__name__)

INGESTION_PATHS = frozenset({"/hl7v2", "/fhir/$process-message"})
_LEEWAY_SECONDS = 30


class CredentialRefused(Exception):
    """A credential was presented and is not valid; the text says why (no secret in it)."""


@dataclass(frozen=True)
class TokenSettings:
    issuer: str
    audience: str
    jwks_url: str
    client_claim: str
    algorithms: tuple[str, ...]

    @classmethod
    def of(cls, settings: Settings) -> TokenSettings | None:
        if not settings.oauth_issuer:
            return None
        if not settings.oauth_audience or not settings.oauth_jwks_url:
            raise ValueError("BRIDGE_OAUTH_AUDIENCE and BRIDGE_OAUTH_JWKS_URL are required")
        algorithms = tuple(a.strip() for a in settings.oauth_algorithms.split(",") if a.strip())
        return cls(
            settings.oauth_issuer,
            settings.oauth_audience,
            settings.oauth_jwks_url,
            settings.oauth_client_claim,
            algorithms,
        )


class BearerTokens:
    """OAuth2 client-credentials access tokens: JWTs signed by a key from the issuer's JWKS,
    with the configured issuer and audience and an expiry not passed."""

    def __init__(self, config: TokenSettings) -> None:
        self._config = config
        self._jwks = jwt.PyJWKClient(config.jwks_url, cache_keys=True, lifespan=300, timeout=5)

    async def identify(self, token: str) -> PeerIdentity:
        try:
            # PyJWKClient fetches with urllib (blocking); it caches, so this is rare.
            key = await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=list(self._config.algorithms),
                audience=self._config.audience,
                issuer=self._config.issuer,
                leeway=_LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWKClientConnectionError as error:
            log.warning("JWKS at %s unreachable: %s", self._config.jwks_url, error)
            raise CredentialRefused("the token issuer's keys cannot be fetched") from error
        except jwt.PyJWTError as error:
            raise CredentialRefused(f"invalid bearer token: {error}") from error
        for claim in (self._config.client_claim, "azp", "sub"):
            client = claims.get(claim)
            if isinstance(client, str) and client:
                return PeerIdentity("token", (client,))
        raise CredentialRefused(f"the token names no client ({self._config.client_claim})")


class HttpSenders:
    """Finds the sender of an ingestion request; ``required``: anonymous requests are refused."""

    def __init__(
        self,
        settings: Settings,
        routing: Callable[[], RoutingTable],
        certificates: PeerCertificates,
        *,
        required: bool,
    ) -> None:
        config = TokenSettings.of(settings)
        self._tokens = BearerTokens(config) if config is not None else None
        # The routing in force, read per request: a reloaded routing file (a key added for a
        # rotation, or removed to revoke it) takes effect without a restart.
        self._routing = routing
        self._certificates = certificates
        self._field = settings.tls_client_identity
        self.required = required

    async def identify(self, scope: Scope) -> PeerIdentity | None:
        cert = self._certificates.of(scope.get("client"))
        identity = certificate_identity(cert, self._field)
        if identity is not None:
            return identity
        headers = {key.decode("latin-1").lower(): value for key, value in scope["headers"]}
        authorization = headers.get("authorization", b"").decode("latin-1").strip()
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() == "bearer":
            if self._tokens is None:
                raise CredentialRefused("bearer tokens are not accepted here")
            return await self._tokens.identify(credential.strip())
        api_key = headers.get("x-api-key", b"").decode("latin-1").strip()
        if scheme.lower() == "apikey":
            api_key = credential.strip()
        if api_key:
            return self._api_key(api_key)
        if authorization:
            raise CredentialRefused(f"authorization scheme {scheme!r} is not accepted")
        return None

    def _api_key(self, key: str) -> PeerIdentity:
        presented = hash_api_key(key)  # once; each stored hash compared in constant time
        keys = self._routing().api_keys()
        matched = [e.id for e in keys if hmac.compare_digest(presented, e.hash)]
        if not matched:
            raise CredentialRefused("unknown API key")
        return PeerIdentity("api-key", (matched[0],))


class IngestionAuthentication:
    """ASGI middleware: authenticate requests to the ingestion paths, leave the rest alone."""

    def __init__(self, app: ASGIApp, senders: HttpSenders) -> None:
        self.app = app
        self.senders = senders

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in INGESTION_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            sender = await self.senders.identify(scope)
        except CredentialRefused as refused:
            await _unauthorized(scope, send, str(refused))
            return
        if sender is None and self.senders.required:
            reason = "authentication required: a client certificate, bearer token or API key"
            await _unauthorized(scope, send, reason)
            return
        scope.setdefault("state", {})["sender"] = sender
        await self.app(scope, receive, send)


def is_ingestion_route(route: BaseRoute) -> bool:
    """Routes the ops listener leaves out: ingestion and FHIR metadata."""
    path = getattr(route, "path", "")
    return path in INGESTION_PATHS or path == "/fhir/metadata"


def refused_sender(result: AcceptResult) -> bool:
    """The message was refused because its sender may not send as the source it names."""
    return result.error is not None and result.error.code == FORBIDDEN


def sender_of(state: Any) -> PeerIdentity | None:
    """The sender the middleware found (``request.state``), None for anonymous."""
    sender = getattr(state, "sender", None)
    return sender if isinstance(sender, PeerIdentity) else None


async def _unauthorized(scope: Scope, send: Send, reason: str) -> None:
    client = scope.get("client")
    peer = f"{client[0]}:{client[1]}" if client else "unknown"
    log.warning("HTTP ingestion refused for %s on %s: %s", peer, scope["path"], reason)
    if scope["path"].startswith("/fhir"):
        body = orjson.dumps(operation_outcome(reason, None, "login"))
        media = b"application/fhir+json"
    else:
        body, media = reason.encode(), b"text/plain; charset=utf-8"
    headers = [
        (b"content-type", media),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", b'Bearer realm="bridge"'),
    ]
    await send({"type": "http.response.start", "status": 401, "headers": headers})
    await send({"type": "http.response.body", "body": body})
