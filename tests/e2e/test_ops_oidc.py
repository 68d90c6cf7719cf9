"""Issue 12: OpenID Connect sign-in to the ops dashboard beside the local users.

A tiny provider runs in this process (discovery, authorize, token, JWKS; its RSA key made at
start). An HTTP client walks the whole redirect flow: the bridge's sign-in redirect, the
provider's authorize redirect back, the callback. Tampered id_tokens, a wrong state, a person
without a mapped role and a local user's name are each refused and audited.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bridge.config import Settings
from bridge.entrypoints.ops.security import SESSION_COOKIE
from bridge.entrypoints.runner import RunningBridge, running_bridge
from bridge.service.operations.users import Role, Users
from bridge.store.tables import AuditRow, UserRow
from support.cli_process import free_port
from support.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider, running_provider


@dataclass
class Setup:
    bridge: RunningBridge
    provider: Provider


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running_provider(f"{base}/ops/login/oidc/callback") as provider:
        settings = Settings(
            database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
            treserva_url=f"http://127.0.0.1:{free_port()}/fhir",
            http_port=port,
            mllp_port=0,
            public_base_url=base,
            oidc_issuer=provider.issuer,
            oidc_client_id=CLIENT_ID,
            oidc_client_secret=CLIENT_SECRET,  # type: ignore[arg-type]
            oidc_role_map="bridge-ops-admin=admin, bridge-ops-read=viewer",
            oidc_display_name="Region Gotland IdP",
        )
        async with running_bridge(settings) as bridge:
            yield Setup(bridge, provider)


async def through_the_provider(
    client: httpx.AsyncClient, *, next_page: str = "/ops/dead-letters", state: str | None = None
) -> httpx.Response:
    """Sign-in button → provider's authorize → back to the bridge's callback: its answer."""
    start = await client.get("/ops/login/oidc", params={"next": next_page})
    assert start.status_code == 303, start.text
    authorize = await client.get(start.headers["location"])
    assert authorize.status_code == 302, authorize.text
    callback = authorize.headers["location"]
    if state is not None:
        callback = re.sub(r"state=[^&]+", f"state={state}", callback)
    return await client.get(callback)


async def failures(setup: Setup) -> list[dict[str, Any]]:
    async with setup.bridge.bridge.db.session() as session:
        rows = await session.scalars(select(AuditRow).where(AuditRow.action == "sign_in_failed"))
        return [json.loads(row.detail) | {"actor": row.actor} for row in rows]


async def test_sign_in_through_the_identity_provider_with_pkce(setup: Setup) -> None:
    setup.provider.person = {"preferred_username": "Ylva.Ops", "roles": ["bridge-ops-read", "x"]}
    async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as client:
        # Given the sign-in page offers the provider
        page = await client.get("/ops/login")
        assert "Sign in with Region Gotland IdP" in page.text

        # When a person goes through the provider
        answer = await through_the_provider(client)

        # Then the bridge sent them with PKCE S256, state and nonce, and exchanged the code
        # with the verifier (the provider checks it against the challenge)
        [asked] = setup.provider.authorize_requests
        assert asked["code_challenge_method"] == "S256"
        assert asked["state"] and asked["nonce"] and asked["scope"] == "openid profile"
        [exchanged] = setup.provider.token_requests
        assert exchanged["code_verifier"] not in json.dumps(asked)
        # And they are signed in with the role their claim maps to, landing where they meant
        assert answer.status_code == 200
        assert 'content="0;url=/ops/dead-letters"' in answer.text
        assert client.cookies.get(SESSION_COOKIE)
        assert (await client.get("/ops/api/overview")).status_code == 200
        assert (await client.get("/ops/dead-letters")).status_code == 200
        users = await client.get("/ops/users")
        assert users.status_code == 403  # a viewer, not an admin

    user = await Users(setup.bridge.bridge.db, setup.bridge.bridge.clock).get("ylva.ops")
    assert user is not None and user.role is Role.VIEWER
    async with setup.bridge.bridge.db.session() as session:
        row = await session.scalar(select(AuditRow).where(AuditRow.action == "signed_in"))
    assert row is not None and row.actor == "ylva.ops" and json.loads(row.detail)["via"] == "oidc"


async def test_a_changed_role_claim_applies_and_ends_the_older_session(setup: Setup) -> None:
    setup.provider.person = {"preferred_username": "ylva.ops", "roles": ["bridge-ops-read"]}
    async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as first:
        assert (await through_the_provider(first)).status_code == 200
        setup.provider.person["roles"] = ["bridge-ops-admin"]
        async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as second:
            assert (await through_the_provider(second)).status_code == 200
            assert (await second.get("/ops/users")).status_code == 200
        assert (await first.get("/ops/api/overview")).status_code == 401


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"nonce": "another-nonce"}, "nonce"),
        ({"aud": "another-client"}, "audience"),
        ({"iss": "http://127.0.0.1:1/evil"}, "issuer"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"foreign_key": True}, "Signature"),
    ],
)
async def test_a_tampered_id_token_is_refused(
    setup: Setup, tamper: dict[str, Any], reason: str
) -> None:
    setup.provider.person = {"preferred_username": "ylva.ops", "roles": ["bridge-ops-admin"]}
    setup.provider.tamper = tamper
    async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as client:
        answer = await through_the_provider(client)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/ops/login?error=oidc"
        assert not client.cookies.get(SESSION_COOKIE)
        assert (await client.get("/ops/api/overview")).status_code == 401
        page = await client.get("/ops/login", params={"error": "oidc"})
        assert "Sign-in with the identity provider failed." in page.text
    [failure] = await failures(setup)
    assert failure["via"] == "oidc" and reason.lower() in failure["reason"].lower()


async def test_a_wrong_state_is_refused_before_the_code_is_used(setup: Setup) -> None:
    setup.provider.person = {"preferred_username": "ylva.ops", "roles": ["bridge-ops-admin"]}
    async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as client:
        answer = await through_the_provider(client, state="forged")
        assert answer.status_code == 303 and not client.cookies.get(SESSION_COOKIE)
    assert setup.provider.token_requests == []
    [failure] = await failures(setup)
    assert "state" in failure["reason"]


async def test_no_mapped_role_or_a_local_users_name_is_refused(setup: Setup) -> None:
    db, clock = setup.bridge.bridge.db, setup.bridge.bridge.clock
    await Users(db, clock).add("vera", "a-long-test-password", Role.VIEWER, actor="test")
    async with httpx.AsyncClient(base_url=setup.bridge.base_url, timeout=30) as client:
        setup.provider.person = {"preferred_username": "ylva.ops", "roles": ["payroll"]}
        assert (await through_the_provider(client)).status_code == 303
        setup.provider.person = {"preferred_username": "vera", "roles": ["bridge-ops-admin"]}
        assert (await through_the_provider(client)).status_code == 303
        assert not client.cookies.get(SESSION_COOKIE)
    reasons = [f["reason"] for f in await failures(setup)]
    assert reasons == ["no role claim the bridge maps", "a local user has this name"]
    async with db.session() as session:
        vera = await session.scalar(select(UserRow).where(UserRow.username == "vera"))
        assert vera is not None and vera.role == "viewer"
        assert await session.scalar(select(UserRow).where(UserRow.username == "ylva.ops")) is None
