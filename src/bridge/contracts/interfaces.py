"""The interfaces a contract can be verified on, and :func:`verify` to run one.

Name → which contracts (consumer, provider), which format (HL7 v2 examples or a Pact file) and
which transport. The provider under test is whatever listens at the URL: the bridge, a
simulator, or a real TakeCare or Treserva test server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import httpx

from bridge.contracts.amqp_verify import verify_amqp
from bridge.contracts.hl7_verify import verify_hl7
from bridge.contracts.loader import ContractSet
from bridge.contracts.pact_verify import verify_pact
from bridge.contracts.pacts import contract_of_descriptions, pact_file_name
from bridge.contracts.report import Report
from bridge.contracts.transports import AmqpTransport, HttpTransport, MllpTransport, NoAnswer

Kind = Literal["mllp", "hl7v2-http", "amqp", "pact"]


@dataclass(frozen=True)
class Interface:
    name: str
    title: str
    kind: Kind
    consumer: str
    provider: str
    default_url: str


INTERFACES: dict[str, Interface] = {
    i.name: i
    for i in (
        Interface(
            "mllp",
            "TakeCare → bridge, HL7 v2 over MLLP (bridge as provider)",
            "mllp",
            "takecare",
            "bridge",
            "mllp://127.0.0.1:2575",
        ),
        Interface(
            "hl7v2-http",
            "TakeCare → bridge, HL7 v2 over HTTP POST /hl7v2 (bridge as provider)",
            "hl7v2-http",
            "takecare",
            "bridge",
            "http://127.0.0.1:8080",
        ),
        Interface(
            "fhir",
            "TakeCare → bridge, FHIR messaging $process-message (bridge as provider)",
            "pact",
            "takecare",
            "bridge",
            "http://127.0.0.1:8080/fhir",
        ),
        Interface(
            "amqp",
            "TakeCare → bridge, AMQP exchange bridge.inbound with reply_to (bridge as provider)",
            "amqp",
            "takecare",
            "bridge",
            "amqp://guest:guest@127.0.0.1:5672/",
        ),
        Interface(
            "treserva",
            "bridge → Treserva, FHIR messaging (Treserva as provider)",
            "pact",
            "bridge",
            "treserva",
            "http://127.0.0.1:8081/fhir",
        ),
        Interface(
            "takecare",
            "bridge → TakeCare, FHIR messaging (TakeCare as provider)",
            "pact",
            "bridge",
            "takecare",
            "http://127.0.0.1:8082/fhir",
        ),
        Interface(
            "treserva-to-bridge",
            "Treserva → bridge, receipts and home-care enrolment (bridge as provider)",
            "pact",
            "treserva",
            "bridge",
            "http://127.0.0.1:8080/fhir",
        ),
    )
}


@dataclass(frozen=True)
class VerifyOptions:
    timeout: float = 10.0
    exchange: str = "bridge.inbound"


async def verify(
    interface: Interface, url: str, contracts: ContractSet, options: VerifyOptions
) -> Report:
    """Run every contract of ``interface`` against the provider at ``url``."""
    report = Report(interface.name, interface.title, url)
    try:
        if interface.kind == "pact":
            await _pact(interface, url, contracts, options, report)
        elif interface.kind == "amqp":
            amqp = AmqpTransport(url, options.exchange, options.timeout)
            report.checks += await verify_amqp(
                contracts, interface.consumer, interface.provider, amqp
            )
        else:
            async with _hl7_transport(interface.kind, url, options) as transport:
                hl7 = contracts.hl7(interface.consumer, interface.provider)
                report.checks += await verify_hl7(hl7, transport)
    except NoAnswer as error:
        report.errors.append(str(error))
    return report


async def _pact(
    interface: Interface, url: str, contracts: ContractSet, options: VerifyOptions, report: Report
) -> None:
    pact_file = contracts.pacts_dir / pact_file_name(interface.consumer, interface.provider)
    if not pact_file.exists():
        report.errors.append(f"no Pact file {pact_file.name} in {contracts.pacts_dir}")
        return
    described = contract_of_descriptions(contracts.fhir(interface.consumer, interface.provider))
    checks, errors = await verify_pact(
        interface.provider, url, pact_file, described, options.timeout
    )
    report.checks += checks
    report.errors += errors


@contextlib.asynccontextmanager
async def _hl7_transport(
    kind: Kind, url: str, options: VerifyOptions
) -> AsyncIterator[MllpTransport | HttpTransport]:
    if kind == "mllp":
        yield MllpTransport(url, options.timeout)
        return
    async with httpx.AsyncClient(timeout=options.timeout) as client:
        yield HttpTransport(url.rstrip("/") + "/hl7v2", client)
