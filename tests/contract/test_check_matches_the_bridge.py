"""`bridge contract check FILE` gives the answer the bridge itself gives (must-show 3).

A valid admission and three different invalid ones go to a live bridge over MLLP; the same
bytes go to `bridge contract check`. The ACKs must agree in everything but the ACK's own
timestamp (MSH-7) and control id (MSH-10). FHIR likewise: status and OperationOutcome.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from contract_support import CONTRACTS, bridge_cli, live_bridge

from bridge.connectors.mllp_client import MllpClient
from bridge.contracts.er7_edit import edit_message
from bridge.contracts.json_edit import apply_edits

BASE = (CONTRACTS / "v1" / "messages" / "adt_a01.hl7").read_bytes().decode()
BUNDLE = json.loads((CONTRACTS / "v1" / "messages" / "admission-bundle.json").read_bytes())

HL7_CASES = {
    "valid": ({"MSH-10": "CHK0001"}, ()),
    "wrong check digit": (
        {"MSH-10": "CHK0002", "PID-3": "191212121213^^^&1.2.752.129.2.1.3.1&ISO^NNSWE"},
        (),
    ),
    "no PID segment": ({"MSH-10": "CHK0003"}, ("PID",)),
    "unsupported version": ({"MSH-10": "CHK0004", "MSH-12": "2.9"}, ()),
}


def comparable(ack: str) -> list[list[str]]:
    """The ACK's segments as fields, without MSH-7 (time) and MSH-10 (the ACK's own id)."""
    segments = [line.split("|") for line in ack.replace("\n", "\r").split("\r") if line]
    msh = segments[0]
    msh[6] = msh[9] = "<varies>"
    return segments


async def test_check_gives_the_bridge_s_own_hl7_answers(tmp_path: Path) -> None:
    async with live_bridge(tmp_path) as live:
        for case, (values, remove) in HL7_CASES.items():
            # Given an admission message in a file
            message = edit_message(BASE, values, remove)
            path = tmp_path / f"{case.replace(' ', '-')}.hl7"
            path.write_bytes(message.encode())
            # When it is sent to the live bridge, and checked with the CLI
            async with MllpClient("127.0.0.1", live.bridge.mllp_port, timeout=10) as client:
                live_ack = (await client.send(message)).decode()
            checked = await bridge_cli("contract", "check", str(path), "--json")
            [verdict] = json.loads(checked.out)
            # Then the CLI's answer is the bridge's answer, field for field
            assert comparable(verdict["answer"]) == comparable(live_ack), case
            accepted = case == "valid"
            assert verdict["accepted"] is accepted, case
            assert checked.code == (0 if accepted else 1), case


@pytest.mark.parametrize(
    ("case", "edits"),
    [
        ("valid", {}),
        ("wrong check digit", {"entry[1].resource.identifier[0].value": "191212121213"}),
        ("unknown event code", {"entry[0].resource.eventCoding.code": "admision"}),
        ("not a message", {"type": "collection"}),
    ],
)
async def test_check_gives_the_bridge_s_own_fhir_answers(
    case: str, edits: dict[str, str], tmp_path: Path
) -> None:
    # Given a FHIR message in a file
    body = json.dumps(apply_edits(BUNDLE, edits, ())).encode()
    path = tmp_path / "message.json"
    path.write_bytes(body)
    async with live_bridge(tmp_path) as live:
        # When it is posted to the live bridge, and checked with the CLI
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"{live.fhir_url}/$process-message",
                content=body,
                headers={"Content-Type": "application/fhir+json"},
            )
        checked = await bridge_cli("contract", "check", str(path), "--json")
    [verdict] = json.loads(checked.out)
    answer = json.loads(verdict["answer"])
    # Then the status and the answer agree (a response Bundle's own ids and time aside)
    assert verdict["status"] == response.status_code, case
    if response.status_code == 200:
        header, live_header = (
            answer["entry"][0]["resource"],
            response.json()["entry"][0]["resource"],
        )
        assert header["response"] == live_header["response"]
        assert header["eventCoding"] == live_header["eventCoding"]
    else:
        assert answer == response.json(), case


async def test_check_explains_a_rejection_in_words(tmp_path: Path) -> None:
    # Given a message with a wrong check digit
    path = tmp_path / "wrong.hl7"
    wrong = "191212121213^^^&1.2.752.129.2.1.3.1&ISO^NNSWE"
    path.write_bytes(edit_message(BASE, {"PID-3": wrong}).encode())
    # When a developer checks it without --json
    result = await bridge_cli("contract", "check", str(path))
    # Then the verdict names the field and the reason, and the ACK follows
    assert result.code == 1
    assert "REJECTED at PID-3: personnummer check digit is wrong" in result.out
    assert "MSA|AE|CONTRACT-0001" in result.out
    assert "ERR||PID^1^3|102^Data type error^HL70357" in result.out


async def test_check_warns_about_fields_the_contract_requires(tmp_path: Path) -> None:
    # Given an admission without the estimated discharge date (PV2-9)
    path = tmp_path / "no-pv2-9.hl7"
    path.write_bytes(edit_message(BASE, {"PV2-9": ""}).encode())
    # When it is checked
    result = await bridge_cli("contract", "check", str(path))
    # Then the bridge would accept it, and the contract's requirement is named
    assert result.code == 0
    assert "ACCEPTED (admission)" in result.out
    assert "warning: the contract needs PV2-9 (estimated discharge date" in result.out
