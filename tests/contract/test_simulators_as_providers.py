"""The simulators verified against the bridge's consumer contracts, as a real TakeCare or
Treserva would be; and `bridge contract verify` as an outside developer runs it (must-show 2)."""

from __future__ import annotations

import httpx
import pytest
from contract_support import bridge_cli, contract_set

from bridge.contracts.check import check_message
from bridge.contracts.interfaces import INTERFACES, VerifyOptions, verify
from bridge.contracts.model import Hl7Contract
from bridge.contracts.report import Outcome
from takecare_sim.messages import Sender, build_admission
from takecare_sim.patients import AdmissionGenerator
from takecare_sim.receiver import receiving
from treserva_sim.server import RunningTreserva, running


async def set_faults(treserva: RunningTreserva, **faults: object) -> None:
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{treserva.base_url}/api/faults", json=faults)
        response.raise_for_status()


async def test_the_treserva_simulator_honours_the_bridge_s_contract() -> None:
    # Given the Treserva simulator and the contract the bridge wrote as its consumer
    async with running(port=0) as treserva:
        # When the simulator is verified as the provider
        report = await verify(
            INTERFACES["treserva"], f"{treserva.base_url}/fhir", contract_set(), VerifyOptions()
        )
    # Then every interaction passes
    assert report.ok, report.render()


async def test_the_takecare_simulator_receiving_side_honours_the_bridge_s_contract() -> None:
    # Given the TakeCare simulator's receiving side (what the bridge sends back to TakeCare)
    async with receiving() as takecare:
        # When it is verified as the provider of the bridge → TakeCare contract
        report = await verify(
            INTERFACES["takecare"], takecare.fhir_base, contract_set(), VerifyOptions()
        )
    # Then every interaction passes
    assert report.ok, report.render()


@pytest.mark.parametrize("version", ["2.3", "2.5", "2.8"])
def test_the_takecare_simulator_sends_what_the_bridge_s_contract_requires(version: str) -> None:
    # Given admissions made by the TakeCare simulator (the message provider)
    contracts = [c for c in contract_set().contracts if isinstance(c, Hl7Contract)]
    admissions = AdmissionGenerator(seed=7)
    sender = Sender(version=version)
    for number in range(20):
        message = build_admission(next(admissions), f"SIM{number:05d}", sender=sender)
        # When each is checked against the contracts with the bridge's own decoder
        [result] = check_message(message.encode(), contracts)
        # Then the bridge accepts it, and it carries every field the contract requires
        assert result.accepted, result.verdict
        assert result.missing == (), result.missing


async def test_contract_verify_passes_against_the_simulator_and_fails_in_fault_mode() -> None:
    async with running(port=0) as treserva:
        url = f"{treserva.base_url}/fhir"
        # Given the simulator working normally
        # When a developer runs `bridge contract verify --interface treserva`
        healthy = await bridge_cli("contract", "verify", "--interface", "treserva", "--url", url)
        # Then it passes, and says so
        assert healthy.code == 0, healthy.out + healthy.err
        assert "RESULT: PASSED" in healthy.out
        assert healthy.out.count("PASS  admission:") == 2

        # Given the simulator told to fail every request
        await set_faults(treserva, error_rate=1.0)
        failing = await bridge_cli("contract", "verify", "--interface", "treserva", "--url", url)
        # Then verification fails with a report naming the interaction and what went wrong
        assert failing.code == 1
        assert "RESULT: FAILED" in failing.out
        assert "FAIL  admission: an admission notice is filed and answered ok" in failing.out
        assert "HTTP status: expected 200 but was 500" in failing.out
        assert "body $.resourceType: Expected 'OperationOutcome'" in failing.out

        # Given the simulator in an outage
        await set_faults(treserva, error_rate=0.0, outage=True)
        outage = await bridge_cli("contract", "verify", "-i", "treserva", "--url", url)
        # Then it fails too, naming the 503
        assert outage.code == 1
        assert "expected 200 but was 503" in outage.out


async def test_verify_against_nothing_listening_fails_with_a_reason() -> None:
    # Given no provider at the address
    # When the MLLP contract is verified there
    report = await verify(
        INTERFACES["mllp"], "mllp://127.0.0.1:9", contract_set(), VerifyOptions(timeout=2)
    )
    # Then every example fails, each saying there was no answer
    assert not report.ok
    assert report.count(Outcome.PASSED) == 0
    assert report.count(Outcome.FAILED) > 0
    assert all("no answer" in check.problems[0] for check in report.checks)
