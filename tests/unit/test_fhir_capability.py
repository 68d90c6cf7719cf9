"""The CapabilityStatement at GET /fhir/metadata."""

from __future__ import annotations

from bridge.domain.fhir import codes
from bridge.domain.fhir.capability import capability_statement
from bridge.domain.fhir.validate import validate_resource
from bridge.domain.model import EventCode


def test_capability_statement_is_valid_r4_for_fhir_4_0_1() -> None:
    # Given the bridge at a base URL
    # When its CapabilityStatement is built
    statement = capability_statement("https://bridge.example/")
    # Then it is a valid R4 instance statement in JSON
    assert validate_resource(statement) == []
    assert statement["fhirVersion"] == "4.0.1"
    assert statement["kind"] == "instance"
    assert "json" in statement["format"]
    assert statement["implementation"]["url"] == "https://bridge.example/fhir"


def test_messaging_lists_every_event_and_the_process_message_endpoint() -> None:
    # Given the statement
    (messaging,) = capability_statement("http://127.0.0.1:8080")["messaging"]
    # When its messaging part is read
    received = {
        message["definition"]
        for message in messaging["supportedMessage"]
        if message["mode"] == "receiver"
    }
    # Then every event is supported and the endpoint is $process-message
    assert received == {codes.message_definition_url(code) for code in EventCode}
    assert messaging["endpoint"][0]["address"] == "http://127.0.0.1:8080/fhir/$process-message"
