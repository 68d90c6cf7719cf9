"""OpenID Connect sign-in to the ops dashboard, beside the local users.

Set ``BRIDGE_OIDC_ISSUER`` (and ``BRIDGE_OIDC_CLIENT_ID``, ``BRIDGE_OIDC_CLIENT_SECRET`` for a
confidential client) and the sign-in page offers the region's identity provider. The flow is
the authorization-code flow with PKCE (S256), ``state`` and ``nonce``:

1. ``GET /ops/login/oidc`` reads the issuer's discovery document, keeps state, nonce and the
   PKCE verifier in a short-lived signed cookie and redirects to the authorization endpoint;
2. ``GET /ops/login/oidc/callback`` checks the state, exchanges the code (with the verifier) at
   the token endpoint and validates the id_token against the issuer's JWKS: signature
   (asymmetric algorithms only), ``iss``, ``aud`` (and ``azp``), ``exp``/``iat`` and ``nonce``.

The user name is the ``BRIDGE_OIDC_USERNAME_CLAIM`` (default ``preferred_username``), the role
the highest of the ``BRIDGE_OIDC_ROLE_CLAIM`` values (default ``roles``) mapped by
``BRIDGE_OIDC_ROLE_MAP`` (``value=role,...``); a person with no mapped value is refused. The
first sign-in adds the user (no password: it cannot sign in locally); a later one with a
changed role updates it and ends their other sessions. A local user of the same name is never
taken over. Disabling the user in the bridge stops their sign-in here too.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

import httpx
import jwt
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import delete, select

from bridge.config import Settings
from bridge.entrypoints.ops.security import SESSION_COOKIE, SignedIn, safe_next
from bridge.entrypoints.ops.sign_in_limits import audit_refusal, client_address
from bridge.entrypoints.startup import StartupError
from bridge.service.operations import audit
from bridge.service.operations.users import Role
from bridge.store.tables import OpsSessionRow, UserRow

if TYPE_CHECKING:
    from bridge.entrypoints.ops.context import Ops

log = logging.getLogger(__name__)

STATE_COOKIE = "bridge_ops_oidc"
CALLBACK_PATH = "/ops/login/oidc/callback"
PASSWORD_MARK = "oidc:"  # noqa: S105 - marks a user without a password, not a password
_ASYMMETRIC = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
_STATE_SECONDS = 600


class OidcError(Exception):
    """The identity provider's answer cannot sign anyone in; the message says why."""


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: str
    username_claim: str
    role_claim: str
    role_map: dict[str, Role]
    display_name: str
    redirect_uri: str

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """None when no issuer is set; a StartupError naming a setting that cannot work."""
        if not settings.oidc_issuer:
            return None
        issuer = settings.oidc_issuer.rstrip("/")
        parts = urlsplit(issuer)
        loopback = parts.hostname in {"127.0.0.1", "localhost", "::1"}
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise StartupError("BRIDGE_OIDC_ISSUER must be an https URL")
        if not settings.oidc_client_id:
            raise StartupError("BRIDGE_OIDC_CLIENT_ID is needed with BRIDGE_OIDC_ISSUER")
        role_map: dict[str, Role] = {}
        for pair in filter(None, (p.strip() for p in settings.oidc_role_map.split(","))):
            value, _, role = pair.rpartition("=")
            try:
                role_map[value.strip()] = Role.parse(role)
            except ValueError as error:
                raise StartupError(f"BRIDGE_OIDC_ROLE_MAP: {pair!r}: {error}") from None
        if not role_map:
            raise StartupError("BRIDGE_OIDC_ROLE_MAP is needed with BRIDGE_OIDC_ISSUER")
        secret = settings.oidc_client_secret
        return cls(
            issuer=issuer,
            client_id=settings.oidc_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            scopes=settings.oidc_scopes,
            username_claim=settings.oidc_username_claim,
            role_claim=settings.oidc_role_claim,
            role_map=role_map,
            display_name=settings.oidc_display_name,
            redirect_uri=settings.public_base_url.rstrip("/") + CALLBACK_PATH,
        )

    def role_of(self, claims: dict[str, Any]) -> Role | None:
        values = claims.get(self.role_claim)
        if isinstance(values, str):
            values = values.split()
        if not isinstance(values, list):
            return None
        roles = [self.role_map[v] for v in values if isinstance(v, str) and v in self.role_map]
        return max(roles) if roles else None


class OidcClient:
    """Discovery, JWKS and the code exchange against one issuer (documents cached)."""

    def __init__(self, config: OidcConfig, timeout: float = 10.0) -> None:
        self.config = config
        self._timeout = timeout
        self._discovery: dict[str, Any] | None = None
        self._jwks: jwt.PyJWKSet | None = None

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            url = f"{self.config.issuer}/.well-known/openid-configuration"
            document = await self._get(url)
            if str(document.get("issuer", "")).rstrip("/") != self.config.issuer:
                raise OidcError("the discovery document names another issuer")
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(field), str):
                    raise OidcError(f"the discovery document has no {field}")
            self._discovery = document
        return self._discovery

    async def authorization_url(self, state: str, nonce: str, verifier: str) -> str:
        document = await self.discovery()
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.config.client_id,
                "redirect_uri": self.config.redirect_uri,
                "scope": self.config.scopes,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge.decode().rstrip("="),
                "code_challenge_method": "S256",
            }
        )
        endpoint = document["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(self, code: str, verifier: str, nonce: str) -> dict[str, Any]:
        """The validated claims of the id_token the code is exchanged for."""
        document = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.config.redirect_uri,
            "client_id": self.config.client_id,
            "code_verifier": verifier,
        }
        secret = self.config.client_secret
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                if secret:  # client_secret_basic
                    auth = httpx.BasicAuth(self.config.client_id, secret)
                    answer = await client.post(document["token_endpoint"], data=form, auth=auth)
                else:  # a public client: PKCE alone
                    answer = await client.post(document["token_endpoint"], data=form)
        except httpx.HTTPError as error:
            raise OidcError(f"token endpoint unreachable: {type(error).__name__}") from None
        if answer.status_code != 200:
            raise OidcError(f"token endpoint answered {answer.status_code}")
        try:
            id_token = answer.json()["id_token"]
        except (ValueError, KeyError, TypeError):
            raise OidcError("the token response has no id_token") from None
        return await self.validate(str(id_token), nonce)

    async def validate(self, id_token: str, nonce: str) -> dict[str, Any]:
        document = await self.discovery()
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise OidcError("the id_token is not a JWT") from None
        algorithm = str(header.get("alg", ""))
        offered = set(document.get("id_token_signing_alg_values_supported") or ["RS256"])
        if algorithm not in _ASYMMETRIC & offered:
            raise OidcError(f"id_token algorithm {algorithm!r} is not accepted")
        key = await self._key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[algorithm],
                audience=self.config.client_id,
                issuer=document["issuer"],
                leeway=60,
                options={"require": ["iss", "aud", "exp", "iat", "sub"]},
            )
        except jwt.PyJWTError as error:
            raise OidcError(f"id_token rejected: {error}") from None
        if not isinstance(claims.get("nonce"), str) or not secrets.compare_digest(
            claims["nonce"], nonce
        ):
            raise OidcError("id_token nonce does not match")
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.config.client_id:
            raise OidcError("id_token azp is not this client")
        return claims

    async def _key(self, kid: object) -> jwt.PyJWK:
        for refresh in (False, True):
            if self._jwks is None or refresh:
                document = await self.discovery()
                try:
                    self._jwks = jwt.PyJWKSet.from_dict(await self._get(document["jwks_uri"]))
                except jwt.PyJWTError as error:
                    raise OidcError(f"the JWKS cannot be read: {error}") from None
            keys = [k for k in self._jwks.keys if kid is None or k.key_id == kid]
            if len(keys) == 1 or (keys and kid is not None):
                return keys[0]
        raise OidcError("no key of the issuer's JWKS signed the id_token")

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                answer = await client.get(url)
            answer.raise_for_status()
            document = answer.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcError(f"{url} cannot be read: {type(error).__name__}") from None
        if not isinstance(document, dict):
            raise OidcError(f"{url} is not a JSON object")
        return document


def oidc_router(ops: Ops) -> APIRouter:
    """``/ops/login/oidc`` and its callback (nothing when no issuer is configured)."""
    router = APIRouter(include_in_schema=False)
    client: OidcClient | None = ops.oidc
    if client is None:
        return router

    async def refuse(request: Request, reason: str, name: str = "") -> Response:
        await audit_refusal(
            ops.bridge.db,
            ops.bridge.clock,
            "sign_in_failed",
            name,
            client_address(request),
            "oidc",
            reason=reason,
        )
        response = RedirectResponse("/ops/login?" + urlencode({"error": "oidc"}), status_code=303)
        response.delete_cookie(STATE_COOKIE, path="/ops/login/oidc")
        return response

    @router.get("/login/oidc")
    async def start(request: Request, next: str = "/ops/") -> Response:
        state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
        try:
            target = await client.authorization_url(state, nonce, verifier)
        except OidcError as problem:
            log.warning("ops sign-in with OIDC unavailable: %s", problem)
            return await refuse(request, str(problem))
        payload = json.dumps(
            {
                "state": state,
                "nonce": nonce,
                "verifier": verifier,
                "next": safe_next(next),
                "until": int(time.time()) + _STATE_SECONDS,
            }
        )
        encoded = base64.urlsafe_b64encode(payload.encode()).decode()
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            STATE_COOKIE,
            f"{encoded}.{ops.keys.sign('oidc|' + encoded)}",
            max_age=_STATE_SECONDS,
            path="/ops/login/oidc",
            httponly=True,
            samesite="lax",  # the provider's redirect back is a cross-site navigation
            secure=ops.secure_cookies,
        )
        return response

    @router.get("/login/oidc/callback")
    async def callback(
        request: Request, state: str = "", code: str = "", error: str = ""
    ) -> Response:
        saved = _read_state(ops, request.cookies.get(STATE_COOKIE))
        if saved is None or not state or not secrets.compare_digest(saved["state"], state):
            return await refuse(request, "state missing or wrong")
        if error or not code:
            return await refuse(request, f"provider answered {error[:64] or 'without a code'}")
        try:
            claims = await client.exchange(code, saved["verifier"], saved["nonce"])
        except OidcError as problem:
            return await refuse(request, str(problem))
        name = str(claims.get(client.config.username_claim, "")).strip().lower()
        role = client.config.role_of(claims)
        if not _USERNAME.match(name):
            return await refuse(request, "no usable user name claim")
        if role is None:
            return await refuse(request, "no role claim the bridge maps", name)
        refused = await _provision(ops, name, role, client.config.issuer)
        if refused:
            return await refuse(request, refused, name)
        user = await ops.users.get(name)
        if user is None:  # removed between the two reads
            return await refuse(request, "user removed", name)
        cookie, session = await ops.keys.issue(name, via="oidc")
        who = SignedIn(user, session, await ops.keys.csrf_token(session))
        await ops.record(who, "signed_in", via="oidc", address=client_address(request))
        # A page, not a redirect: the SameSite=Strict session cookie is sent only on a
        # navigation that starts on this site, and this one started at the provider.
        target = html.escape(str(saved["next"]), quote=True)
        response = HTMLResponse(
            f'<!doctype html><meta http-equiv="refresh" content="0;url={target}">'
            f'<title>Signed in</title><p>Signed in. <a href="{target}">Continue</a></p>',
            headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"},
        )
        response.set_cookie(
            SESSION_COOKIE,
            cookie,
            max_age=ops.keys.lifetime,
            path="/ops",
            httponly=True,
            samesite="strict",
            secure=ops.secure_cookies,
        )
        response.delete_cookie(STATE_COOKIE, path="/ops/login/oidc")
        return response

    return router


def _read_state(ops: Ops, cookie: str | None) -> dict[str, Any] | None:
    if not cookie or "." not in cookie:
        return None
    encoded, signature = cookie.rsplit(".", 1)
    if not ops.keys.signed_by_any("oidc|" + encoded, signature):
        return None
    try:
        saved: dict[str, Any] = json.loads(base64.urlsafe_b64decode(encoded))
    except ValueError:
        return None
    if int(saved.get("until", 0)) < time.time():
        return None
    return saved


async def _provision(ops: Ops, name: str, role: Role, issuer: str) -> str | None:
    """Add or update the provider's user; the reason when they may not sign in."""
    now = ops.bridge.clock.now()
    async with ops.bridge.db.session() as session, session.begin():
        row = await session.scalar(select(UserRow).where(UserRow.username == name))
        if row is None:
            session.add(
                UserRow(
                    username=name,
                    password_hash=(PASSWORD_MARK + issuer)[:255],
                    role=role.label,
                    disabled=False,
                    created_at=now,
                    updated_at=now,
                )
            )
            audit.record(
                session, at=now, action="user_added", actor="oidc", user=name, role=role.label
            )
            return None
        if not row.password_hash.startswith(PASSWORD_MARK):
            return "a local user has this name"
        if row.disabled:
            return "user disabled"
        if row.role != role.label:
            row.role = role.label
            row.updated_at = now
            await session.execute(delete(OpsSessionRow).where(OpsSessionRow.username == name))
            audit.record(
                session,
                at=now,
                action="user_role_changed",
                actor="oidc",
                user=name,
                role=role.label,
            )
    return None
