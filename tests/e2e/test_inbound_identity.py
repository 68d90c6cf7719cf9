"""Issue 12, inbound identity: only known systems send, each only under its own name.

The bridge runs embedded (SQLite) with every control on: MLLP/TLS demanding client
certificates, HTTPS taking a client certificate, a bearer token or an API key. The TakeCare
simulator plays the sender with the client side of each.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import Stack
from identity_support import (
    CLIENT_SECRETS,
    Identities,
    make_identities,
    routing_file,
    secured,
)
from messages import admission, control_id, synthetic_personnummer
from services import wait_until
from sqlalchemy import select

from bridge.config import Settings
from bridge.domain.sender_identity import hash_api_key
from bridge.entrypoints.routing_reload import RoutingReloader
from bridge.entrypoints.runner import running_bridge
from bridge.store.tables import AuditRow, MessageOutcomeRow, MessageRow
from support.cli_process import bridge_env, run_bridge
from support.token_issuer import TokenIssuer, new_key, token_issuer
from takecare_sim.credentials import ClientCredentials
from takecare_sim.messages import Sender
from takecare_sim.mllp import MllpClient
from takecare_sim.sender import SentNotice, send_admissions
from treserva_sim.server import RunningTreserva

FHIR_ADMISSION = Path(__file__).parent.parent / "fixtures" / "fhir" / "events" / "in-admission.json"


@pytest.fixture
def identities(tmp_path: Path) -> Identities:
    return make_identities(tmp_path)


@pytest.fixture
async def issuer() -> AsyncIterator[TokenIssuer]:
    async with token_issuer(CLIENT_SECRETS) as running:
        yield running


@pytest.fixture
async def secure_stack(
    tmp_path: Path, treserva: RunningTreserva, identities: Identities, issuer: TokenIssuer
) -> AsyncIterator[Stack]:
    base = Settings(
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        treserva_url=f"{treserva.base_url}/fhir",
        http_port=0,
        mllp_port=0,
        relay_interval_seconds=0.05,
    )
    routing = routing_file(tmp_path, identities, f"{treserva.base_url}/fhir")
    settings = secured(base, identities, routing, issuer)
    async with running_bridge(settings) as bridge:
        yield Stack(treserva, bridge, settings)


async def send(
    stack: Stack,
    credentials: ClientCredentials,
    transport: str = "mllp",
    sender: Sender | None = None,
) -> SentNotice:
    [notice] = await send_admissions(
        port=stack.bridge.mllp_port,
        count=1,
        transport=transport,  # type: ignore[arg-type]
        http_url=f"{stack.bridge.base_url}/hl7v2",
        ack_timeout_s=5,
        sender=sender,
        credentials=credentials,
    )
    return notice


async def delivered(stack: Stack, notice: SentNotice) -> None:
    async def arrived() -> bool:
        async with httpx.AsyncClient() as client:
            items = (await client.get(f"{stack.treserva.base_url}/api/inbox")).json()
        return any(item["patient_identifier"] == notice.patient_identifier for item in items)

    await wait_until(arrived, within=15, what="notice filed by Treserva")


async def audit_rows(stack: Stack, action: str) -> list[dict[str, Any]]:
    async with stack.bridge.bridge.db.session() as session:
        rows = (await session.scalars(select(AuditRow).where(AuditRow.action == action))).all()
    return [json.loads(row.detail) for row in rows]


async def outcome_rows(stack: Stack) -> list[MessageOutcomeRow]:
    async with stack.bridge.bridge.db.session() as session:
        return list((await session.scalars(select(MessageOutcomeRow))).all())


async def stored_messages(stack: Stack) -> int:
    async with stack.bridge.bridge.db.session() as session:
        return len((await session.scalars(select(MessageRow.id))).all())


# --- each method works end to end with the simulator --------------------------------------


async def test_mllp_tls_with_a_client_certificate_is_accepted_and_delivered(
    secure_stack: Stack, identities: Identities
) -> None:
    # When the TakeCare simulator sends over MLLP/TLS with TakeCare's certificate
    notice = await send(secure_stack, identities.certificate(identities.takecare))
    # Then it gets AA and Treserva files the notice
    assert notice.ack_code == "AA", notice.error
    await delivered(secure_stack, notice)


async def test_https_with_a_client_certificate_is_accepted_and_delivered(
    secure_stack: Stack, identities: Identities
) -> None:
    notice = await send(secure_stack, identities.certificate(identities.takecare), "http")
    assert notice.ack_code == "AA", notice.error
    await delivered(secure_stack, notice)


async def test_a_client_credentials_bearer_token_is_accepted_and_delivered(
    secure_stack: Stack, identities: Identities, issuer: TokenIssuer
) -> None:
    # Given the simulator holds only a client id and secret, and trusts the bridge's CA
    credentials = identities.server_only(
        token_url=issuer.token_url,
        client_id="takecare-client",
        client_secret=CLIENT_SECRETS["takecare-client"],
    )
    # When it fetches a token from the issuer and posts the admission over HTTPS
    notice = await send(secure_stack, credentials, "http")
    # Then the bridge validated the token against the issuer's JWKS and accepted it
    assert notice.ack_code == "AA", notice.error
    await delivered(secure_stack, notice)


async def test_an_api_key_is_accepted_and_delivered(
    secure_stack: Stack, identities: Identities
) -> None:
    notice = await send(
        secure_stack, identities.server_only(api_key=identities.takecare_key), "http"
    )
    assert notice.ack_code == "AA", notice.error
    await delivered(secure_stack, notice)


@pytest.mark.parametrize("method", ["api-key", "certificate", "none"])
async def test_treservas_receipts_reach_a_bridge_that_takes_only_known_senders(
    secure_stack: Stack, identities: Identities, method: str
) -> None:
    """The Treserva simulator sends too (receipts for what it files): with its API key or its
    client certificate the bridge takes them; with neither they are refused and counted."""
    link = secure_stack.treserva.bridge_link
    server_only = identities.server_only()
    if method == "api-key":
        await link.authenticate(api_key=identities.treserva_key, tls=server_only.ssl_context())
    elif method == "certificate":
        await link.authenticate(tls=identities.certificate(identities.treserva).ssl_context())
    else:
        await link.authenticate(tls=server_only.ssl_context())
    link.point_at(f"{secure_stack.bridge.base_url}/fhir")
    stats = secure_stack.treserva.reception.stats
    notice = await send(secure_stack, identities.certificate(identities.takecare))
    assert notice.ack_code == "AA", notice.error
    await delivered(secure_stack, notice)
    await wait_until(
        lambda: stats.receipts_sent + stats.receipts_failed >= 1, within=15, what="receipt"
    )
    assert (stats.receipts_sent, stats.receipts_failed) == ((0, 1) if method == "none" else (1, 0))


# --- unauthenticated or wrongly authenticated senders are refused --------------------------


async def test_mllp_tls_refuses_a_sender_without_a_client_certificate(
    secure_stack: Stack, identities: Identities, caplog: pytest.LogCaptureFixture
) -> None:
    # When a sender that trusts the bridge but has no certificate connects
    notice = await send(secure_stack, identities.server_only())
    # Then the handshake fails: no ACK, nothing stored, one warning per connection tried
    assert notice.ack_code is None
    assert notice.error is not None
    assert await stored_messages(secure_stack) == 0
    refusals = [r.getMessage() for r in caplog.records if "TLS handshake" in r.getMessage()]
    assert refusals and all("PEER_DID_NOT_RETURN_A_CERTIFICATE" in r for r in refusals)
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


async def test_mllp_tls_refuses_a_certificate_of_another_authority(
    secure_stack: Stack, identities: Identities, tmp_path: Path
) -> None:
    from support.pki import TestAuthority

    # Given a certificate with TakeCare's name from a CA the bridge does not trust
    rogue = TestAuthority(tmp_path / "..", name=f"Rogue CA {tmp_path.name}")
    forged = rogue.issue_client("takecare.gotland.test-rogue")
    credentials = ClientCredentials(
        ca_file=str(identities.ca.ca_file),
        cert_file=str(forged.cert_file),
        key_file=str(forged.key_file),
    )
    notice = await send(secure_stack, credentials)
    assert notice.ack_code is None
    assert await stored_messages(secure_stack) == 0


async def test_plain_mllp_without_tls_gets_no_ack(secure_stack: Stack) -> None:
    notice = await send(secure_stack, ClientCredentials())
    assert notice.ack_code is None
    assert await stored_messages(secure_stack) == 0


async def test_https_refuses_missing_and_wrong_credentials(
    secure_stack: Stack, identities: Identities, issuer: TokenIssuer
) -> None:
    url = f"{secure_stack.bridge.base_url}/hl7v2"
    body = (Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7").read_bytes()
    tls = ssl.create_default_context(cafile=str(identities.ca.ca_file))
    wrong = {
        "no credential": {},
        "unknown API key": {"x-api-key": "k" * 43},
        "expired token": {
            "authorization": f"Bearer {issuer.mint('takecare-client', lifetime=-120)}"
        },
        "other audience": {
            "authorization": f"Bearer {issuer.mint('takecare-client', audience='x')}"
        },
        "foreign signing key": {
            "authorization": f"Bearer {issuer.mint('takecare-client', key=new_key())}"
        },
        "other issuer": {
            "authorization": f"Bearer {issuer.mint('takecare-client', issuer='https://evil')}"
        },
        "unknown scheme": {"authorization": "Basic dGFrZWNhcmU6c2VjcmV0"},
    }
    async with httpx.AsyncClient(verify=tls) as client:
        for case, headers in wrong.items():
            response = await client.post(
                url, content=body, headers={"content-type": "application/hl7-v2", **headers}
            )
            assert response.status_code == 401, case
            assert response.headers["www-authenticate"].startswith("Bearer")
    # A token endpoint refusing a wrong secret leaves the simulator without an ACK as well
    credentials = identities.server_only(
        token_url=issuer.token_url, client_id="takecare-client", client_secret="wrong-secret"
    )
    notice = await send(secure_stack, credentials, "http")
    assert notice.ack_code is None
    assert await stored_messages(secure_stack) == 0


async def test_api_keys_rotate_by_a_routing_reload_without_a_restart(
    secure_stack: Stack, identities: Identities
) -> None:
    path = secure_stack.settings.routing_file
    assert path is not None
    old = f'{{id: takecare-1, hash: "{hash_api_key(identities.takecare_key)}"}}'
    rotated = secrets.token_urlsafe(32)
    new = f'{{id: takecare-2, hash: "{hash_api_key(rotated)}"}}'
    reloader = RoutingReloader(secure_stack.bridge.bridge)
    # Given a second key added for takecare and the routing file reloaded
    path.write_text(path.read_text().replace(old, f"{old}, {new}"), encoding="utf-8")
    await reloader.reload(actor="test")
    # Then the new key is taken at once
    notice = await send(secure_stack, identities.server_only(api_key=rotated), "http")
    assert notice.ack_code == "AA", notice.error
    # When the old key is removed and the file reloaded
    path.write_text(path.read_text().replace(f"{old}, ", ""), encoding="utf-8")
    await reloader.reload(actor="test")
    # Then the old key is refused before the message is read
    tls = ssl.create_default_context(cafile=str(identities.ca.ca_file))
    body = (Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7").read_bytes()
    async with httpx.AsyncClient(verify=tls) as client:
        response = await client.post(
            f"{secure_stack.bridge.base_url}/hl7v2",
            content=body,
            headers={"content-type": "application/hl7-v2", "x-api-key": identities.takecare_key},
        )
    assert response.status_code == 401


# --- a source sending under another source's name ------------------------------------------


async def test_a_source_sending_as_another_over_mllp_gets_ar_and_is_audited(
    secure_stack: Stack, identities: Identities
) -> None:
    # Given Treserva's certificate, but a message naming TakeCare's facility in MSH-4
    tls = identities.certificate(identities.treserva).ssl_context()
    message = admission(control_id(), synthetic_personnummer())
    async with MllpClient("127.0.0.1", secure_stack.bridge.mllp_port, timeout=5, tls=tls) as c:
        ack = await c.send(message)
    # Then the answer is AR with an ERR naming MSH-4 and the source it belongs to
    segments = {segment[:3]: segment.split("|") for segment in ack.split("\r") if segment}
    assert segments["MSA"][1] == "AR"
    assert segments["ERR"][2] == "MSH^1^4"
    assert "source 'takecare'" in segments["ERR"][8]
    # And the refusal is audited and stored for operators; the message is not accepted
    [audited] = await audit_rows(secure_stack, "sender-refused")
    assert audited["sender"] == "certificate treserva.gotland.test"
    assert audited["location"] == "MSH-4"
    [outcome] = await outcome_rows(secure_stack)
    assert (outcome.outcome, outcome.location, outcome.error_code) == ("rejected", "MSH-4", "207")
    assert await stored_messages(secure_stack) == 0
    # And operators can alert on it
    async with httpx.AsyncClient(verify=identities.server_only().ssl_context() or True) as client:
        metrics = (await client.get(f"{secure_stack.bridge.base_url}/metrics")).text
    assert 'bridge_senders_refused_total{entrypoint="mllp",source="takecare"} 1.0' in metrics
    # The simulator sending as TakeCare with Treserva's certificate reads the same AR
    notice = await send(
        secure_stack,
        identities.certificate(identities.treserva),
        sender=Sender(facility="VISBY_LAS"),
    )
    assert notice.ack_code == "AR"


async def test_a_token_client_of_another_source_gets_403_over_http(
    secure_stack: Stack, identities: Identities, issuer: TokenIssuer
) -> None:
    credentials = identities.server_only(
        token_url=issuer.token_url,
        client_id="treserva-client",
        client_secret=CLIENT_SECRETS["treserva-client"],
    )
    url = f"{secure_stack.bridge.base_url}/hl7v2"
    body = (Path(__file__).parent.parent / "fixtures" / "hl7" / "adt_a01_v25.hl7").read_bytes()
    token = issuer.mint("treserva-client")
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=identities.ca.ca_file)
    ) as client:
        response = await client.post(
            url,
            content=body,
            headers={"content-type": "application/hl7-v2", "authorization": f"Bearer {token}"},
        )
    assert response.status_code == 403
    # The golden fixture asks for enhanced mode (MSH-15 AL): the refusal is CR, not AR
    assert "\rMSA|CR|" in response.text
    [audited] = await audit_rows(secure_stack, "sender-refused")
    assert audited["sender"] == "token treserva-client"
    # The simulator, with the same client, reads the AR from the 403's body
    notice = await send(secure_stack, credentials, "http")
    assert notice.ack_code == "AR"


async def test_a_fhir_message_under_another_sources_name_gets_403_operation_outcome(
    secure_stack: Stack, identities: Identities
) -> None:
    # Given Treserva's API key and a Bundle whose MessageHeader.source names takecare
    body = FHIR_ADMISSION.read_bytes()
    async with httpx.AsyncClient(
        verify=ssl.create_default_context(cafile=identities.ca.ca_file)
    ) as client:
        response = await client.post(
            f"{secure_stack.bridge.base_url}/fhir/$process-message",
            content=body,
            headers={
                "content-type": "application/fhir+json",
                "x-api-key": identities.treserva_key,
            },
        )
    assert response.status_code == 403
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["code"] == "forbidden"
    assert issue["expression"] == ["MessageHeader.source"]
    [audited] = await audit_rows(secure_stack, "sender-refused")
    assert audited["sender"] == "api-key treserva-1"
    assert await stored_messages(secure_stack) == 0


# --- listeners -------------------------------------------------------------------------------


async def test_ingestion_and_operations_listen_apart(
    tmp_path: Path, treserva: RunningTreserva, identities: Identities, issuer: TokenIssuer
) -> None:
    base = Settings(
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        treserva_url=f"{treserva.base_url}/fhir",
        http_port=0,
        mllp_port=0,
        ops_port=0,
    )
    routing = routing_file(tmp_path, identities, f"{treserva.base_url}/fhir")
    settings = secured(base, identities, routing, issuer)
    async with (
        running_bridge(settings) as bridge,
        httpx.AsyncClient(
            verify=ssl.create_default_context(cafile=identities.ca.ca_file)
        ) as client,
    ):
        assert bridge.ops_port is not None and bridge.ops_port != bridge.http_port
        ingestion, ops = bridge.base_url, bridge.ops_url
        # Operations are not reachable through the ingestion port, nor ingestion through ops
        assert (await client.get(f"{ingestion}/ops/")).status_code == 404
        assert (await client.get(f"{ingestion}/metrics")).status_code == 404
        assert (await client.post(f"{ops}/hl7v2", content=b"MSH")).status_code in (404, 405)
        assert (await client.get(f"{ops}/metrics")).status_code == 200
        # Health and readiness answer on both
        for url in (ingestion, ops):
            assert (await client.get(f"{url}/healthz")).status_code == 200
            assert (await client.get(f"{url}/readyz")).status_code == 200
        # And ingestion still demands a credential
        refused = await client.post(f"{ingestion}/hl7v2", content=b"MSH|")
        assert refused.status_code == 401


async def test_unauthenticated_senders_pass_only_in_the_embedded_demo(
    tmp_path: Path, treserva: RunningTreserva, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        treserva_url=f"{treserva.base_url}/fhir",
        http_port=0,
        mllp_port=0,
        allow_unauthenticated_ingestion=False,
    )
    async with running_bridge(settings) as bridge:
        [notice] = await send_admissions(port=bridge.mllp_port, count=1, ack_timeout_s=5)
    assert notice.ack_code == "AA"
    warnings = [r for r in caplog.records if "unauthenticated senders" in r.getMessage()]
    assert len(warnings) == 1
    await asyncio.sleep(0)


def test_bridge_serve_in_production_without_authentication_refuses_to_start(
    tmp_path: Path,
) -> None:
    # Given production settings (a PostgreSQL URL; never reached) and no inbound authentication
    env = bridge_env(
        BRIDGE_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:1/bridge",
        BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION="false",
    )
    # When the bridge is started
    result = run_bridge(["serve"], tmp_path, env, timeout=60)
    # Then it stops with one line naming the settings that would close ingestion
    assert result.returncode == 2, result.stderr[-2000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("bridge: cannot start: ingestion would accept unauthenticated")
    for setting in ("BRIDGE_TLS_CA_FILE", "BRIDGE_OAUTH_ISSUER", "ALLOW_UNAUTHENTICATED"):
        assert setting in last
