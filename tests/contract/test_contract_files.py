"""The contract files themselves: they load, the generated files are current, they agree with
the bridge's vocabulary, and an HL7 message is held against its contract's required fields."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from contract_support import CONTRACTS, contract_set

from bridge.contracts.er7_edit import edit_message, field_value
from bridge.contracts.examples import example_files
from bridge.contracts.hl7_verify import example_message
from bridge.contracts.loader import ContractError, load_contract
from bridge.contracts.model import FhirContract, Hl7Contract
from bridge.contracts.pacts import pact_files
from bridge.domain.model import EventCode

V1 = CONTRACTS / "v1"


def test_every_contract_file_loads_and_names_its_direction() -> None:
    # Given the contracts directory
    # When every file is loaded
    found = contract_set()
    # Then each lives under <consumer>-<provider>/ and says so
    assert len(found.contracts) >= 6
    for contract in found.contracts:
        assert contract.path is not None
        assert contract.path.parent.parent.name == f"{contract.consumer}-{contract.provider}"
        assert contract.contract.startswith(f"{contract.consumer}-{contract.provider}/")


def test_the_generated_pacts_and_examples_are_current() -> None:
    # Given the Pact files and bridge examples as generated from the contracts and the encoder
    messages = example_files(V1 / "messages")
    pacts = pact_files(contract_set())
    # Then the committed files are identical (run `python scripts/generate_contracts.py`)
    for name, text in messages.items():
        committed = (V1 / "messages" / name).read_text(encoding="utf-8")
        assert committed == text, f"messages/{name} is stale: run scripts/generate_contracts.py"
    for name, text in pacts.items():
        committed = (V1 / "pacts" / name).read_text(encoding="utf-8")
        assert committed == text, f"pacts/{name} is stale: run scripts/generate_contracts.py"
    assert {"takecare-bridge.json", "bridge-treserva.json", "treserva-bridge.json"} <= set(pacts)


def test_every_pact_is_a_v4_pact_with_the_contract_version() -> None:
    for path in (V1 / "pacts").glob("*.json"):
        pact = json.loads(path.read_text(encoding="utf-8"))
        assert pact["metadata"]["pactSpecification"]["version"] == "4.0"
        assert pact["metadata"]["bridge"]["contractVersion"] == "1.0.0"
        assert pact["interactions"], path.name


def test_every_contract_names_an_event_the_bridge_knows() -> None:
    known = {code.value for code in EventCode}
    for contract in contract_set().contracts:
        if isinstance(contract, Hl7Contract | FhirContract):
            assert contract.event in known, f"{contract.contract}: unknown event {contract.event}"


def test_every_hl7_example_builds_a_message_with_its_edits() -> None:
    for contract in contract_set().contracts:
        if not isinstance(contract, Hl7Contract):
            continue
        for example in contract.examples:
            text = example_message(contract, example)
            for position, value in example.set.items():
                assert field_value(text, position) == value, f"{example.name}: {position}"
            for segment in example.remove:
                assert f"\r{segment}|" not in text


def test_an_edit_sets_a_field_in_msh_counting_as_hl7_does() -> None:
    # Given a message
    text = "MSH|^~\\&|A|B|C|D|20240301||ADT^A01|X1|P|2.5\rPID|1||191212121212\r"
    # When MSH-10 and PID-3 are set and PV1 added nowhere
    edited = edit_message(text, {"MSH-10": "Y2", "PID-3": "N^^^&OID&ISO^NNSWE", "MSH-9-2": "A03"})
    # Then the fields are where HL7 counts them
    assert field_value(edited, "MSH-10") == "Y2"
    assert field_value(edited, "MSH-9") == "ADT^A03"
    assert field_value(edited, "PID-3-5") == "NNSWE"


def test_a_broken_contract_file_is_named_with_the_problem(tmp_path: Path) -> None:
    # Given a contract file with an ACK code that does not exist
    broken = tmp_path / "takecare-bridge" / "hl7v2" / "broken.yaml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "kind: hl7v2-examples\ncontract: x\nconsumer: takecare\nprovider: bridge\n"
        "event: admission\ntrigger: ADT^A01\ndescription: d\nmessage: m.hl7\nexamples:\n"
        "  - name: n\n    expect: {ack: OK}\n",
        encoding="utf-8",
    )
    # When it is loaded
    with pytest.raises(ContractError) as error:
        load_contract(broken)
    # Then the error names the file and the field
    assert "broken.yaml" in str(error.value)
    assert "expect.ack" in str(error.value)
