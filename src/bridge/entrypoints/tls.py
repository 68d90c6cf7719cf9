"""TLS on the ingestion listeners, and the sender named by a client certificate.

SITHS and EFOS system certificates are ordinary X.509: which part names the sending system is a
setting (``BRIDGE_TLS_CLIENT_IDENTITY``): the subject's CN, the subject's serialNumber (where
SITHS puts the HSA-id) or any subjectAltName entry. Only a certificate that chained to
``BRIDGE_TLS_CA_FILE`` during the handshake is read; the handshake refuses any other.

uvicorn does not hand the peer's certificate to the application, so :func:`http_protocol`
makes a protocol class that notes each TLS connection's certificate under its client address,
where :class:`PeerCertificates` finds it for the request.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, Literal

from uvicorn.protocols.http.h11_impl import H11Protocol

from bridge.config import Settings
from bridge.domain.sender_identity import PeerIdentity

IdentityField = Literal["cn", "serial_number", "san"]
PeerCert = dict[str, Any]


def server_context(settings: Settings, *, client_certs: ssl.VerifyMode) -> ssl.SSLContext:
    """A TLS 1.2+ server context with the configured certificate; ``client_certs`` says whether
    a client certificate is demanded (CERT_REQUIRED), welcome (CERT_OPTIONAL) or ignored."""
    if settings.tls_cert_file is None:
        raise ValueError("BRIDGE_TLS_CERT_FILE is not set")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file)
    if client_certs is not ssl.CERT_NONE:
        if settings.tls_ca_file is None:
            raise ValueError("BRIDGE_TLS_CA_FILE is not set")
        context.load_verify_locations(cafile=settings.tls_ca_file)
    context.verify_mode = client_certs
    return context


def certificate_identity(cert: PeerCert | None, field: IdentityField) -> PeerIdentity | None:
    """The sender a verified peer certificate names (``ssl.SSLSocket.getpeercert()`` form)."""
    if not cert:
        return None
    if field == "san":
        names = tuple(str(value) for _, value in cert.get("subjectAltName", ()))
    else:
        wanted = "commonName" if field == "cn" else "serialNumber"
        names = tuple(
            str(value) for rdn in cert.get("subject", ()) for key, value in rdn if key == wanted
        )
    return PeerIdentity("certificate", names) if names else None


def transport_certificate(transport: asyncio.BaseTransport) -> PeerCert | None:
    ssl_object = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    cert: PeerCert | None = ssl_object.getpeercert()
    return cert


class PeerCertificates:
    """Verified client certificates of the open HTTP connections, by client address."""

    def __init__(self) -> None:
        self._by_client: dict[tuple[str, int], PeerCert] = {}

    def opened(self, client: tuple[str, int] | None, cert: PeerCert | None) -> None:
        if client is not None and cert:
            self._by_client[client] = cert

    def closed(self, client: tuple[str, int] | None) -> None:
        if client is not None:
            self._by_client.pop(client, None)

    def of(self, client: tuple[str, int] | None) -> PeerCert | None:
        return self._by_client.get(client) if client is not None else None


def http_protocol(
    certificates: PeerCertificates, base: type[H11Protocol] = H11Protocol
) -> type[H11Protocol]:
    """``base`` (uvicorn's h11 protocol by default), noting each connection's client
    certificate in ``certificates``."""

    class CertificateNotingProtocol(base):  # type: ignore[valid-type,misc]
        def connection_made(self, transport: asyncio.Transport) -> None:
            super().connection_made(transport)
            certificates.opened(self.client, transport_certificate(transport))

        def connection_lost(self, exc: Exception | None) -> None:
            certificates.closed(self.client)
            super().connection_lost(exc)

    return CertificateNotingProtocol
