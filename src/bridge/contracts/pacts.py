"""The FHIR contracts as Pact V4 files: built with pact-python, one file per consumer–provider.

The contract files (``fhir-pact``) hold each interaction's request and response with bodies in
Pact's integration JSON (``{"pact:matcher:type": "type", "value": …}`` and friends), so the
matching rules are Pact's own. :func:`pact_files` turns them into Pact files; the committed ones
in ``contracts/v1/pacts/`` are what any Pact tool (``pact_verifier_cli``, a Pact Broker) can
verify, and a test fails when they are stale (``python scripts/generate_contracts.py``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pact import Pact

from bridge.contracts.json_edit import wrap_values
from bridge.contracts.loader import ContractSet, request_body
from bridge.contracts.model import CONTRACT_VERSION, FhirContract, FhirInteraction

SPECIFICATION = "V4"
os.environ.setdefault("PACT_DO_NOT_TRACK", "true")


def interaction_description(contract: FhirContract, interaction: FhirInteraction) -> str:
    """Unique within a Pact: the event, then the interaction's own words."""
    return f"{contract.event}: {interaction.description}"


def contract_of_descriptions(contracts: list[FhirContract]) -> dict[str, str]:
    """Interaction description → the contract file it comes from (for the report)."""
    return {
        interaction_description(contract, interaction): contract.contract
        for contract in contracts
        for interaction in contract.interactions
    }


def build_pact(contracts: list[FhirContract], consumer: str, provider: str) -> Pact:
    """A pact-python Pact holding every interaction of ``contracts`` for this pair."""
    pact = Pact(consumer, provider).with_specification(SPECIFICATION)
    pact.with_metadata("bridge", {"contractVersion": CONTRACT_VERSION})
    for contract in contracts:
        if (contract.consumer, contract.provider) != (consumer, provider):
            continue
        for interaction in contract.interactions:
            _add(pact, contract, interaction)
    return pact


def _add(pact: Pact, contract: FhirContract, interaction: FhirInteraction) -> None:
    request, response = interaction.request, interaction.response
    http = pact.upon_receiving(interaction_description(contract, interaction))
    http.with_request(request.method, request.path)
    for name, value in request.headers.items():
        http.with_header(name, value, "Request")
    body = request_body(contract, request)
    if body is not None:
        if request.match == "type":
            body = wrap_values(body, request.exact, _equal)
            body = {"pact:matcher:type": "type", "value": body}
        http.with_body(json.dumps(body), _content_type(request.headers), "Request")
    http.will_respond_with(response.status)
    for name, value in response.headers.items():
        http.with_header(name, value, "Response")
    if response.body is not None:
        http.with_body(json.dumps(response.body), _content_type(response.headers), "Response")
    if interaction.pending:
        http.set_pending(pending=True)


def _equal(value: Any) -> dict[str, Any]:
    return {"pact:matcher:type": "equality", "value": value}


def _content_type(headers: dict[str, str]) -> str:
    for name, value in headers.items():
        if name.lower() == "content-type":
            return value
    return "application/fhir+json"


def pact_file_name(consumer: str, provider: str) -> str:
    return f"{consumer}-{provider}.json"


def pact_files(contract_set: ContractSet) -> dict[str, str]:
    """File name → normalised Pact JSON text, for every pair that has FHIR contracts."""
    files: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bridge-pacts-") as scratch:
        for consumer, provider in contract_set.pairs():
            pact = build_pact(contract_set.fhir(consumer, provider), consumer, provider)
            pact.write_file(scratch, overwrite=True)
            name = pact_file_name(consumer, provider)
            files[name] = normalise(json.loads((Path(scratch) / name).read_text("utf-8")))
    return files


def normalise(pact: dict[str, Any]) -> str:
    """Stable text: without the Pact library's own version stamp, keys sorted."""
    metadata = pact.get("metadata", {})
    metadata.pop("pactRust", None)
    return json.dumps(pact, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
