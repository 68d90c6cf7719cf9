"""Verify the AMQP interface: the binding's own rules, then the message contracts it carries.

Over AMQP the HL7 v2 examples must get the same ACKs as over MLLP (the reply on ``reply_to``),
and each FHIR interaction's request the same kind of answer as over HTTP: a 2xx in the Pact
means a reply whose ``MessageHeader.response.code`` is ``ok``, a 4xx ``fatal-error``, a 5xx
``transient-error``.
"""

from __future__ import annotations

import json
import uuid

import orjson

from bridge.contracts.hl7_verify import example_message, verify_hl7
from bridge.contracts.loader import ContractSet, request_body
from bridge.contracts.model import AmqpBinding, AmqpCase, FhirContract, FhirInteraction
from bridge.contracts.pacts import interaction_description
from bridge.contracts.report import Check, Outcome
from bridge.contracts.transports import NoAnswer, Transport
from bridge.domain.errors import MessageRejected
from bridge.domain.fhir.outcome import parse_response

FHIR_JSON = "application/fhir+json"


async def verify_amqp(
    contracts: ContractSet, consumer: str, provider: str, transport: Transport
) -> list[Check]:
    checks: list[Check] = []
    for binding in contracts.amqp(consumer, provider):
        checks += [await _case(binding, case, contracts, transport) for case in binding.cases]
        if "hl7v2" in binding.carries:
            checks += await verify_hl7(contracts.hl7(consumer, provider), transport)
        if "fhir" in binding.carries:
            for contract in contracts.fhir(consumer, provider):
                for interaction in contract.interactions:
                    checks.append(await _fhir(contract, interaction, transport))
    return checks


def expected_response_code(status: int) -> str:
    if status < 400:
        return "ok"
    return "fatal-error" if status < 500 else "transient-error"


async def _fhir(
    contract: FhirContract, interaction: FhirInteraction, transport: Transport
) -> Check:
    name = interaction_description(contract, interaction)
    body = request_body(contract, interaction.request)
    expected = expected_response_code(interaction.response.status)
    try:
        answer = await transport.send(
            orjson.dumps(body), FHIR_JSON, message_id=f"contract-{uuid.uuid4().hex}"
        )
        code, text = parse_response(answer.body)
    except (NoAnswer, MessageRejected) as error:
        problems = [f"no readable FHIR answer on reply_to: {error}"]
    else:
        problems = [] if code == expected else [f"response code: expected {expected}, got {code}"]
        if problems and text:
            problems.append(f"the answer says: {text}")
    return _check(contract.contract, name, problems, pending=interaction.pending)


async def _case(
    binding: AmqpBinding, case: AmqpCase, contracts: ContractSet, transport: Transport
) -> Check:
    hl7 = contracts.hl7(binding.consumer, binding.provider)
    body = example_message(hl7[0], hl7[0].examples[0]).encode() if hl7 else b"MSH|^~\\&|\r"
    message_id = f"contract-{uuid.uuid4().hex}" if case.message_id == "fresh" else case.message_id
    try:
        answer = await transport.send(body, case.content_type, message_id=message_id)
    except NoAnswer as error:
        return _check(binding.contract, case.name, [f"no reply: {error}"])
    problems: list[str] = []
    expect = case.expect
    if answer.content_type != expect.content_type:
        problems.append(
            f"reply content_type: expected {expect.content_type}, got {answer.content_type!r}"
        )
    try:
        reply = json.loads(answer.body)
    except ValueError:
        reply = {}
    if expect.outcome is not None and reply.get("outcome") != expect.outcome:
        problems.append(f"reply outcome: expected {expect.outcome}, got {reply.get('outcome')!r}")
    reason = str(reply.get("reason", ""))
    if expect.reason_contains and expect.reason_contains not in reason:
        problems.append(f"reply reason: expected it to mention {expect.reason_contains!r}")
    return _check(binding.contract, case.name, problems)


def _check(contract: str, name: str, problems: list[str], *, pending: bool = False) -> Check:
    if not problems:
        return Check(contract, name, Outcome.PASSED)
    return Check(contract, name, Outcome.PENDING if pending else Outcome.FAILED, tuple(problems))
