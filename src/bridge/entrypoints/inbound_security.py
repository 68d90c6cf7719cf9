"""Which ingestion transports authenticate their senders, and whether the bridge may start so.

Outside the embedded demo (a SQLite database) every ingestion transport must authenticate its
peer: MLLP by client certificate, HTTP by client certificate, bearer token or API key, AMQP by
the ``user_id`` RabbitMQ vouches for. A production bridge with an open transport refuses to
start, naming the settings that close it, unless ``BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION`` is
set; then, and in the demo, one warning says so.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass

from bridge.config import Settings
from bridge.domain.routing import RoutingTable
from bridge.entrypoints.startup import StartupError

log = logging.getLogger(__name__)

_HOW = {
    "MLLP": "BRIDGE_TLS_CERT_FILE, BRIDGE_TLS_KEY_FILE and BRIDGE_TLS_CA_FILE (client "
    "certificates)",
    "HTTP": "the same TLS settings, or BRIDGE_OAUTH_ISSUER (bearer tokens), or API keys in the "
    "routing file's sources[].senders.api_keys",
    "AMQP": "BRIDGE_AMQP_REQUIRE_USER_ID=true with per-source RabbitMQ users",
}


@dataclass(frozen=True)
class InboundSecurity:
    """What each ingestion transport demands of its senders."""

    mllp_tls: bool
    mllp_client_certs: bool
    http_tls: bool
    http_client_certs: ssl.VerifyMode
    http_tokens: bool
    http_api_keys: bool
    amqp_user_ids: bool
    amqp_active: bool

    @property
    def http_authenticated(self) -> bool:
        return self.http_client_certs is ssl.CERT_REQUIRED or self.http_tokens or self.http_api_keys

    def open_transports(self) -> list[str]:
        open_ = []
        if not self.mllp_client_certs:
            open_.append("MLLP")
        if not self.http_authenticated:
            open_.append("HTTP")
        if self.amqp_active and not self.amqp_user_ids:
            open_.append("AMQP")
        return open_


def inbound_security(settings: Settings, routing: RoutingTable) -> InboundSecurity:
    tls = settings.tls_cert_file is not None
    mllp_tls = tls and settings.mllp_tls
    http_tls = tls and settings.http_tls
    tokens = bool(settings.oauth_issuer)
    api_keys = bool(routing.api_keys())
    certs = settings.tls_require_client_cert and settings.tls_ca_file is not None
    if not http_tls or not certs:
        http_certs = ssl.CERT_NONE
    elif tokens or api_keys:
        http_certs = ssl.CERT_OPTIONAL  # a certificate, or else a token or key
    else:
        http_certs = ssl.CERT_REQUIRED
    return InboundSecurity(
        mllp_tls=mllp_tls,
        mllp_client_certs=mllp_tls and certs,
        http_tls=http_tls,
        http_client_certs=http_certs,
        http_tokens=tokens,
        http_api_keys=api_keys,
        amqp_user_ids=settings.amqp_require_user_id,
        amqp_active=bool(settings.broker_url and settings.amqp_inbound),
    )


def embedded(settings: Settings) -> bool:
    return settings.database_url.startswith("sqlite")


def check_inbound_security(settings: Settings, security: InboundSecurity) -> None:
    """Raise :class:`StartupError` for settings that cannot work or leave production open;
    warn once where ingestion stays open."""
    _check_consistent(settings)
    open_ = security.open_transports()
    if not open_:
        return
    names = ", ".join(open_)
    if embedded(settings):
        log.warning(
            "ingestion accepts unauthenticated senders on %s: embedded demo only; "
            "production settings must authenticate every sender (docs/security.md)",
            names,
        )
        return
    if settings.allow_unauthenticated_ingestion:
        log.warning(
            "UNAUTHENTICATED INGESTION on %s: anyone who reaches the port can send as any "
            "source, because BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION is set",
            names,
        )
        return
    how = "; ".join(f"{transport}: set {_HOW[transport]}" for transport in open_)
    raise StartupError(
        f"ingestion would accept unauthenticated senders on {names} ({how}); or set "
        "BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION=true to accept the risk (docs/security.md)"
    )


def _check_consistent(settings: Settings) -> None:
    if settings.oauth_issuer and not (settings.oauth_audience and settings.oauth_jwks_url):
        raise StartupError(
            "BRIDGE_OAUTH_ISSUER needs BRIDGE_OAUTH_AUDIENCE and BRIDGE_OAUTH_JWKS_URL"
        )
    algorithms = [a.strip() for a in settings.oauth_algorithms.split(",") if a.strip()]
    if not algorithms or any(a.lower() == "none" or a.upper().startswith("HS") for a in algorithms):
        raise StartupError(
            "BRIDGE_OAUTH_ALGORITHMS must list public-key algorithms (RS256, PS256, ES256 …); "
            "never none or HMAC"
        )
    if settings.tls_cert_file is None:
        if settings.tls_ca_file is not None or settings.tls_key_file is not None:
            raise StartupError("BRIDGE_TLS_CA_FILE/BRIDGE_TLS_KEY_FILE need BRIDGE_TLS_CERT_FILE")
        return
    for variable, path in (
        ("BRIDGE_TLS_CERT_FILE", settings.tls_cert_file),
        ("BRIDGE_TLS_KEY_FILE", settings.tls_key_file),
        ("BRIDGE_TLS_CA_FILE", settings.tls_ca_file),
    ):
        if path is not None and not path.is_file():
            raise StartupError(f"{variable}: no such file {path}")
    if settings.tls_require_client_cert and settings.tls_ca_file is None:
        raise StartupError(
            "BRIDGE_TLS_REQUIRE_CLIENT_CERT needs BRIDGE_TLS_CA_FILE (the CA bundle client "
            "certificates must chain to); or set BRIDGE_TLS_REQUIRE_CLIENT_CERT=false"
        )
