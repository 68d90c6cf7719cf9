"""The published interface documents: OpenAPI generated from the app and never stale, AsyncAPI
consistent with the AMQP entrypoint it describes."""

from __future__ import annotations

from pathlib import Path

import yaml
from contract_support import REPO

from bridge.config import Settings
from bridge.contracts.api_documents import OPENAPI_FILE, openapi_text
from bridge.entrypoints.amqp import CONTENT_TYPES

DOCS = REPO / "docs"


def test_the_openapi_document_is_current(tmp_path: Path) -> None:
    # Given the OpenAPI document the bridge's app produces now
    generated = openapi_text(tmp_path)
    # Then docs/openapi.json is identical (run `python scripts/generate_contracts.py`)
    committed = (DOCS / OPENAPI_FILE).read_text(encoding="utf-8")
    assert committed == generated, "docs/openapi.json is stale: run scripts/generate_contracts.py"


def test_the_openapi_document_has_the_firm_interfaces() -> None:
    import json

    paths = json.loads((DOCS / OPENAPI_FILE).read_text(encoding="utf-8"))["paths"]
    for path in ("/hl7v2", "/fhir/$process-message", "/fhir/metadata", "/healthz", "/readyz"):
        assert path in paths, path


def test_the_asyncapi_document_describes_the_amqp_entrypoint() -> None:
    # Given the AsyncAPI document
    document = yaml.safe_load((DOCS / "asyncapi.yaml").read_text(encoding="utf-8"))
    settings = Settings()
    # Then it is AsyncAPI 3, names the default exchange, and the content types the bridge reads
    assert document["asyncapi"].startswith("3.")
    assert document["channels"]["inbound"]["address"] == settings.inbound_exchange
    properties = document["components"]["schemas"]["AmqpProperties"]
    assert set(properties["properties"]["content_type"]["enum"]) == set(CONTENT_TYPES)
    assert "message_id" in properties["required"]
    refusal = document["components"]["messages"]["Refusal"]["payload"]["properties"]
    assert "message_id is required" in refusal["reason"]["examples"]
