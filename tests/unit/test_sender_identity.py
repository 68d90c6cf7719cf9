"""Inbound identity, the pure parts: binding a sender to its source, reading a certificate,
API-key hashes, the routing file's ``senders`` and the start-up rule (docs/security.md)."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.config import Settings
from bridge.domain.hl7.ack_policy import Verdict, verdict_of_rejection
from bridge.domain.model import MessageOrigin
from bridge.domain.routing import RoutingTable
from bridge.domain.sender_identity import (
    FORBIDDEN,
    PeerIdentity,
    Senders,
    api_key_matches,
    hash_api_key,
    sender_refusal,
)
from bridge.entrypoints.cli import app
from bridge.entrypoints.inbound_security import check_inbound_security, inbound_security
from bridge.entrypoints.startup import StartupError
from bridge.entrypoints.tls import certificate_identity
from bridge.routing_file import RoutingFileError, parse_routing_text

KEY = "k" * 40
ROUTING = f"""
sources:
  - name: takecare
    facilities: [VISBY_LAS]
    senders:
      certificates: [TakeCare.Gotland.test]
      clients: [takecare-client]
      api_keys: [{{id: takecare-1, hash: "{hash_api_key(KEY)}"}}]
      amqp_users: [takecare]
  - name: treserva
    facilities: [GOTLAND-SOF]
    senders: {{clients: [treserva-client]}}
destinations: [{{name: treserva, address: "http://127.0.0.1:1/fhir"}}]
routes: [{{source: takecare, events: [admission], destinations: [treserva]}}]
"""


def table(text: str = ROUTING) -> RoutingTable:
    return parse_routing_text(text, Path("routing.yaml"))


def origin(facility: str = "VISBY_LAS") -> MessageOrigin:
    return MessageOrigin(sending_application="TAKECARE", sending_facility=facility, message_id="1")


def refusal(identity: PeerIdentity | None, facility: str = "VISBY_LAS", *, hl7: bool = True):  # type: ignore[no-untyped-def]
    routing = table()
    name = routing.source_of(origin(facility))
    claimed = routing.source_by_name(name) if name else None
    return sender_refusal(identity, origin(facility), claimed, hl7=hl7)


@pytest.mark.parametrize(
    "identity",
    [
        PeerIdentity("certificate", ("other.example", "takecare.gotland.TEST")),
        PeerIdentity("token", ("takecare-client",)),
        PeerIdentity("api-key", ("takecare-1",)),
        PeerIdentity("amqp-user", ("takecare",)),
    ],
)
def test_each_kind_of_identity_may_send_as_the_source_that_lists_it(
    identity: PeerIdentity,
) -> None:
    assert refusal(identity) is None


def test_a_sender_naming_another_source_is_refused_naming_msh_3_and_4() -> None:
    refused = refusal(PeerIdentity("token", ("treserva-client",)))
    assert refused is not None
    assert (refused.location, refused.code) == ("MSH-4", FORBIDDEN)
    assert "MSH-3/MSH-4 TAKECARE/VISBY_LAS belongs to source 'takecare'" in refused.reason
    assert "token treserva-client" in refused.reason
    # HL7: not a content error but "not taken" (AR / CR)
    assert verdict_of_rejection(refused) is Verdict.UNSUPPORTED


def test_a_fhir_sender_is_refused_at_message_header_source() -> None:
    refused = refusal(PeerIdentity("api-key", ("nobody",)), hl7=False)
    assert refused is not None and refused.location == "MessageHeader.source"


def test_a_message_naming_no_known_source_is_refused_for_an_authenticated_sender() -> None:
    refused = refusal(PeerIdentity("token", ("takecare-client",)), facility="ELSEWHERE")
    assert refused is not None and "names no known source" in refused.reason


def test_kinds_do_not_mix_an_api_key_id_is_no_client_id() -> None:
    assert refusal(PeerIdentity("token", ("takecare-1",))) is not None
    assert Senders(clients=("a",)).allows(PeerIdentity("amqp-user", ("a",))) is False


def test_without_an_identity_nothing_is_checked() -> None:
    assert refusal(None, facility="ELSEWHERE") is None


CERT = {
    "subject": (
        (("countryName", "SE"),),
        (("serialNumber", "SE2321000032-TC01"),),
        (("commonName", "takecare.gotland.test"),),
    ),
    "subjectAltName": (("DNS", "takecare.region.test"), ("URI", "urn:hsa:SE2321000032-TC01")),
}


def test_a_certificate_names_its_sender_by_the_configured_field() -> None:
    assert certificate_identity(CERT, "cn") == PeerIdentity(
        "certificate", ("takecare.gotland.test",)
    )
    assert certificate_identity(CERT, "serial_number") == PeerIdentity(
        "certificate", ("SE2321000032-TC01",)
    )
    assert certificate_identity(CERT, "san") == PeerIdentity(
        "certificate", ("takecare.region.test", "urn:hsa:SE2321000032-TC01")
    )
    assert certificate_identity({"subject": ()}, "cn") is None
    assert certificate_identity(None, "cn") is None


def test_api_keys_are_stored_as_hashes_and_compared_by_hash() -> None:
    stored = hash_api_key(KEY)
    assert stored.startswith("sha256:") and KEY not in stored
    assert api_key_matches(KEY, stored)
    assert not api_key_matches(KEY + "x", stored)
    assert table().api_keys()[0].id == "takecare-1"


def test_the_routing_file_refuses_an_api_key_id_given_twice_and_a_bad_hash() -> None:
    twice = ROUTING.replace(
        "senders: {clients: [treserva-client]}",
        f'senders: {{api_keys: [{{id: takecare-1, hash: "{hash_api_key(KEY)}"}}]}}',
    )
    with pytest.raises(RoutingFileError, match="API key id 'takecare-1' is given more than once"):
        table(twice)
    with pytest.raises(RoutingFileError, match="api_keys"):
        table(ROUTING.replace(hash_api_key(KEY), "plain-text-key"))


def test_bridge_keys_hash_prints_the_routing_file_form_and_refuses_short_keys() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["keys", "hash"], input=KEY + "\n")
    assert result.exit_code == 0 and result.output.strip() == hash_api_key(KEY)
    assert runner.invoke(app, ["keys", "hash", "short"]).exit_code == 2
    made = runner.invoke(app, ["keys", "new", "takecare-2"])
    key = made.output.split("it is not stored): ", 1)[1].split()[0]
    assert hash_api_key(key) in made.output


PRODUCTION = "postgresql+psycopg://bridge@db/bridge"


def test_production_with_open_ingestion_refuses_to_start_naming_the_settings() -> None:
    settings = Settings(database_url=PRODUCTION, allow_unauthenticated_ingestion=False)
    security = inbound_security(settings, table())  # API keys close HTTP, not MLLP
    with pytest.raises(StartupError) as refused:
        check_inbound_security(settings, security)
    text = str(refused.value)
    assert "on MLLP" in text and "HTTP" not in text.split("(")[0]
    assert "BRIDGE_TLS_CERT_FILE" in text
    assert "BRIDGE_ALLOW_UNAUTHENTICATED_INGESTION" in text


def test_production_with_amqp_and_no_user_ids_names_the_setting() -> None:
    settings = Settings(
        database_url=PRODUCTION,
        broker_url="amqp://b",
        allow_unauthenticated_ingestion=False,
        oauth_issuer="https://idp",
        oauth_audience="bridge",
        oauth_jwks_url="https://idp/jwks",
    )
    with pytest.raises(StartupError, match="BRIDGE_AMQP_REQUIRE_USER_ID"):
        check_inbound_security(settings, inbound_security(settings, table()))


def test_the_explicit_opt_out_starts_with_one_loud_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(database_url=PRODUCTION, allow_unauthenticated_ingestion=True)
    with caplog.at_level(logging.WARNING):
        check_inbound_security(settings, inbound_security(settings, table()))
    [warning] = caplog.records
    assert "UNAUTHENTICATED INGESTION" in warning.getMessage()


def test_symmetric_or_no_token_algorithms_are_refused() -> None:
    settings = Settings(
        oauth_issuer="https://idp",
        oauth_audience="bridge",
        oauth_jwks_url="https://idp/jwks",
        oauth_algorithms="RS256,HS256",
    )
    with pytest.raises(StartupError, match="never none or HMAC"):
        check_inbound_security(settings, inbound_security(settings, table()))


def test_client_certificates_need_a_ca_bundle(tmp_path: Path) -> None:
    cert = tmp_path / "server.pem"
    cert.write_text("x")
    settings = Settings(tls_cert_file=cert, tls_require_client_cert=True)
    with pytest.raises(StartupError, match="BRIDGE_TLS_CA_FILE"):
        check_inbound_security(settings, inbound_security(settings, table()))


def test_http_takes_a_certificate_or_a_token_when_both_are_configured(tmp_path: Path) -> None:
    files = {name: tmp_path / name for name in ("cert.pem", "ca.pem")}
    settings = Settings(
        tls_cert_file=files["cert.pem"],
        tls_ca_file=files["ca.pem"],
        oauth_issuer="https://idp",
        oauth_audience="bridge",
        oauth_jwks_url="https://idp/jwks",
    )
    security = inbound_security(settings, table())
    assert security.mllp_client_certs
    assert security.http_client_certs is ssl.CERT_OPTIONAL
    assert security.open_transports() == []
    only_certs = inbound_security(
        settings.model_copy(update={"oauth_issuer": None}),
        table(ROUTING.replace(f'api_keys: [{{id: takecare-1, hash: "{hash_api_key(KEY)}"}}]', "")),
    )
    assert only_certs.http_client_certs is ssl.CERT_REQUIRED
