"""The bridge as the consumer of Treserva: its real encoder and HTTP connector against Pact's
mock server, which checks every request against the bridge → Treserva contract."""

from __future__ import annotations

from contract_support import CONTRACTS, contract_set
from pact import Pact

from bridge.connectors.http import HttpConnector
from bridge.connectors.port import OutboundMessage, Outcome
from bridge.contracts.examples import NOTICES, notice_body
from bridge.contracts.pacts import build_pact
from bridge.domain.routing import Destination

MESSAGES = CONTRACTS / "v1" / "messages"
FHIR_JSON = "application/fhir+json"


def provider_pact(provider: str = "treserva") -> Pact:
    return build_pact(contract_set().fhir("bridge", provider), "bridge", provider)


def treserva_pact() -> Pact:
    return provider_pact("treserva")


async def deliver(url: str, body: bytes, key: str, destination: str = "treserva") -> Outcome:
    connector = HttpConnector(timeout=5)
    try:
        message = OutboundMessage(
            Destination(name=destination, address=url), FHIR_JSON, body.decode(), key, "contract"
        )
        return (await connector.send(message)).outcome
    finally:
        await connector.close()


async def test_the_bridge_sends_the_admission_notice_the_contract_describes() -> None:
    # Given Pact's mock Treserva, answering as the contract says
    source, delivery_id, key, _ = NOTICES["bridge-admission-notice.json"]
    body = notice_body(MESSAGES, source, delivery_id, key)
    pact = treserva_pact()
    with pact.serve() as mock:  # raises on exit if a request did not match or was missing
        # When the bridge delivers the notice, and again as a retry with the same key
        first = await deliver(str(mock.url), body, key)
        repeat = await deliver(str(mock.url), body, key)
    # Then the requests matched and the bridge read both answers as delivered
    assert (first, repeat) == (Outcome.DELIVERED, Outcome.DELIVERED)
    assert mock.matched


async def test_the_bridge_notice_for_another_patient_still_matches_by_type() -> None:
    # Given the contract matches the notice by type, with the event code fixed
    source, delivery_id, key, _ = NOTICES["bridge-admission-notice.json"]
    text = (MESSAGES / source).read_bytes().decode()
    other = MESSAGES.parent / "other.hl7"
    try:
        other.write_bytes(text.replace("191212121212", "194209179938").encode())
        body = notice_body(MESSAGES.parent, "other.hl7", delivery_id, key)
    finally:
        other.unlink()
    pact = treserva_pact()
    with pact.serve() as mock:
        # When the bridge sends a notice about another (synthetic) person
        outcomes = [await deliver(str(mock.url), body, key) for _ in range(2)]
    # Then it still honours the contract
    assert outcomes == [Outcome.DELIVERED, Outcome.DELIVERED]


async def test_the_bridge_sends_the_home_care_enrolment_takecare_s_contract_describes() -> None:
    # Given Pact's mock TakeCare, answering as the bridge → TakeCare contract says
    source, delivery_id, key, destination = NOTICES["bridge-homecare-enrolment.json"]
    body = notice_body(MESSAGES, source, delivery_id, key, destination)
    with provider_pact("takecare").serve() as mock:
        # When the bridge delivers Treserva's enrolment, and repeats it
        outcomes = [await deliver(str(mock.url), body, key, destination) for _ in range(2)]
    # Then both requests matched and both answers read as delivered
    assert outcomes == [Outcome.DELIVERED, Outcome.DELIVERED]
