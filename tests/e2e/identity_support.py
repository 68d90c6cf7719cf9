"""Fixtures of the inbound-identity tests: a test CA with certificates for the bridge and two
sending systems, a token issuer, API keys, and a routing file binding each identity to its
source (docs/security.md)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from bridge.config import Settings
from bridge.domain.sender_identity import hash_api_key
from support.pki import Issued, TestAuthority
from support.token_issuer import AUDIENCE, TokenIssuer
from takecare_sim.credentials import ClientCredentials

TAKECARE_CN = "takecare.gotland.test"
TRESERVA_CN = "treserva.gotland.test"
CLIENT_SECRETS = {"takecare-client": "tc-secret-" + "x" * 16, "treserva-client": "ts-" + "y" * 20}


@dataclass(frozen=True)
class Identities:
    ca: TestAuthority
    server: Issued
    takecare: Issued
    treserva: Issued
    takecare_key: str
    treserva_key: str

    def certificate(self, issued: Issued) -> ClientCredentials:
        return ClientCredentials(
            ca_file=str(self.ca.ca_file),
            cert_file=str(issued.cert_file),
            key_file=str(issued.key_file),
        )

    def server_only(self, **more: str) -> ClientCredentials:
        """TLS trusting the bridge, no client certificate (tokens, keys, or nothing)."""
        return ClientCredentials(ca_file=str(self.ca.ca_file), **more)  # type: ignore[arg-type]


def make_identities(directory: Path) -> Identities:
    ca = TestAuthority(directory)
    return Identities(
        ca,
        ca.issue_server(),
        ca.issue_client(TAKECARE_CN, serial_number="SE2321000032-TC01"),
        ca.issue_client(TRESERVA_CN, serial_number="SE2321000032-TS01"),
        secrets.token_urlsafe(32),
        secrets.token_urlsafe(32),
    )


def routing_file(
    directory: Path,
    identities: Identities,
    treserva_url: str,
    amqp_users: tuple[str, str] = ("tc-unused", "ts-unused"),
) -> Path:
    """Two sources: takecare (VISBY_LAS, the simulator's MSH-4) and treserva (GOTLAND-SOF)."""
    text = f"""
sources:
  - name: takecare
    facilities: [VISBY_LAS, SE2120000803, takecare]
    senders:
      certificates: [{TAKECARE_CN}]
      clients: [takecare-client]
      api_keys: [{{id: takecare-1, hash: "{hash_api_key(identities.takecare_key)}"}}]
      amqp_users: [{amqp_users[0]}]
  - name: treserva
    facilities: [GOTLAND-SOF]
    senders:
      certificates: [{TRESERVA_CN}]
      clients: [treserva-client]
      api_keys: [{{id: treserva-1, hash: "{hash_api_key(identities.treserva_key)}"}}]
      amqp_users: [{amqp_users[1]}]
destinations:
  - name: treserva
    address: {treserva_url}
routes:
  - source: takecare
    events: [admission, discharge, patient-demographics-changed]
    demographics: all
    destinations: [treserva]
"""
    path = directory / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def secured(
    settings: Settings, identities: Identities, routing: Path, issuer: TokenIssuer
) -> Settings:
    """``settings`` with every inbound control on: mTLS, bearer tokens, API keys."""
    return settings.model_copy(
        update={
            "routing_file": routing,
            "tls_cert_file": identities.server.cert_file,
            "tls_key_file": identities.server.key_file,
            "tls_ca_file": identities.ca.ca_file,
            "tls_require_client_cert": True,
            "oauth_issuer": issuer.issuer,
            "oauth_audience": AUDIENCE,
            "oauth_jwks_url": issuer.jwks_url,
            "allow_unauthenticated_ingestion": False,
        }
    )
