"""Small pieces the MLLP and AMQP entrypoints use to name their senders (docs/security.md)."""

from __future__ import annotations

import ssl

from bridge.config import Settings
from bridge.domain.errors import MessageRejected
from bridge.domain.sender_identity import FORBIDDEN, PeerIdentity
from bridge.entrypoints.inbound_security import InboundSecurity
from bridge.entrypoints.tls import IdentityField, server_context
from bridge.service.delivery.accept import AcceptResult, AcceptStatus


def mllp_tls_context(settings: Settings, security: InboundSecurity) -> ssl.SSLContext | None:
    if not security.mllp_tls:
        return None
    demand = ssl.CERT_REQUIRED if security.mllp_client_certs else ssl.CERT_NONE
    return server_context(settings, client_certs=demand)


def unnamed_certificate(field: IdentityField) -> AcceptResult:
    """A verified client certificate without the part that names the sender: refused (AR)."""
    reason = f"the client certificate has no {field} naming the sending system"
    return AcceptResult(AcceptStatus.REJECTED, error=MessageRejected(reason, "MSH-4", FORBIDDEN))


def amqp_sender(user_id: str | None) -> PeerIdentity | None:
    """The AMQP user RabbitMQ vouches for; None when the message carries no user_id (refused
    before it gets here when user ids are required)."""
    return PeerIdentity("amqp-user", (user_id,)) if user_id else None
