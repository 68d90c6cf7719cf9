"""The bridge verified as the provider against its consumers' contracts, on a real bridge.

TakeCare's contracts over MLLP, HL7 v2 over HTTP and FHIR messaging (embedded mode), over AMQP
(production mode: PostgreSQL and RabbitMQ; a missing service fails when CI=true), and
Treserva's receipts and enrolments.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from contract_support import contract_set, live_bridge, production_bridge

from bridge.contracts.interfaces import INTERFACES, VerifyOptions, verify
from bridge.contracts.report import Outcome, Report


def _assert_passed(report: Report) -> None:
    assert report.ok, report.render()
    assert report.count(Outcome.FAILED) == 0


@pytest.mark.parametrize("name", ["mllp", "hl7v2-http", "fhir", "treserva-to-bridge"])
async def test_the_bridge_honours_its_consumers_contracts(name: str, tmp_path: Path) -> None:
    # Given a running bridge (embedded mode) and the contracts its consumers wrote
    contracts = contract_set()
    interface = INTERFACES[name]
    async with live_bridge(tmp_path) as live:
        url = {"mllp": live.mllp_url, "hl7v2-http": live.bridge.base_url}.get(name, live.fhir_url)
        # When the bridge is verified as the provider of this interface
        report = await verify(interface, url, contracts, VerifyOptions(timeout=10))
    # Then every interaction and example passes
    _assert_passed(report)
    assert report.count(Outcome.PASSED) >= 2


@pytest.mark.postgres
@pytest.mark.rabbitmq
async def test_the_bridge_honours_the_amqp_contract() -> None:
    # Given a production-mode bridge with its AMQP inbound exchange open
    async with production_bridge() as live:
        options = VerifyOptions(timeout=10, exchange=live.settings.inbound_exchange)
        url = live.settings.broker_url or ""
        # When the AMQP interface is verified: binding rules, HL7 v2 and FHIR over reply_to
        report = await verify(INTERFACES["amqp"], url, contract_set(), options)
    # Then all of it passes
    _assert_passed(report)
    names = " ".join(check.name for check in report.checks)
    assert "without message_id" in names
    assert "wrong check digit" in names
